"""The console's lists of redun executions and chariots ops: what the server holds, newest first /
by name, each row opening its existing view, paged to the end, with empty and error states, and
no error in the browser console."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import artimeta
from artimeta.v1 import cache_pb2 as pb
from artimeta.v1 import cache_pb2_grpc, opstore_pb2, opstore_pb2_grpc
from tests.conftest import unique_name
from tests.http.conftest import Console

pytest.importorskip("playwright.async_api")


def h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@pytest.fixture
async def console(browser: Any, base_url: str) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    c = Console(await context.new_page(), base_url)
    yield c
    await context.close()
    assert not c.foreign, c.foreign


async def _run(client: artimeta.AsyncClient, ns: str, exec_id: str, *, hits: int, misses: int) -> None:
    """A redun run as the backend writes it: the execution, a root job of task `main` with its
    call node, and child jobs, some of them cache hits."""
    stub = client.stub(cache_pb2_grpc.CacheServiceStub)
    value = pb.CacheValue(value_hash=h("v"), type_name="builtins.int", format="pickle", data=b"1")
    call = await client.call(
        stub.RecordCallNode,
        pb.RecordCallNodeRequest(
            namespace=ns,
            task_name="demo.main",
            task_hash=h("main"),
            args_hash=h(exec_id),
            result_hash=value.value_hash,
            subtree_task_hashes=[h("main")],
            values=[value],
        ),
    )
    await client.call(
        stub.RecordExecution, pb.RecordExecutionRequest(namespace=ns, id=exec_id, args=["redun", "run", "main"])
    )
    root = f"{exec_id}-main"
    await client.call(
        stub.RecordJobStart,
        pb.RecordJobStartRequest(namespace=ns, job=pb.Job(id=root, task_hash=h("main"), execution_id=exec_id)),
    )
    for i in range(hits + misses):
        job = pb.Job(
            id=f"{exec_id}-step-{i}",
            task_hash=h("step"),
            execution_id=exec_id,
            parent_id=root,
            cached=i < hits,
            status="CACHED" if i < hits else "DONE",
        )
        await client.call(stub.RecordJobEnd, pb.RecordJobEndRequest(namespace=ns, job=job))
    end = pb.Job(id=root, task_hash=h("main"), execution_id=exec_id, call_hash=call.call_hash, status="DONE")
    await client.call(stub.RecordJobEnd, pb.RecordJobEndRequest(namespace=ns, job=end))


async def _register(client: artimeta.AsyncClient, ns: str, op: str, versions: int) -> None:
    stub = client.stub(opstore_pb2_grpc.OpStoreServiceStub)
    for v in range(versions):
        await client.call(
            stub.RegisterValidLink,
            opstore_pb2.RegisterValidLinkRequest(
                namespace=ns,
                upstream_op_name=op,
                upstream_version=opstore_pb2.OpVersion(
                    major="m", minor=f"n{v // 2}", patch=f"p{v}", creation_time=1_700_000_000 + v
                ),
            ),
        )


async def _walk(console: Console, rows: str, attribute: str) -> list[str]:
    """The row keys of every page, following "next page" to the end."""
    seen: list[str] = []
    while True:
        seen += [str(await r.get_attribute(attribute)) for r in await console.page.locator(rows).all()]
        nxt = console.page.locator("[data-testid=next-page]")
        if not await nxt.count():
            return seen
        await nxt.click()
        assert await console.settled() == "ready"


async def test_executions_list_opens_the_call_tree(console: Console, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("lists")
    await hclient.create_namespace(ns)
    await _run(hclient, ns, "exec-old", hits=0, misses=2)
    await _run(hclient, ns, "exec-new", hits=2, misses=1)

    await console.open(f"/console/ns/{ns}")
    await console.page.get_by_role("link", name="redun", exact=True).click()
    assert await console.settled() == "ready"
    assert console.page.url.endswith(f"/console/ns/{ns}/redun")
    rows = console.page.locator("[data-testid=executions] tbody tr")
    assert [await r.get_attribute("data-execution") for r in await rows.all()] == ["exec-new", "exec-old"]
    new = console.page.locator("[data-execution=exec-new]")
    assert await new.locator("[data-testid=job-count]").inner_text() == "4"
    assert await new.locator("[data-testid=hit-count]").inner_text() == "2"
    text = await new.inner_text()
    assert "demo.main" in text and "DONE" in text and "redun run main" in text
    await console.shot("redun-executions")

    await console.page.get_by_role("link", name="exec-new", exact=True).click()
    assert await console.settled() == "ready"
    assert console.page.url.endswith(f"/console/ns/{ns}/redun/executions/exec-new")
    assert "4 jobs · 2 cache hits · 2 misses" in await console.page.locator("[data-testid=exec-summary]").inner_text()
    assert await console.page.locator("[data-testid=call-tree] tbody tr").count() == 4

    await console.page.go_back()
    assert await console.settled() == "ready"
    assert await rows.count() == 2
    assert not console.problems, console.problems
    await hclient.delete_namespace(ns)


async def test_ops_list_with_version_counts_opens_versions(console: Console, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("lists")
    await hclient.create_namespace(ns)
    for op, versions in (("clean", 1), ("featurize", 3), ("train", 2)):
        await _register(hclient, ns, op, versions)

    await console.open(f"/console/ns/{ns}")
    await console.page.get_by_role("link", name="chariots ops", exact=True).click()
    assert await console.settled() == "ready"
    rows = console.page.locator("[data-testid=ops] tbody tr")
    assert [await r.get_attribute("data-op") for r in await rows.all()] == ["clean", "featurize", "train"]
    counts = await console.page.locator("[data-testid=ops] [data-testid=version-count]").all_inner_texts()
    assert counts == ["1", "3", "2"]
    assert await console.page.locator("[data-op=featurize] [data-testid=latest-version]").inner_text() == "1.1.0"
    await console.shot("chariots-ops")

    await console.page.locator("[data-testid=op-prefix]").fill("fe")
    await console.page.get_by_role("button", name="filter").click()
    assert await console.settled() == "ready"
    assert console.page.url.endswith(f"/console/ns/{ns}/ops?prefix=fe")
    assert [await r.get_attribute("data-op") for r in await rows.all()] == ["featurize"]

    await console.page.get_by_role("link", name="featurize", exact=True).click()
    assert await console.settled() == "ready"
    assert console.page.url.endswith(f"/console/ns/{ns}/ops/featurize")
    assert await console.page.locator("[data-testid=op-versions] tbody tr").count() == 3
    await console.page.go_back()
    assert await console.settled() == "ready"
    assert await console.page.locator("[data-testid=op-prefix]").input_value() == "fe"
    assert not console.problems, console.problems
    await hclient.delete_namespace(ns)


async def test_lists_larger_than_a_page_walk_to_the_end(console: Console, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("lists")
    await hclient.create_namespace(ns)
    stub = hclient.stub(cache_pb2_grpc.CacheServiceStub)
    executions = [f"run-{i:03d}" for i in range(120)]
    for exec_id in executions:
        await hclient.call(stub.RecordExecution, pb.RecordExecutionRequest(namespace=ns, id=exec_id))
    ops = [f"op-{i:03d}" for i in range(105)]
    for op in ops:
        await _register(hclient, ns, op, 1)

    await console.open(f"/console/ns/{ns}/redun")
    assert await console.page.locator("[data-testid=executions] tbody tr").count() == 50
    seen = await _walk(console, "[data-testid=executions] tbody tr", "data-execution")
    assert seen == list(reversed(executions))
    # Back walks the pages in reverse; "first page" returns to the start.
    await console.page.go_back()
    assert await console.settled() == "ready"
    assert await console.page.locator("[data-testid=executions] tbody tr").count() == 50
    await console.page.locator("[data-testid=first-page]").click()
    assert await console.settled() == "ready"
    assert await console.page.locator("[data-execution]").first.get_attribute("data-execution") == "run-119"

    await console.open(f"/console/ns/{ns}/ops")
    assert await _walk(console, "[data-testid=ops] tbody tr", "data-op") == ops
    assert not console.problems, console.problems
    await hclient.delete_namespace(ns)


async def test_empty_and_error_states(console: Console, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("lists")
    await hclient.create_namespace(ns)
    for path in (f"/console/ns/{ns}/redun", f"/console/ns/{ns}/ops", f"/console/ns/{ns}/ops?prefix=zz"):
        await console.open(path)
        assert await console.settled() == "ready"
        assert await console.page.locator("[data-testid=empty]").count() == 1
        assert await console.page.locator("[data-testid=next-page]").count() == 0
    await console.open(f"/console/ns/{ns}/redun?page=not-a-token")
    assert await console.settled() == "error"
    assert await console.page.locator("[data-testid=error]").get_attribute("data-reason") == "INVALID_PAGE_TOKEN"
    await console.open("/console/ns/no-such-namespace/ops")
    assert await console.settled() == "error"
    assert await console.page.locator("[data-testid=error]").get_attribute("data-reason") == "NAMESPACE_NOT_FOUND"
    # Failed RPCs are shown in the page; the browser logs only the HTTP status lines.
    assert all("Failed to load resource" in p for p in console.problems), console.problems
    await hclient.delete_namespace(ns)
