"""Tenant isolation on every RPC of every service the server registers.

The services and their methods come from the generated descriptors (and the server's reflection
must list exactly those), so a new RPC is walked without anyone adding it here; what it needs is
written below, independently of rpc/access.py, so an RPC nobody classified, or one declared with
another role than the one written here, fails. Each RPC is called with an empty request naming a
namespace:

- with a token of namespace A against namespace B: PERMISSION_DENIED;
- with the least role that should work, on A: neither PERMISSION_DENIED nor UNAUTHENTICATED (the
  call may still fail for its own reasons, e.g. INVALID_ARGUMENT for the empty request);
- with the role just below it, on A: PERMISSION_DENIED; without a token: UNAUTHENTICATED.

Then the byte paths end to end with namespace tokens: a writer uploads (stream and batch) and
commits a record directory, a reader downloads and reads records, neither reaches another
namespace, and an upload stream cannot switch namespaces halfway.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import json
import pkgutil
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor, message_factory
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import artimeta
import artimeta.v1
from artimeta.blobs import AsyncBlobs
from artimeta.records import AsyncRecords
from artimeta.v1 import blobs_pb2, blobs_pb2_grpc, digest_pb2, records_pb2, records_pb2_grpc
from artimeta_server.domain.auth.models import Role
from artimeta_server.server import Server
from tests.conftest import unique_name
from tests.hostile import rawhttp
from tests.hostile.conftest import make_namespace, mint


class Need(enum.Enum):
    OPEN = "no token"
    SIGNED_IN = "any valid token"
    READ = "reader on the namespace"
    WRITE = "writer on the namespace"
    ADMIN = "admin on the namespace"
    GLOBAL_READ = "reader on *"
    GLOBAL_ADMIN = "admin on *"


R, W, A = Need.READ, Need.WRITE, Need.ADMIN

# What each RPC should need: the product's access policy, written down once more on purpose.
EXPECTED: dict[str, dict[str, Need]] = {
    "artimeta.v1.NamespaceService": {
        "CreateNamespace": Need.GLOBAL_ADMIN,
        "GetNamespace": R,
        "ListNamespaces": Need.GLOBAL_READ,
        "DeleteNamespace": A,
    },
    "artimeta.v1.BlobService": {
        "GetCapabilities": Need.SIGNED_IN,
        "Upload": W,
        "Download": R,
        "FindMissingBlobs": R,
        "StatBlob": R,
        "BatchUpdateBlobs": W,
        "BatchReadBlobs": R,
        "DeleteBlob": W,
        "CreateUploadUrl": W,
        "CommitUpload": W,
        "CreateDownloadUrl": R,
        "PutKey": W,
        "GetKey": R,
        "DeleteKey": W,
        "ListKeys": R,
    },
    "artimeta.v1.RecordService": {
        "CommitRecord": W,
        "GetRecord": R,
        "ContainsRecord": R,
        "DeleteRecord": W,
        "ListRecords": R,
        "ListRelatedRecords": R,
    },
    "artimeta.v1.CacheService": {
        "RecordValues": W,
        "GetValues": R,
        "RecordCallNode": W,
        "GetCallNode": R,
        "CheckCache": R,
        "SetEvalCache": W,
        "ExplainCacheMiss": R,
        "RecordExecution": W,
        "RecordUpdatedTime": W,
        "RecordJobStart": W,
        "RecordJobEnd": W,
        "GetJob": R,
        "AdvanceHandle": W,
        "RollbackHandle": W,
        "IsValidHandle": R,
        "GetRecords": R,
        "PutRecords": W,
        "IterRecordIds": R,
        "ListExecutions": R,
    },
    "artimeta.v1.ConnectionService": {
        "ReadArtifactPartitions": R,
        "WriteArtifactPartitions": W,
        "ReadGraph": R,
        "WriteGraph": W,
        "ReadSnapshot": R,
        "WriteSnapshot": W,
        "ReadSnapshotTag": R,
        "WriteSnapshotTag": W,
        "ReadSnapshotPartitions": R,
        "WriteSnapshotPartitions": W,
        "WriteArtifactAndGraphPartitions": W,
        "ListGraphs": R,
        "ListSnapshots": R,
        "ListSnapshotTags": R,
        "ListSnapshotTagHistory": R,
        "GetGraphLineage": R,
        "ListSnapshotPartitions": R,
    },
    "artimeta.v1.TagService": {
        "RecordTags": W,
        "DeleteTags": W,
        "UpdateTags": W,
        "GetTags": R,
        "GetTagHistory": R,
        "SearchTags": R,
    },
    "artimeta.v1.OpStoreService": {
        "RegisterValidLink": W,
        "GetAllVersionsOfOp": R,
        "GetValidatedLinks": R,
        "SaveOpBytes": W,
        "GetOpBytes": R,
        "PipelineExists": R,
        "RegisterPipeline": W,
        "ListOps": R,
    },
    "grpc.health.v1.Health": {"Check": Need.OPEN, "Watch": Need.OPEN, "List": Need.OPEN},
    "grpc.reflection.v1alpha.ServerReflection": {"ServerReflectionInfo": Need.OPEN},
}

# Requests whose fields change what they need: (method, fields set, need).
VARIANTS: list[tuple[str, dict[str, Any], Need]] = [
    ("/artimeta.v1.BlobService/DeleteBlob", {"force": True}, A),
]

_BELOW = {W: R, A: W, Need.GLOBAL_ADMIN: Need.GLOBAL_READ}


def _services() -> list[descriptor.ServiceDescriptor]:
    """Every service of the generated artimeta.v1 modules, health and reflection."""
    found: list[descriptor.ServiceDescriptor] = []
    for mod in pkgutil.iter_modules(artimeta.v1.__path__):
        if mod.name.endswith("_pb2"):
            found += importlib.import_module(f"artimeta.v1.{mod.name}").DESCRIPTOR.services_by_name.values()
    found += health_pb2.DESCRIPTOR.services_by_name.values()
    found += reflection_pb2.DESCRIPTOR.services_by_name.values()
    return found


@dataclass(frozen=True)
class Case:
    method: descriptor.MethodDescriptor
    fields: tuple[tuple[str, Any], ...] = ()

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    def __str__(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.fields)
        return self.path.lstrip("/") + (f"[{extra}]" if extra else "")


def _cases() -> Iterator[Case]:
    for service in _services():
        for method in service.methods:
            yield Case(method)
    by_path = {c.path: c for c in (Case(m) for s in _services() for m in s.methods)}
    for path, fields, _ in VARIANTS:
        yield Case(by_path[path].method, tuple(fields.items()))


def _need(case: Case) -> Need | None:
    for path, fields, need in VARIANTS:
        if case.path == path and dict(case.fields) == fields:
            return need
    return EXPECTED.get(case.method.containing_service.full_name, {}).get(case.method.name)


def _request(case: Case, namespace: str) -> Any:
    """An empty request of the method's input type that names `namespace` the way its service does."""
    cls = message_factory.GetMessageClass(case.method.input_type)
    req = cls()
    fields = case.method.input_type.fields_by_name
    ns = fields.get("namespace")
    if ns is not None and ns.type == descriptor.FieldDescriptor.TYPE_STRING:
        req.namespace = namespace
    elif ns is not None and ns.message_type is not None and "name" in ns.message_type.fields_by_name:
        req.namespace.name = namespace
    elif case.method.containing_service.full_name == "artimeta.v1.NamespaceService" and "name" in fields:
        req.name = namespace
    for key, value in case.fields:
        setattr(req, key, value)
    return req


async def _status(channel: grpc.aio.Channel, case: Case, request: Any, token: str | None) -> grpc.StatusCode:
    """The status the call ends with (OK once a streaming call delivers its first message)."""
    md = (("authorization", f"Bearer {token}"),) if token else None
    kw: dict[str, Any] = {"request_serializer": type(request).SerializeToString, "response_deserializer": bytes}
    cs, ss = case.method.client_streaming, case.method.server_streaming
    try:
        if not cs and not ss:
            await channel.unary_unary(case.path, **kw)(request, metadata=md, timeout=20)
        elif cs and not ss:
            await channel.stream_unary(case.path, **kw)(iter([request]), metadata=md, timeout=20)
        else:
            factory = channel.stream_stream if cs else channel.unary_stream
            call = factory(case.path, **kw)(iter([request]) if cs else request, metadata=md, timeout=20)
            async for _ in call:
                break
            call.cancel()
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


REFUSED = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNIMPLEMENTED}
CASES = list(_cases())
SEEN: Counter[str] = Counter()


def test_every_rpc_is_classified() -> None:
    """An RPC added to proto/ must be given its access need here (and declared in its servicer)."""
    missing = [str(c) for c in CASES if _need(c) is None]
    assert not missing, f"RPCs without an expected access rule in this test: {missing}"
    from artimeta_server.rpc import access

    undeclared = [
        str(c) for c in CASES if c.path.startswith("/artimeta.") and not c.fields and c.path not in access.declared()
    ]
    assert not undeclared, f"RPCs without an access.declare() next to their servicer: {undeclared}"


async def test_reflection_lists_exactly_the_walked_services(auth_target: str) -> None:
    async with grpc.aio.insecure_channel(auth_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        reply = await call.read()
        call.cancel()
    served = {s.name for s in reply.list_services_response.service}
    walked = {s.full_name for s in _services()}
    assert served <= walked, f"served but not walked: {served - walked}"
    assert {s for s in walked if s.startswith("artimeta.")} <= served


@dataclass
class Tenants:
    a: str
    b: str
    tokens: dict[tuple[str, Role], str]


@pytest.fixture
async def tenants(auth_server: Server) -> AsyncIterator[Tenants]:
    a, b = unique_name("ta"), unique_name("tb")
    await make_namespace(auth_server, a)
    await make_namespace(auth_server, b)
    tokens = {(ns, role): await mint(auth_server, ns, role) for ns in (a, "*") for role in Role}
    yield Tenants(a, b, tokens)
    assert auth_server.domain is not None
    for ns in (a, b):
        await auth_server.domain.namespaces.delete(ns, allow_missing=True)


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_tenant_matrix(auth_target: str, tenants: Tenants, case: Case) -> None:
    need = _need(case)
    assert need is not None, f"{case} is not classified (see test_every_rpc_is_classified)"
    a, b, tok = tenants.a, tenants.b, tenants.tokens
    async with grpc.aio.insecure_channel(auth_target) as channel:

        async def status(namespace: str, token: str | None) -> grpc.StatusCode:
            code = await _status(channel, case, _request(case, namespace), token)
            SEEN[code.name] += 1
            return code

        if need is Need.OPEN:
            # grpcio-health's servicer leaves List unimplemented: an answer, not a refusal.
            assert await status(a, None) not in {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}
            return
        assert await status(a, None) is grpc.StatusCode.UNAUTHENTICATED
        if need is Need.SIGNED_IN:
            assert await status(a, "amt_0123456789abcdef_forged") is grpc.StatusCode.UNAUTHENTICATED
            assert await status(b, tok[a, Role.READER]) not in REFUSED
            return
        if need in (Need.GLOBAL_READ, Need.GLOBAL_ADMIN):
            # A namespace's strongest token reaches nothing that spans namespaces.
            assert await status(a, tok[a, Role.ADMIN]) is grpc.StatusCode.PERMISSION_DENIED
            if need in _BELOW:
                assert await status(a, tok["*", Role.READER]) is grpc.StatusCode.PERMISSION_DENIED
            least = Role.READER if need is Need.GLOBAL_READ else Role.ADMIN
            assert await status(a, tok["*", least]) not in REFUSED
            return
        # Namespace A's strongest token is refused on B, whatever the method.
        assert await status(b, tok[a, Role.ADMIN]) is grpc.StatusCode.PERMISSION_DENIED
        least = {R: Role.READER, W: Role.WRITER, A: Role.ADMIN}[need]
        if least > Role.READER:
            assert await status(a, tok[a, Role(least - 1)]) is grpc.StatusCode.PERMISSION_DENIED
        got = await status(a, tok[a, least])
        assert got not in REFUSED, f"{case} with {least.label} on its namespace: {got.name}"


def _digest(data: bytes) -> digest_pb2.Digest:
    return digest_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


async def test_namespace_tokens_move_bytes_and_records(auth_target: str, tenants: Tenants, tmp_path: Path) -> None:
    """The measured failure: a namespace writer could not put bytes or commit a directory, a
    namespace reader could not download or read records."""
    a, b, tok = tenants.a, tenants.b, tenants.tokens
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_bytes(b"x" * 1000)
    (tmp_path / "d" / "big.bin").write_bytes(bytes(range(256)) * 40_000)  # > one batch: the Upload stream
    async with artimeta.AsyncClient(auth_target, token=tok[a, Role.WRITER], retry=None) as writer:
        blobs = AsyncBlobs(writer, a)
        digest = await blobs.put_bytes(b"hello tenant")
        streamed = await blobs.upload_iter(iter([b"a" * 300_000, b"b" * 300_000]))
        await AsyncRecords(writer, a).commit_directory("rec-1", tmp_path / "d")
        assert await blobs.get_bytes(digest) == b"hello tenant"
        with pytest.raises(artimeta.PermissionDenied):
            await AsyncBlobs(writer, b).put_bytes(b"elsewhere")
        with pytest.raises(artimeta.PermissionDenied):
            await AsyncRecords(writer, b).get("rec-1")
    async with artimeta.AsyncClient(auth_target, token=tok[a, Role.READER], retry=None) as reader:
        blobs = AsyncBlobs(reader, a)
        assert await blobs.get_bytes(digest) == b"hello tenant"
        assert len(await blobs.get_bytes(streamed)) == 600_000
        records = AsyncRecords(reader, a)
        assert (await records.get("rec-1")).uuid == "rec-1"
        await records.retrieve_directory("rec-1", tmp_path / "out")
        assert (tmp_path / "out" / "big.bin").read_bytes() == (tmp_path / "d" / "big.bin").read_bytes()
        stub = records_pb2_grpc.RecordServiceStub(reader.channel)
        listed = await reader.call(stub.ListRecords, records_pb2.ListRecordsRequest(namespace=a))
        assert [r.uuid for r in listed.records] == ["rec-1"]
        with pytest.raises(artimeta.PermissionDenied):
            await blobs.put_bytes(b"readers do not write")
        with pytest.raises(artimeta.PermissionDenied):
            await AsyncBlobs(reader, b).get_bytes(digest)


async def _upload(target: str, token: str, messages: list[blobs_pb2.UploadRequest]) -> Any:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = blobs_pb2_grpc.BlobServiceStub(channel)
        return await stub.Upload(iter(messages), metadata=(("authorization", f"Bearer {token}"),), timeout=20)


async def test_upload_stream_is_bound_to_its_first_namespace(auth_target: str, tenants: Tenants) -> None:
    a, b, tok = tenants.a, tenants.b, tenants.tokens
    data = b"0123456789" * 1000
    d = _digest(data)
    # Later messages without a namespace belong to the first one's (what the Python client sends).
    ok = await _upload(
        auth_target,
        tok[a, Role.WRITER],
        [
            blobs_pb2.UploadRequest(namespace=a, digest=d, data=data[:4000]),
            blobs_pb2.UploadRequest(data=data[4000:]),
        ],
    )
    assert ok.digest.hash == d.hash
    # A later message naming another namespace is refused, even for a token that holds both.
    other = b"other bytes" * 100
    for token in (tok[a, Role.WRITER], tok["*", Role.WRITER]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _upload(
                auth_target,
                token,
                [
                    blobs_pb2.UploadRequest(namespace=a, digest=_digest(other), data=other[:10]),
                    blobs_pb2.UploadRequest(namespace=b, data=other[10:]),
                ],
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "NAMESPACE_MISMATCH" in str(err.value.trailing_metadata())
    # A first message naming B is refused for A's token before anything is stored.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _upload(auth_target, tok[a, Role.ADMIN], [blobs_pb2.UploadRequest(namespace=b, digest=d, data=data)])
    assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


def _envelopes(*messages: blobs_pb2.UploadRequest) -> bytes:
    out = b""
    for m in messages:
        data = m.SerializeToString()
        out += b"\0" + len(data).to_bytes(4, "big") + data
    return out


def _frames(body: bytes) -> list[tuple[int, bytes]]:
    frames = []
    while body:
        flags, size = body[0], int.from_bytes(body[1:5], "big")
        frames.append((flags, body[5 : 5 + size]))
        body = body[5 + size :]
    return frames


async def test_upload_over_connect_is_bound_the_same_way(auth_server: Server, tenants: Tenants) -> None:
    """The HTTP port runs the same guard around the same handler: a namespace writer uploads over
    Connect client streaming; a later message naming another namespace is refused."""
    a, b, tok = tenants.a, tenants.b, tenants.tokens
    data = b"over connect " * 500
    d = _digest(data)
    headers = {"content-type": "application/connect+proto", "authorization": f"Bearer {tok[a, Role.WRITER]}"}
    path = "/artimeta.v1.BlobService/Upload"
    good = _envelopes(
        blobs_pb2.UploadRequest(namespace=a, digest=d, data=data[:100]), blobs_pb2.UploadRequest(data=data[100:])
    )
    reply = await rawhttp.request(auth_server.http_port, "POST", path, headers=headers, body=good)
    frames = _frames(reply.body)
    assert reply.status == 200 and frames[0][0] == 0, reply.body
    assert blobs_pb2.UploadResponse.FromString(frames[0][1]).digest.hash == d.hash
    bad = _envelopes(
        blobs_pb2.UploadRequest(namespace=a, digest=_digest(b"x" * 10), data=b"x" * 5),
        blobs_pb2.UploadRequest(namespace=b, data=b"x" * 5),
    )
    reply = await rawhttp.request(auth_server.http_port, "POST", path, headers=headers, body=bad)
    end = [json.loads(f) for flags, f in _frames(reply.body) if flags & 0x02]
    assert end and end[0]["error"]["code"] == "invalid_argument", reply.body
    reader = {**headers, "authorization": f"Bearer {tok[a, Role.READER]}"}
    reply = await rawhttp.request(auth_server.http_port, "POST", path, headers=reader, body=good)
    end = [json.loads(f) for flags, f in _frames(reply.body) if flags & 0x02]
    assert end and end[0]["error"]["code"] == "permission_denied", reply.body


def test_matrix_report() -> None:
    """Prints how the matrix's calls ended (runs last in this module)."""
    print("tenant matrix:", len(CASES), "cases;", dict(SEEN))
