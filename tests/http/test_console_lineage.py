"""A snapshot's lineage DAG in headless Chromium: a graph written with its lineage (artifacts,
producers, edges) through the Python client, drawn with both kinds of node; clicking an artifact
node opens its partitions, paged by keyset (ListSnapshotPartitions) to the end of 10k."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

import artimeta
from artimeta.v1 import connection_pb2 as cpb
from artimeta.v1 import connection_pb2_grpc, graph_pb2
from tests.conftest import unique_name
from tests.http.conftest import Console
from tests.http.test_console_arti import PAGE, PARTITIONS, partition

pytest.importorskip("playwright.async_api")

INPUT = graph_pb2.LINEAGE_EDGE_KIND_INPUT
OUTPUT = graph_pb2.LINEAGE_EDGE_KIND_OUTPUT
NAME = "orders-report"
GRAPH, SNAPSHOT = 501, 601


def lineage() -> graph_pb2.GraphLineage:
    """orders, customers -> join -> joined -> aggregate -> summary; summary, customers -> render -> report."""
    artifacts = {
        "orders": "Collection(element=Struct(id=Int64, amount=Float64))",
        "customers": "Collection(element=Struct(id=Int64, name=String))",
        "joined": "Collection(element=Struct(id=Int64, amount=Float64, name=String))",
        "summary": "Struct(total=Float64)",
        "report": "String()",
    }
    producers = [("1", "join", "2.1.0"), ("2", "aggregate", "1.0.0"), ("3", "render", "0.3.0")]
    edges = [
        (INPUT, "orders", "1", "orders"),
        (INPUT, "customers", "1", "customers"),
        (OUTPUT, "joined", "1", ""),
        (INPUT, "joined", "2", "rows"),
        (OUTPUT, "summary", "2", ""),
        (INPUT, "summary", "3", "summary"),
        (INPUT, "customers", "3", "customers"),
        (OUTPUT, "report", "3", ""),
    ]
    return graph_pb2.GraphLineage(
        artifacts=[
            graph_pb2.LineageArtifact(
                key=k,
                artifact_class="pipeline.artifacts:Table",
                type=t,
                format="Parquet()",
                storage="GCSFile()",
                stored_by_value=k == "report",  # e.g. defined in a notebook cell
            )
            for k, t in artifacts.items()
        ],
        producers=[
            graph_pb2.LineageProducer(
                key=k, name=n, qualname=f"pipeline.producers:{n}", version=v, stored_by_value=n == "render"
            )
            for k, n, v in producers
        ],
        edges=[graph_pb2.LineageEdge(kind=k, artifact_key=a, producer_key=p, input_name=i) for k, a, p, i in edges],
    )


@pytest.fixture(scope="module")
async def lineage_data(hclient: artimeta.AsyncClient) -> AsyncIterator[str]:
    ns = unique_name("lineage")
    await hclient.create_namespace(ns)
    stub = hclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    await hclient.call(
        stub.WriteGraph,
        cpb.WriteGraphRequest(
            namespace=ns,
            graph=graph_pb2.Graph(name=NAME, fingerprint=GRAPH, document=b"g", document_format="application/x-test"),
            lineage=lineage(),
        ),
    )
    await hclient.call(
        stub.WriteSnapshot,
        cpb.WriteSnapshotRequest(
            namespace=ns,
            snapshot=graph_pb2.GraphSnapshot(
                name=NAME, fingerprint=SNAPSHOT, id=7, graph_fingerprint=GRAPH, document=b"s"
            ),
        ),
    )
    for start in range(0, PARTITIONS, 2500):
        await hclient.call(
            stub.WriteSnapshotPartitions,
            cpb.WriteSnapshotPartitionsRequest(
                namespace=ns,
                name=NAME,
                snapshot_fingerprint=SNAPSHOT,
                artifact_key="orders",
                partitions=[partition(i) for i in range(start, start + 2500)],
            ),
        )
    yield ns
    await hclient.delete_namespace(ns, allow_missing=True)


@pytest.fixture
async def console(browser: Any, base_url: str) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    c = Console(await context.new_page(), base_url)
    yield c
    await context.close()
    assert not c.foreign, c.foreign
    assert not c.problems, c.problems


async def test_snapshot_dag_then_an_artifacts_partitions_to_the_end(console: Console, lineage_data: str) -> None:
    ns = lineage_data
    await console.open(f"/console/ns/{ns}/graphs/{NAME}/snapshots/{SNAPSHOT}")
    assert await console.settled() == "ready"
    dag = console.page.locator("[data-testid=lineage-dag]")
    await dag.locator("canvas").first.wait_for()
    counts = [await dag.get_attribute(a) for a in ("data-nodes", "data-edges", "data-artifacts", "data-producers")]
    assert counts == ["8", "8", "5", "3"]
    drawn = console.page.locator("[data-testid=dag-index] li")
    assert await drawn.count() == 8
    kinds = sorted([str(await li.get_attribute("data-kind")) for li in await drawn.all()])
    assert kinds == ["artifact"] * 5 + ["producer"] * 3
    # Every node is laid out inside the visible canvas.
    assert {await li.get_attribute("data-inside") for li in await drawn.all()} == {"yes"}
    # The artifacts table says who produced what; raw inputs have no producer.
    rows = await console.page.locator("[data-testid=artifacts] tbody tr").all()
    produced = {(await r.locator("td").nth(0).inner_text()): await r.locator("td").nth(5).inner_text() for r in rows}
    assert produced == {
        "orders": "(raw)",
        "customers": "(raw)",
        "joined": "join",
        "summary": "aggregate",
        "report": "render (by value)",
    }
    # Classes stored by value (not importable references) are marked: the report's class and producer.
    marked = console.page.locator("[data-testid=artifacts] [data-testid=by-value]")
    assert await marked.count() == 2
    report = console.page.locator("[data-testid=artifacts] tbody tr", has_text="report")
    assert "(by value)" in await report.locator("td").nth(1).inner_text()
    await dag.scroll_into_view_if_needed()
    await console.shot("lineage-dag")

    # Click the "orders" node on the canvas itself.
    node = console.page.locator("[data-testid=dag-index] li[data-id='a:orders']")
    x, y = float(await node.get_attribute("data-x") or 0), float(await node.get_attribute("data-y") or 0)
    box = await dag.bounding_box()
    assert box is not None
    started = time.perf_counter()
    await console.page.mouse.click(box["x"] + x, box["y"] + y)
    await console.page.wait_for_url("**/artifacts/orders")
    assert await console.settled() == "ready"
    first_page_ms = (time.perf_counter() - started) * 1000
    table = console.page.locator("[data-testid=partitions] tbody tr")
    assert await table.count() == PAGE
    first = await table.first.locator("td").all_inner_texts()
    assert first[0] == "1" and "shard=" in first[1] and first[2] == "arti.storage.local:LocalFilePartition"
    assert first[3].lstrip("-").isdigit() and first[4].lstrip("-").isdigit()  # both fingerprints shown

    keys: list[str] = await table.locator("td:nth-child(2)").all_inner_texts()
    pages = 1
    while await console.page.locator("[data-testid=next-page]").count():
        await console.page.locator("[data-testid=next-page]").click()
        assert await console.settled() == "ready"
        keys += await table.locator("td:nth-child(2)").all_inner_texts()
        pages += 1
    assert (len(keys), len(set(keys)), pages) == (PARTITIONS, PARTITIONS, PARTITIONS // PAGE)
    assert await table.last.locator("td").first.inner_text() == str(PARTITIONS)
    assert await console.page.locator("[data-testid=partition-range]").get_attribute("data-last") == "yes"
    # Back to the first page in one step.
    await console.page.locator("[data-testid=first-page]").click()
    assert await console.settled() == "ready"
    assert await table.first.locator("td").first.inner_text() == "1"
    print(f"first page of {PARTITIONS} partitions {first_page_ms:.0f} ms after the click on the DAG")


async def test_a_lineage_too_large_to_draw_is_listed(
    console: Console, hclient: artimeta.AsyncClient, lineage_data: str
) -> None:
    ns = lineage_data
    big = graph_pb2.GraphLineage(
        artifacts=[graph_pb2.LineageArtifact(key=f"part-{i:04d}") for i in range(600)],
        producers=[graph_pb2.LineageProducer(key="p", name="split")],
        edges=[
            graph_pb2.LineageEdge(kind=OUTPUT, artifact_key=f"part-{i:04d}", producer_key="p", output_position=i)
            for i in range(600)
        ],
    )
    stub = hclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    await hclient.call(
        stub.WriteGraph,
        cpb.WriteGraphRequest(namespace=ns, graph=graph_pb2.Graph(name="wide", fingerprint=1), lineage=big),
    )
    await hclient.call(
        stub.WriteSnapshot,
        cpb.WriteSnapshotRequest(
            namespace=ns, snapshot=graph_pb2.GraphSnapshot(name="wide", fingerprint=2, graph_fingerprint=1)
        ),
    )
    await console.open(f"/console/ns/{ns}/graphs/wide/snapshots/2")
    assert await console.settled() == "ready"
    assert await console.page.locator("[data-testid=dag-too-large]").get_attribute("data-nodes") == "601"
    assert await console.page.locator("[data-testid=lineage-dag]").count() == 0
    assert await console.page.locator("[data-testid=artifacts] tbody tr").count() == 600
    # The table's links still lead to each artifact's partitions.
    await console.page.get_by_role("link", name="part-0599").click()
    assert await console.settled() == "ready"
    assert console.page.url.endswith("/artifacts/part-0599")
    await console.page.locator("[data-testid=empty]").wait_for()
