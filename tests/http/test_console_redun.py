"""redun in the console: an execution's job tree with the cache verdict of each call, and "why
not cached" answered by ExplainCacheMiss; chariots' op versions."""

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
    assert not c.problems, c.problems


async def _call(
    aclient: artimeta.AsyncClient,
    stub: Any,
    ns: str,
    task: str,
    version: str,
    args: str,
    children: tuple[str, ...] = (),
) -> str:
    value = pb.CacheValue(value_hash=h(f"value-{task}-{args}"), type_name="builtins.int", format="pickle", data=b"1")
    r = await aclient.call(
        stub.RecordCallNode,
        pb.RecordCallNodeRequest(
            namespace=ns,
            task_name=f"demo.{task}",
            task_hash=h(task + version),
            args_hash=h(args),
            result_hash=value.value_hash,
            child_call_hashes=list(children),
            subtree_task_hashes=[h(task + version)],
            values=[value],
        ),
    )
    return str(r.call_hash)


async def test_execution_call_tree_and_why_not_cached(console: Console, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("redun")
    await hclient.create_namespace(ns)
    stub = hclient.stub(cache_pb2_grpc.CacheServiceStub)
    await _call(hclient, stub, ns, "clean", "v1", "raw")  # an earlier run, with version 1 of `clean`
    clean = await _call(hclient, stub, ns, "clean", "v2", "raw")  # re-run: `clean` changed
    load = await _call(hclient, stub, ns, "load", "v1", "path")
    main = await _call(hclient, stub, ns, "main", "v1", "cli", (clean, load))
    await hclient.call(
        stub.RecordExecution, pb.RecordExecutionRequest(namespace=ns, id="exec-1", args=["redun", "run", "main"])
    )
    jobs = [
        pb.Job(
            id="job-main", task_hash=h("mainv1"), execution_id="exec-1", call_hash=main, cached=False, status="DONE"
        ),
        pb.Job(
            id="job-clean",
            task_hash=h("cleanv2"),
            execution_id="exec-1",
            parent_id="job-main",
            call_hash=clean,
            cached=False,
            status="DONE",
        ),
        pb.Job(
            id="job-load",
            task_hash=h("loadv1"),
            execution_id="exec-1",
            parent_id="job-main",
            call_hash=load,
            cached=True,
            status="CACHED",
        ),
    ]
    for job in jobs:
        await hclient.call(stub.RecordJobEnd, pb.RecordJobEndRequest(namespace=ns, job=job))

    await console.open(f"/console/ns/{ns}")
    await console.page.get_by_role("link", name="redun", exact=True).click()
    assert await console.settled() == "ready"
    await console.page.locator("[data-testid=execution-id]").fill("exec-1")
    await console.page.get_by_role("button", name="open").click()
    assert await console.settled() == "ready"
    assert "3 jobs · 1 cache hits · 2 misses" in await console.page.locator("[data-testid=exec-summary]").inner_text()
    rows = console.page.locator("[data-testid=call-tree] tbody tr")
    assert [await r.get_attribute("data-job") for r in await rows.all()] == ["job-main", "job-clean", "job-load"]
    verdicts = {await r.get_attribute("data-job"): await r.get_attribute("data-cached") for r in await rows.all()}
    assert verdicts == {"job-main": "false", "job-clean": "false", "job-load": "true"}
    assert await console.page.locator("[data-job=job-load] [data-testid=why]").count() == 0
    await console.page.locator("[data-job=job-clean] [data-testid=why]").click()
    reason = console.page.locator("[data-job=job-clean] [data-testid=miss-reason]")
    await reason.wait_for()
    assert await reason.get_attribute("data-reason") == "NEW_TASK"
    await console.shot("redun-execution")
    await hclient.delete_namespace(ns, allow_missing=True)


async def test_chariots_op_versions(console: Console, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("ops")
    await hclient.create_namespace(ns)
    stub = hclient.stub(opstore_pb2_grpc.OpStoreServiceStub)
    for i, (major, minor) in enumerate([("a", "1"), ("a", "2"), ("b", "1")]):
        await hclient.call(
            stub.RegisterValidLink,
            opstore_pb2.RegisterValidLinkRequest(
                namespace=ns,
                upstream_op_name="featurize",
                upstream_version=opstore_pb2.OpVersion(
                    major=major, minor=minor, patch=str(i), creation_time=1_700_000_000 + i
                ),
                downstream_op_name="train",
            ),
        )
    await console.open(f"/console/ns/{ns}/ops/featurize")
    assert await console.page.locator("[data-testid=op-versions] tbody tr").count() == 3
    await console.page.locator("[data-testid=downstream]").fill("train")
    await console.page.get_by_role("button", name="open").click()
    assert await console.settled() == "ready"
    assert "train is validated against" in await console.page.locator("[data-testid=validated]").inner_text()
    await hclient.delete_namespace(ns, allow_missing=True)
