"""Killing the server in the middle of an upload leaves no visible blob; the retry succeeds and
gc later aborts the abandoned multipart upload."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest

import artimeta
from artimeta.blobs import Blobs, Digest
from artimeta_server.devstack.procs import free_port
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from artimeta_server.storage.blobs.keys import cas_key
from artimeta_server.storage.gc import collect
from tests.api.blobs.test_blobs import ns_id, run
from tests.conftest import unique_name


def start(stack: Stack, venv_bin: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, **stack.env(), "ARTIMETA_LISTEN": f"127.0.0.1:{port}", "ARTIMETA_LOG_JSON": "false"}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(venv_bin / "artimeta-server"), "serve", "--migrate"], env=env, stdout=out, stderr=out
        )
    target = f"127.0.0.1:{port}"
    with grpc.insecure_channel(target) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
    return proc, target


@pytest.fixture
def killable(stack: Stack, venv_bin: Path, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


async def test_kill_mid_upload_then_retry(
    stack: Stack, venv_bin: Path, tmp_path: Path, server: Server, killable: list[subprocess.Popen[bytes]]
) -> None:
    proc, target = start(stack, venv_bin, tmp_path / "server.log")
    killable.append(proc)
    name = unique_name()
    data = os.urandom(40 * 1024 * 1024)  # more than two 16 MiB parts
    digest = Digest.of(data)
    sent = {"n": 0}

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 1024 * 1024):
            if sent["n"] == 36:  # two parts are in S3 by now; the third is being buffered
                time.sleep(1.0)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            sent["n"] += 1
            yield data[i : i + 1024 * 1024]

    with artimeta.Client(target, retry=None) as client:
        client.create_namespace(name)
        blobs = Blobs(client, name)
        with pytest.raises(artimeta.ArtimetaError) as err:
            await run(blobs.upload_iter, chunks(), digest=digest)
    # The generator's thread may still be inside proc.wait(); wait here too before checking.
    assert proc.wait(timeout=30) == -signal.SIGKILL, f"the upload failed before the kill: {err.value!r}"

    # Nothing is visible, through the service or in S3; the upload is recorded as in flight.
    assert server.domain is not None
    ns = await ns_id(server, name)
    assert await server.domain.blob_store.stat_object(cas_key(ns, digest)) is None  # type: ignore[arg-type]
    async with artimeta.AsyncClient(f"127.0.0.1:{server.port}") as ac:
        from artimeta.v1 import blobs_pb2, blobs_pb2_grpc

        stub = ac.stub(blobs_pb2_grpc.BlobServiceStub)
        missing = await ac.call(
            stub.FindMissingBlobs, blobs_pb2.FindMissingBlobsRequest(namespace=name, digests=[digest.to_proto()])
        )
        assert len(missing.missing_digests) == 1
    async with server.domain.db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM blob_uploads WHERE namespace_id = $1", ns) == 1

    # A new server process; the retry goes through.
    proc2, target2 = start(stack, venv_bin, tmp_path / "server2.log")
    killable.append(proc2)
    with artimeta.Client(target2) as client:
        blobs = Blobs(client, name)
        assert await run(blobs.upload_iter, iter([data]), digest=digest) == digest
        assert b"".join(await run(lambda: list(blobs.download(digest)))) == data
    # Streaming holds a few parts, not the blob: the server's peak RSS stays small.
    peak_kib = next(
        int(line.split()[1])
        for line in Path(f"/proc/{proc2.pid}/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    assert peak_kib < 200 * 1024, f"server peak RSS {peak_kib // 1024} MiB"

    # Once its lease has passed, gc aborts the abandoned multipart upload.
    later = datetime.now(UTC) + timedelta(days=1)
    report = await collect(server.domain.db, server.domain.blob_store, grace_s=3 * 86400, namespace=name, now=later)
    assert report.uploads_aborted == 1 and report.blobs_deleted == 0
    async with server.domain.db.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM blob_uploads WHERE namespace_id = $1", ns) == 0
    assert await server.domain.blob_store.stat_object(cas_key(ns, digest)) is not None  # type: ignore[arg-type]
