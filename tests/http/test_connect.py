"""Every RPC over HTTP: Connect JSON, Connect binary and gRPC-Web answer from the same servicers as
gRPC, with the same results and the same ErrorInfo reasons; bad HTTP input is refused with the right
Connect error and writes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectrpc.protocol import ProtocolType
from google.rpc import error_details_pb2

import artimeta
from artimeta.v1 import namespace_pb2 as pb
from artimeta.v1.namespace_connect import NamespaceServiceClient
from artimeta_server.devstack.procs import free_port
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.conftest import unique_name
from tests.http.conftest import post

REPO = Path(__file__).resolve().parents[2]
FLAVOURS = {
    "connect-json": (ProtocolType.CONNECT, google_protobuf_json_codec),
    "connect-binary": (ProtocolType.CONNECT, google_protobuf_binary_codec),
    "grpc-web": (ProtocolType.GRPC_WEB, google_protobuf_binary_codec),
    "grpc-web-json": (ProtocolType.GRPC_WEB, google_protobuf_json_codec),
}


@pytest.fixture(params=sorted(FLAVOURS))
async def connect_client(request: pytest.FixtureRequest, base_url: str) -> AsyncIterator[NamespaceServiceClient]:
    protocol, codec = FLAVOURS[request.param]
    async with NamespaceServiceClient(base_url, protocol=protocol, codec=codec(), send_compression=None) as client:
        yield client


def error_info(err: ConnectError) -> error_details_pb2.ErrorInfo:
    infos = [d for d in err.details if d.type_name == "google.rpc.ErrorInfo"]
    assert len(infos) == 1, err.details
    return error_details_pb2.ErrorInfo.FromString(infos[0].message_bytes)


async def test_same_results_as_grpc(connect_client: NamespaceServiceClient, hclient: artimeta.AsyncClient) -> None:
    name = unique_name()
    spec = pb.Namespace(name=name, description="over http", labels={"team": "web"})
    created = (await connect_client.create_namespace(pb.CreateNamespaceRequest(namespace=spec))).namespace
    assert created == await hclient.get_namespace(name)
    got = (await connect_client.get_namespace(pb.GetNamespaceRequest(name=name))).namespace
    assert got == created
    listed: list[pb.Namespace] = []
    token = ""
    while True:
        page = await connect_client.list_namespaces(pb.ListNamespacesRequest(page_size=500, page_token=token))
        listed.extend(page.namespaces)
        if not (token := page.next_page_token):
            break
    assert created in listed
    assert [ns.name async for ns in hclient.list_namespaces()] == [ns.name for ns in listed]
    deleted = await connect_client.delete_namespace(pb.DeleteNamespaceRequest(name=name))
    assert deleted.deleted


@pytest.mark.parametrize(
    ("call", "code", "reason"),
    [
        (lambda c: c.get_namespace(pb.GetNamespaceRequest(name="no-such-ns")), Code.NOT_FOUND, "NAMESPACE_NOT_FOUND"),
        (
            lambda c: c.create_namespace(pb.CreateNamespaceRequest(namespace=pb.Namespace(name="Bad/Name"))),
            Code.INVALID_ARGUMENT,
            "INVALID_NAME",
        ),
        (
            lambda c: c.list_namespaces(pb.ListNamespacesRequest(page_token="garbage")),
            Code.INVALID_ARGUMENT,
            "INVALID_PAGE_TOKEN",
        ),
    ],
    ids=["not-found", "bad-name", "bad-token"],
)
async def test_errors_carry_the_same_reason_as_grpc(
    connect_client: NamespaceServiceClient,
    hclient: artimeta.AsyncClient,
    call: Callable[[NamespaceServiceClient], object],
    code: Code,
    reason: str,
) -> None:
    with pytest.raises(ConnectError) as err:
        await call(connect_client)  # type: ignore[misc]
    assert err.value.code is code
    info = error_info(err.value)
    assert (info.reason, info.domain) == (reason, "artimeta")
    # The gRPC transport reports the very same reason and metadata.
    grpc_stub = hclient.stub(artimeta.v1.namespace_pb2_grpc.NamespaceServiceStub)
    with pytest.raises(artimeta.ArtimetaError) as gerr:
        await call(_GrpcShim(hclient, grpc_stub))  # type: ignore[arg-type, misc]
    assert gerr.value.reason == reason
    assert dict(gerr.value.metadata) == dict(info.metadata)


class _GrpcShim:
    """Lets one lambda drive the gRPC stub the way it drives the Connect client."""

    def __init__(self, client: artimeta.AsyncClient, stub: object) -> None:
        self._client, self._stub = client, stub

    def __getattr__(self, snake: str) -> Callable[[object], object]:
        camel = "".join(part.title() for part in snake.split("_"))
        return lambda request: self._client.call(getattr(self._stub, camel), request)


async def test_curl_line_from_the_readme_works(base_url: str, hclient: artimeta.AsyncClient) -> None:
    name = unique_name()
    await hclient.create_namespace(name)
    readme = (REPO / "README.md").read_text()
    lines = [ln.strip() for ln in readme.splitlines() if ln.strip().startswith("curl ") and "ListNamespaces" in ln]
    assert lines, "README shows a curl call of ListNamespaces"
    cmd = lines[0].replace("http://127.0.0.1:50052", base_url).replace(" | python3 -m json.tool", "")
    proc = await asyncio.create_subprocess_shell(cmd, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    names = [ns["name"] for ns in json.loads(out)["namespaces"]]
    assert names == sorted(names) and len(names) <= 1000


# --- bad input over HTTP -------------------------------------------------------------------------

RPC = "/artimeta.v1.NamespaceService/CreateNamespace"


async def _exists(hclient: artimeta.AsyncClient, name: str) -> bool:
    try:
        await hclient.get_namespace(name)
    except artimeta.NotFound:
        return False
    return True


async def test_malformed_json_is_invalid_argument_and_writes_nothing(
    base_url: str, hclient: artimeta.AsyncClient
) -> None:
    name = unique_name()
    status, body = await post(base_url + RPC, f'{{"namespace": {{"name": "{name}"'.encode())
    assert (status, body["code"]) == (400, "invalid_argument")
    assert not await _exists(hclient, name)


async def test_unknown_json_field_is_refused(base_url: str, hclient: artimeta.AsyncClient) -> None:
    name = unique_name()
    status, body = await post(base_url + RPC, {"namespace": {"name": name, "colour": "red"}})
    assert (status, body["code"]) == (400, "invalid_argument")
    assert "colour" in body["message"]
    assert not await _exists(hclient, name)


async def test_wrong_content_type_is_unsupported_media_type(base_url: str, hclient: artimeta.AsyncClient) -> None:
    name = unique_name()
    status, _ = await post(base_url + RPC, {"namespace": {"name": name}}, content_type="text/plain")
    assert status == 415
    assert not await _exists(hclient, name)


async def test_oversized_body_is_resource_exhausted(
    base_url: str, http_server: Server, hclient: artimeta.AsyncClient
) -> None:
    name = unique_name()
    huge = {"namespace": {"name": name, "description": "x" * (http_server.settings.max_message_bytes + 1)}}
    status, body = await post(base_url + RPC, huge)
    assert (status, body["code"]) == (429, "resource_exhausted")
    assert not await _exists(hclient, name)


async def test_domain_validation_over_json_gives_error_info(base_url: str) -> None:
    status, body = await post(base_url + RPC, {"namespace": {"name": ""}})
    assert (status, body["code"]) == (400, "invalid_argument")
    [detail] = body["details"]
    assert detail["type"] == "google.rpc.ErrorInfo"
    info = error_details_pb2.ErrorInfo.FromString(_b64(detail["value"]))
    assert (info.reason, info.metadata["field"]) == ("INVALID_NAME", "name")


@pytest.mark.parametrize("path", ["/artimeta.v1.NamespaceService/Nope", "/artimeta.v1.NoService/Get"])
async def test_unknown_rpc_is_unimplemented(base_url: str, path: str) -> None:
    status, body = await post(base_url + path, {})
    assert (status, body["code"]) == (404, "unimplemented")


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text + "=" * (-len(text) % 4))


# --- health and the process ----------------------------------------------------------------------


async def test_http_health(base_url: str) -> None:
    import urllib.error
    import urllib.request

    def get(path: str) -> tuple[int, dict[str, str]]:
        try:
            with urllib.request.urlopen(base_url + path, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    assert await asyncio.to_thread(get, "/healthz") == (200, {"status": "SERVING", "service": ""})
    status, body = await asyncio.to_thread(get, "/healthz?service=artimeta.v1.NamespaceService")
    assert (status, body["status"]) == (200, "SERVING")
    status, body = await asyncio.to_thread(get, "/healthz?service=nope.Service")
    assert (status, body["status"]) == (404, "SERVICE_UNKNOWN")


def test_serve_prints_both_ports_and_exits_cleanly_on_sigterm(stack: Stack, venv_bin: Path, tmp_root: Path) -> None:
    """uvicorn runs inside the server's loop: SIGTERM drains both ports and exits 0, not 143."""
    import urllib.request

    grpc_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        **stack.env(),
        "ARTIMETA_LISTEN": f"127.0.0.1:{grpc_port}",
        "ARTIMETA_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "ARTIMETA_SHUTDOWN_GRACE_S": "2",
        "ARTIMETA_LOG_JSON": "true",
    }
    proc = subprocess.Popen(
        [str(venv_bin / "artimeta-server"), "serve", "--migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        serving = None
        for raw in proc.stdout:
            line = raw.decode(errors="replace")
            if '"serving"' in line:
                serving = json.loads(line)
                break
        assert serving is not None and serving["http_port"] == http_port and serving["port"] == grpc_port
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=10) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_share_the_http_port(stack: Stack, venv_bin: Path) -> None:
    """`serve --workers 2`: both workers bind the HTTP port (SO_REUSEPORT) like the gRPC one."""
    import urllib.request

    grpc_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        **stack.env(),
        "ARTIMETA_LISTEN": f"127.0.0.1:{grpc_port}",
        "ARTIMETA_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "ARTIMETA_SHUTDOWN_GRACE_S": "2",
    }
    proc = subprocess.Popen(
        [str(venv_bin / "artimeta-server"), "serve", "--migrate", "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        serving = 0
        for raw in proc.stdout:
            if b'"serving"' in raw and f'"http_port": {http_port}'.encode() in raw:
                serving += 1
                if serving == 2:
                    break
        assert serving == 2, "both workers serve the same HTTP port"
        for _ in range(20):
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=10) as resp:
                assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_lineage_and_partition_pages_over_connect_json(base_url: str, hclient: artimeta.AsyncClient) -> None:
    """The console's two reads, in the JSON a shell script would send."""
    ns = unique_name("connect-lineage")
    await hclient.create_namespace(ns)
    svc = f"{base_url}/artimeta.v1.ConnectionService"
    lineage = {
        "artifacts": [{"key": "raw"}, {"key": "clean", "type": "Int64()"}],
        "producers": [{"key": "7", "name": "scrub", "version": "1"}],
        "edges": [
            {"kind": "LINEAGE_EDGE_KIND_INPUT", "artifactKey": "raw", "producerKey": "7", "inputName": "rows"},
            {"kind": "LINEAGE_EDGE_KIND_OUTPUT", "artifactKey": "clean", "producerKey": "7"},
        ],
    }
    graph = {"name": "g", "fingerprint": "3", "document": "eA=="}
    status, body = await post(f"{svc}/WriteGraph", {"namespace": ns, "graph": graph, "lineage": lineage})
    assert (status, body) == (200, {"created": True})
    status, body = await post(f"{svc}/GetGraphLineage", {"namespace": ns, "name": "g", "fingerprint": "3"})
    assert status == 200 and body["lineage"]["edges"] == lineage["edges"]
    # A dangling edge is refused with its reason, and the graph is not written.
    bad = {**lineage, "edges": [{"kind": "LINEAGE_EDGE_KIND_INPUT", "artifactKey": "nope", "producerKey": "7"}]}
    status, body = await post(
        f"{svc}/WriteGraph", {"namespace": ns, "graph": {**graph, "fingerprint": "4"}, "lineage": bad}
    )
    assert status == 400 and body["code"] == "invalid_argument"
    [detail] = body["details"]
    info = error_details_pb2.ErrorInfo.FromString(_b64(detail["value"]))
    assert (info.reason, info.metadata["field"]) == ("DANGLING_LINEAGE_EDGE", "lineage.edges[0].artifact_key")
    status, body = await post(f"{svc}/GetGraphLineage", {"namespace": ns, "name": "g", "fingerprint": "4"})
    assert status == 404
    status, body = await post(
        f"{svc}/ListSnapshotPartitions",
        {"namespace": ns, "name": "g", "snapshotFingerprint": "9", "artifactKey": "clean", "pageSize": 5},
    )
    assert (status, body) == (200, {})
    await hclient.delete_namespace(ns)
