"""The console's arti views in headless Chromium, over data written through the Python client: the
lineage DAG's nodes and edges, snapshots, tag history order, and 10k partitions paged to the end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

import artimeta
from artimeta.v1 import connection_pb2 as cpb
from artimeta.v1 import connection_pb2_grpc, graph_pb2, partition_pb2
from tests.conftest import unique_name
from tests.http.conftest import Console

pytest.importorskip("playwright.async_api")

PARTITIONS = 10_000
PAGE = 200  # the console's partition page (console/src/views/lineage.ts)


def partition(i: int) -> partition_pb2.StoragePartition:
    keys = partition_pb2.CompositeKey(
        keys={
            "day": partition_pb2.PartitionKey(
                date_key=partition_pb2.CalendarDate(year=2026, month=1 + i % 12, day=1 + i % 28)
            ),
            "shard": partition_pb2.PartitionKey(int64_key=i),
        }
    )
    return partition_pb2.StoragePartition(
        keys=keys,
        input_fingerprint=i * 7,
        content_fingerprint=-i,
        type="arti.storage.local:LocalFilePartition",
        fields=json.dumps({"path": f"/data/{i}.parquet"}, sort_keys=True, separators=(",", ":")).encode(),
    )


@pytest.fixture(scope="module")
async def arti_data(hclient: artimeta.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    """A graph with two versions, three snapshots, two tags (one moved twice), 10k partitions."""
    ns = unique_name("arti")
    await hclient.create_namespace(ns)
    stub = hclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    name = "sales-pipeline"
    for gfp in (101, 102):
        await hclient.call(
            stub.WriteGraph,
            cpb.WriteGraphRequest(
                namespace=ns,
                graph=graph_pb2.Graph(name=name, fingerprint=gfp, document=b"g", document_format="application/x-test"),
            ),
        )
    snaps = [(1001, 101), (1002, 101), (1003, 102)]
    for sfp, gfp in snaps:
        await hclient.call(
            stub.WriteSnapshot,
            cpb.WriteSnapshotRequest(
                namespace=ns,
                snapshot=graph_pb2.GraphSnapshot(
                    name=name, fingerprint=sfp, id=sfp + 5, graph_fingerprint=gfp, document=b"s"
                ),
            ),
        )
    # "prod" is created at 1001, moved to 1002, then to 1003; "dev" stays at 1003.
    await hclient.call(
        stub.WriteSnapshotTag,
        cpb.WriteSnapshotTagRequest(namespace=ns, name=name, tag="prod", snapshot_fingerprint=1001, actor="alice"),
    )
    await hclient.call(
        stub.WriteSnapshotTag,
        cpb.WriteSnapshotTagRequest(
            namespace=ns, name=name, tag="prod", snapshot_fingerprint=1002, overwrite=True, actor="bob"
        ),
    )
    await hclient.call(
        stub.WriteSnapshotTag,
        cpb.WriteSnapshotTagRequest(
            namespace=ns, name=name, tag="prod", snapshot_fingerprint=1003, overwrite=True, actor="carol"
        ),
    )
    await hclient.call(
        stub.WriteSnapshotTag,
        cpb.WriteSnapshotTagRequest(namespace=ns, name=name, tag="dev", snapshot_fingerprint=1003, actor="dave"),
    )
    for start in range(0, PARTITIONS, 2000):
        await hclient.call(
            stub.WriteSnapshotPartitions,
            cpb.WriteSnapshotPartitionsRequest(
                namespace=ns,
                name=name,
                snapshot_fingerprint=1003,
                artifact_key="orders",
                partitions=[partition(i) for i in range(start, start + 2000)],
            ),
        )
    yield {"ns": ns, "name": name}
    await hclient.delete_namespace(ns, allow_missing=True)


@pytest.fixture
async def console(browser: Any, base_url: str) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    c = Console(await context.new_page(), base_url)
    yield c
    await context.close()
    assert not c.foreign, c.foreign
    assert not c.problems, c.problems


async def test_lineage_dag_snapshots_and_tags(console: Console, arti_data: dict[str, Any]) -> None:
    ns, name = arti_data["ns"], arti_data["name"]
    await console.open(f"/console/ns/{ns}")
    await console.page.get_by_role("link", name="graphs", exact=True).click()
    assert await console.settled() == "ready"
    assert await console.page.locator("[data-testid=graphs] tbody tr").count() == 2
    await console.page.get_by_role("link", name=name).first.click()
    assert await console.settled() == "ready"
    dag = console.page.locator("[data-testid=dag]")
    # 2 graph versions + 3 snapshots + 2 tags; 3 snapshot->graph edges + 2 tag edges.
    assert (await dag.get_attribute("data-nodes"), await dag.get_attribute("data-edges")) == ("7", "5")
    await console.page.locator("[data-testid=dag] canvas").first.wait_for()
    assert await console.page.locator("[data-testid=snapshots] tbody tr td:first-child").all_inner_texts() == [
        "1003",
        "1002",
        "1001",
    ]
    await console.shot("lineage")

    # Tag history: newest first, who moved it where.
    await console.page.get_by_role("link", name="prod", exact=True).first.click()
    assert await console.settled() == "ready"
    rows = await console.page.locator("[data-testid=tag-history] tbody tr").all()
    cells = [await r.locator("td").all_inner_texts() for r in rows]
    assert [(c[1], c[2], c[3]) for c in cells] == [
        ("1002", "1003", "carol"),
        ("1001", "1002", "bob"),
        ("(created)", "1001", "alice"),
    ]
    await console.shot("tag-history")
    await console.page.go_back()
    assert await console.settled() == "ready"
    assert console.page.url.endswith(f"/graphs/{name}")


async def test_partitions_by_artifact_key_without_lineage(console: Console, arti_data: dict[str, Any]) -> None:
    """A graph written without lineage (this one): the snapshot says so, and naming the artifact
    still opens its partitions, a keyset page at a time (tests/http/test_console_lineage.py pages
    through to the end from the DAG)."""
    ns, name = arti_data["ns"], arti_data["name"]
    await console.open(f"/console/ns/{ns}/graphs/{name}/snapshots/1003")
    await console.page.locator("[data-testid=no-lineage]").wait_for()
    assert await console.page.locator("[data-testid=lineage-dag]").count() == 0
    await console.page.locator("[data-testid=artifact-key]").fill("orders")
    await console.page.get_by_role("button", name="show partitions").click()
    assert await console.settled() == "ready"
    table = console.page.locator("[data-testid=partitions] tbody tr")
    assert await table.count() == PAGE
    first = await table.first.locator("td").all_inner_texts()
    assert first[0] == "1" and "shard=" in first[1] and first[2] == "arti.storage.local:LocalFilePartition"
    await console.page.locator("[data-testid=next-page]").click()
    assert await console.settled() == "ready"
    assert await table.first.locator("td").first.inner_text() == str(PAGE + 1)
    await console.shot("partitions")
    # The second page is a deep link: reloading it shows the same rows.
    before = await table.locator("td:nth-child(2)").all_inner_texts()
    await console.page.reload()
    assert await console.settled() == "ready"
    assert await table.locator("td:nth-child(2)").all_inner_texts() == before
