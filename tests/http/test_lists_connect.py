"""ListExecutions and ListOps over Connect JSON, as the console and a shell script call them: the
same pages as gRPC, tokens handed back as given, and bad tokens refused with the same reason."""

from __future__ import annotations

import base64
from typing import Any

from google.rpc import error_details_pb2

import artimeta
from artimeta.v1 import cache_pb2, cache_pb2_grpc, opstore_pb2, opstore_pb2_grpc
from tests.conftest import unique_name
from tests.http.conftest import post

EXECUTIONS = "/artimeta.v1.CacheService/ListExecutions"
OPS = "/artimeta.v1.OpStoreService/ListOps"


def _reason(body: dict[str, Any]) -> str:
    [detail] = body["details"]
    value = detail["value"]
    return error_details_pb2.ErrorInfo.FromString(base64.b64decode(value + "=" * (-len(value) % 4))).reason


async def _pages(url: str, request: dict[str, Any], field: str) -> list[list[dict[str, Any]]]:
    pages = []
    while True:
        status, body = await post(url, request)
        assert status == 200, body
        pages.append(body.get(field, []))
        if not body.get("nextPageToken"):
            return pages
        request = {**request, "pageToken": body["nextPageToken"]}


async def test_executions_over_connect_json_match_grpc(base_url: str, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("lists")
    await hclient.create_namespace(ns)
    stub = hclient.stub(cache_pb2_grpc.CacheServiceStub)
    for i in range(7):
        await hclient.call(
            stub.RecordExecution, cache_pb2.RecordExecutionRequest(namespace=ns, id=f"run-{i}", args=["redun", str(i)])
        )
    await hclient.call(
        stub.RecordJobEnd,
        cache_pb2.RecordJobEndRequest(
            namespace=ns,
            job=cache_pb2.Job(id="root-6", task_hash="a" * 40, execution_id="run-6", cached=True, status="CACHED"),
        ),
    )
    pages = await _pages(base_url + EXECUTIONS, {"namespace": ns, "pageSize": 3}, "executions")
    assert [len(p) for p in pages] == [3, 3, 1]
    listed = [e for p in pages for e in p]
    assert [e["id"] for e in listed] == [f"run-{i}" for i in reversed(range(7))]
    newest = listed[0]
    assert newest["args"] == ["redun", "6"] and newest["rootJobId"] == "root-6" and newest["status"] == "CACHED"
    # int64 counts are JSON strings in the proto3 JSON mapping.
    assert (newest["jobCount"], newest["cachedJobCount"]) == ("1", "1")
    grpc_page = await hclient.call(stub.ListExecutions, cache_pb2.ListExecutionsRequest(namespace=ns))
    assert [e.id for e in grpc_page.executions] == [e["id"] for e in listed]
    await hclient.delete_namespace(ns)


async def test_ops_over_connect_json_with_prefix(base_url: str, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("lists")
    await hclient.create_namespace(ns)
    stub = hclient.stub(opstore_pb2_grpc.OpStoreServiceStub)
    for name, versions in (("clean", 2), ("cluster", 1), ("train", 3)):
        for v in range(versions):
            await hclient.call(
                stub.RegisterValidLink,
                opstore_pb2.RegisterValidLinkRequest(
                    namespace=ns,
                    upstream_op_name=name,
                    upstream_version=opstore_pb2.OpVersion(major="m", minor="n", patch=f"p{v}", creation_time=v),
                ),
            )
    pages = await _pages(base_url + OPS, {"namespace": ns, "namePrefix": "cl", "pageSize": 1}, "ops")
    listed = [o for p in pages for o in p]
    assert [(o["name"], o["versionCount"]) for o in listed] == [("clean", "2"), ("cluster", "1")]
    assert listed[0]["latestVersion"]["patch"] == "p1" and listed[0]["latestVersion"]["patchNumber"] == 1
    status, body = await post(base_url + OPS, {"namespace": ns})
    assert status == 200 and [o["name"] for o in body["ops"]] == ["clean", "cluster", "train"]
    assert "nextPageToken" not in body
    await hclient.delete_namespace(ns)


async def test_bad_tokens_and_sizes_over_connect_json(base_url: str, hclient: artimeta.AsyncClient) -> None:
    ns = unique_name("lists")
    await hclient.create_namespace(ns)
    for url, request, reason in (
        (EXECUTIONS, {"namespace": ns, "pageToken": "garbage"}, "INVALID_PAGE_TOKEN"),
        (OPS, {"namespace": ns, "pageToken": "garbage"}, "INVALID_PAGE_TOKEN"),
        (OPS, {"namespace": ns, "pageSize": -1}, "INVALID_PAGE_SIZE"),
        (EXECUTIONS, {"namespace": "no-such-namespace"}, "NAMESPACE_NOT_FOUND"),
    ):
        status, body = await post(base_url + url, request)
        assert status in (400, 404), body
        assert _reason(body) == reason
    await hclient.delete_namespace(ns)
