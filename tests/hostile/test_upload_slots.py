"""A caller that opens upload streams and goes silent cannot keep the upload slots: a stream
silent for ARTIMETA_UPLOAD_IDLE_TIMEOUT_S ends ABORTED (UPLOAD_IDLE) and gives its slot back,
so the next caller's upload, waiting for that slot, goes through."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from artimeta.v1 import blobs_pb2 as pb
from artimeta.v1 import blobs_pb2_grpc, digest_pb2, namespace_pb2, namespace_pb2_grpc
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.conftest import settings_for, unique_name


@pytest.fixture(scope="module")
async def one_slot(stack: Stack) -> AsyncIterator[Server]:
    srv = Server(settings_for(stack, upload_slots=1, upload_idle_timeout_s=1.0))
    await srv.start(migrate_schema=True)
    yield srv
    await srv.stop(0.2)


def reason(exc: grpc.aio.AioRpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            assert isinstance(value, bytes)
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return ""


async def test_a_silent_stream_gives_its_slot_back(one_slot: Server) -> None:
    ns = unique_name()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{one_slot.port}") as ch:
        await namespace_pb2_grpc.NamespaceServiceStub(ch).CreateNamespace(
            namespace_pb2.CreateNamespaceRequest(namespace=namespace_pb2.Namespace(name=ns))
        )
        stub = blobs_pb2_grpc.BlobServiceStub(ch)
        data = b"after the silent one"
        digest = digest_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
        hold = asyncio.Event()

        async def silent() -> AsyncIterator[pb.UploadRequest]:
            yield pb.UploadRequest(namespace=ns, data=b"first bytes, then nothing")
            await hold.wait()

        async def honest() -> AsyncIterator[pb.UploadRequest]:
            yield pb.UploadRequest(namespace=ns, digest=digest, data=data)

        stalled = asyncio.ensure_future(stub.Upload(silent(), timeout=30))
        await asyncio.sleep(0.2)  # the silent stream has the only slot
        started = asyncio.get_running_loop().time()
        reply = await stub.Upload(honest(), timeout=30)
        waited = asyncio.get_running_loop().time() - started
        assert reply.digest == digest and waited >= 0.5
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stalled
        hold.set()
    assert err.value.code() == grpc.StatusCode.ABORTED and reason(err.value) == "UPLOAD_IDLE"
