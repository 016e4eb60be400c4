"""One node of a four-node, erasure-coded MinIO cluster is SIGKILLed while uploads and downloads
run through the artimeta server: every acknowledged blob stays readable and verified and uploads
go on with three nodes. Then a second node dies, below the write quorum: uploads fail (as
UNAVAILABLE, or at the client's deadline), reads still work, and an upload that failed left no
indexed blob; once it is back, uploads go on. The cluster is this module's own, so killing its
nodes disturbs no other test."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import artimeta
from artimeta.blobs import Blobs, Digest
from artimeta_server.devstack.s3 import MinioCluster, S3Credentials, minio_binary
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.api.blobs.conftest import TEST_PART_BYTES
from tests.conftest import settings_for, unique_name

UPLOADERS = 4
DOWNLOADERS = 2
BEFORE_KILL = 15  # acknowledged uploads before the node dies
AFTER_KILL = 20  # and after it, on three nodes
DEADLINE_S = 150
CHUNK = 1024 * 1024
KILLED = 2  # index of the node killed: not the one the server talks to
SECOND = 3  # then a second one: below write quorum, uploads must fail cleanly
FAILED_WANTED = 4
TWO_DOWN_S = 20  # at most this long below quorum
RESUMED = 5  # acknowledged uploads once the second node is back


@pytest.fixture(scope="module")
def cluster(tmp_root: Path) -> Iterator[tuple[MinioCluster, float]]:
    if minio_binary() is None:
        pytest.skip("MinIO is not built (needs Go: scripts/ensure-minio.sh); the node-loss test is skipped")
    c = MinioCluster(tmp_root / unique_name("minio-loss"), S3Credentials.generate())
    started = time.perf_counter()
    try:
        c.start()
        yield c, time.perf_counter() - started
    finally:
        c.stop()


@pytest.fixture(scope="module")
async def loss_server(cluster: tuple[MinioCluster, float], stack: Stack) -> AsyncIterator[Server]:
    c, _ = cluster
    settings = settings_for(
        stack,
        s3_endpoint=c.endpoint,
        s3_access_key=c.creds.access_key,
        s3_secret_key=c.creds.secret_key,
        s3_bucket=unique_name("loss"),
        # Below quorum MinIO may sit on a request: a short timeout turns that into UNAVAILABLE
        # well inside the client's deadline.
        s3_timeout_s=5.0,
        max_message_bytes=4 * 1024 * 1024,
        janitor_interval_s=3600,
    )
    srv = Server(settings)
    try:
        await srv.start(migrate_schema=True)
        assert srv.domain is not None
        # The smallest part S3 accepts, so large blobs are multipart uploads of several parts.
        srv.domain.blobs.uploads.part_bytes = TEST_PART_BYTES
        yield srv
    finally:
        await srv.stop(0.5)


def blob_bytes(rng: random.Random) -> bytes:
    # Mostly single-part blobs, one in three a multipart upload of three parts.
    size = 2 * TEST_PART_BYTES + 1024 * 1024 if rng.random() < 1 / 3 else rng.randint(16 * 1024, 900 * 1024)
    return os.urandom(size)


@dataclass
class Transfers:
    blobs: Blobs
    acked: dict[Digest, str] = field(default_factory=dict)  # digest -> sha256 of what was sent
    acked_after_kill: int = 0
    failed: list[tuple[Digest, str]] = field(default_factory=list)  # (digest, code:reason)
    downloads: Counter[str] = field(default_factory=Counter)  # "verified" or code:reason
    in_flight: Counter[str] = field(default_factory=Counter)
    killed: bool = False
    second_down: bool = False
    downloads_two_down: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def uploader(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            data = blob_bytes(rng)
            digest = Digest.of(data)
            chunks = (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))
            with self.lock:
                self.in_flight["upload"] += 1
            try:
                self.blobs.upload_iter(chunks, digest=digest)
            except artimeta.ArtimetaError as err:
                with self.lock:
                    self.failed.append((digest, f"{err.code.name}:{err.reason}"))
                time.sleep(0.05)
            else:
                with self.lock:
                    self.acked[digest] = hashlib.sha256(data).hexdigest()
                    self.acked_after_kill += self.killed
            finally:
                with self.lock:
                    self.in_flight["upload"] -= 1

    def downloader(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            with self.lock:
                known = list(self.acked.items())
            if not known:
                time.sleep(0.05)
                continue
            digest, sha = rng.choice(known)
            with self.lock:
                self.in_flight["download"] += 1
            try:
                # The client checks the digest at the end (DataLoss otherwise); check it here too.
                got = hashlib.sha256(b"".join(self.blobs.download(digest))).hexdigest()
                outcome = "verified" if got == sha else "corrupt"
            except artimeta.ArtimetaError as err:
                outcome = f"{err.code.name}:{err.reason}"
            finally:
                with self.lock:
                    self.in_flight["download"] -= 1
            with self.lock:
                (self.downloads_two_down if self.second_down else self.downloads)[outcome] += 1

    def wait(self, done: Callable[[], object], threads: list[threading.Thread], deadline: float, what: str) -> None:
        while not done():
            assert all(t.is_alive() for t in threads), "a transfer thread died"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)


async def test_a_node_killed_mid_transfer_loses_no_acknowledged_blob(
    cluster: tuple[MinioCluster, float], loss_server: Server
) -> None:
    c, start_s = cluster
    target = f"127.0.0.1:{loss_server.port}"
    name = unique_name()
    deadline = time.monotonic() + DEADLINE_S
    # No client retries: every failure the server gives is counted, and must be UNAVAILABLE.
    with artimeta.Client(target, retry=None, timeout=15) as client:
        await asyncio.to_thread(client.create_namespace, name)
        load = Transfers(Blobs(client, name))
        threads = [threading.Thread(target=load.uploader, args=(i,), daemon=True) for i in range(UPLOADERS)]
        threads += [threading.Thread(target=load.downloader, args=(100 + i,), daemon=True) for i in range(DOWNLOADERS)]
        load_at = time.monotonic()
        for t in threads:
            t.start()
        try:
            await asyncio.to_thread(
                load.wait,
                lambda: len(load.acked) >= BEFORE_KILL and load.in_flight["upload"] and load.in_flight["download"],
                threads,
                deadline,
                "uploads and downloads in flight",
            )
            with load.lock:
                at_kill = {"acked": len(load.acked), **load.in_flight}
                load.killed = True
            c.nodes[KILLED].kill()
            killed_at = time.monotonic()
            downloads_at_kill = sum(load.downloads.values())
            await asyncio.to_thread(
                load.wait,
                lambda: load.acked_after_kill >= AFTER_KILL and sum(load.downloads.values()) >= downloads_at_kill + 20,
                threads,
                deadline,
                "uploads and downloads on three nodes",
            )
            # Two nodes down is below MinIO's write quorum (EC 2+2 needs three drives to write):
            # uploads now fail, and must fail without leaving a blob behind.
            with load.lock:
                acked_on_three = len(load.acked)
                failed_on_three = len(load.failed)
                load.second_down = True
            c.nodes[SECOND].kill()
            second_at = time.monotonic()
            until = min(deadline, time.monotonic() + TWO_DOWN_S)
            await asyncio.to_thread(
                load.wait,
                lambda: len(load.failed) >= failed_on_three + FAILED_WANTED or time.monotonic() > until,
                threads,
                deadline,
                "uploads to fail on two nodes",
            )
            ended_at = time.monotonic()
            # The second node comes back: quorum returns and uploads go on again.
            with load.lock:
                acked_on_two = len(load.acked)
            await asyncio.to_thread(c.nodes[SECOND].start)
            await asyncio.to_thread(
                load.wait, lambda: len(load.acked) >= acked_on_two + RESUMED, threads, deadline, "uploads to resume"
            )
            resumed_at = time.monotonic()
        finally:
            load.stop.set()
            for t in threads:
                await asyncio.to_thread(t.join, 60)
        assert not any(t.is_alive() for t in threads)

        # Every acknowledged blob reads back whole and verified, on two nodes even.
        stopped_at = time.monotonic()

        def read_back(digest: Digest) -> bytes:  # in a thread: this event loop serves the server
            return b"".join(load.blobs.download(digest))

        reread: Counter[str] = Counter()
        for digest, sha in load.acked.items():
            got = await asyncio.to_thread(read_back, digest)
            reread["verified" if hashlib.sha256(got).hexdigest() == sha else "corrupt"] += 1
        reread_s = time.monotonic() - stopped_at

        # Nothing is half-visible: every blob the index holds reads back whole and verified. An
        # upload the server failed (UNAVAILABLE) left no indexed blob. One whose caller gave up
        # at its deadline may still have been finished by the server and the store: if so it is
        # there whole, by its digest; never a part of one.
        assert loss_server.domain is not None
        ns = await loss_server.domain.namespaces.resolve(name)
        async with loss_server.domain.db.connection() as conn:
            rows = await conn.fetch("SELECT hash, size FROM blobs WHERE namespace_id = $1", ns)
        indexed_check: Counter[str] = Counter()
        for r in rows:
            digest = Digest(r["hash"], r["size"])
            got = await asyncio.to_thread(read_back, digest)
            indexed_check["verified" if Digest.of(got) == digest else "corrupt"] += 1
        indexed = {Digest(r["hash"], r["size"]) for r in rows}
        refused = {d for d, code in load.failed if code.startswith("UNAVAILABLE:")}
        gave_up = {d for d, code in load.failed if code.startswith("DEADLINE_EXCEEDED:")}
        failed = [d for d, _ in load.failed]
        missing = set(await asyncio.to_thread(load.blobs.find_missing, failed)) if failed else set()
        late: Counter[str] = Counter()
        for digest in set(failed) - missing:
            got = await asyncio.to_thread(read_back, digest)
            late["verified" if Digest.of(got) == digest else "corrupt"] += 1

    print(
        json.dumps(
            {
                "cluster_start_s": round(start_s, 2),
                "four_nodes_s": round(killed_at - load_at, 1),
                "in_flight_at_kill": at_kill,
                "three_nodes": {
                    "seconds": round(second_at - killed_at, 1),
                    "uploads_acknowledged": acked_on_three - at_kill["acked"],
                    "uploads_failed": failed_on_three,
                    "downloads": dict(load.downloads),
                },
                "two_nodes": {
                    "seconds": round(ended_at - second_at, 1),
                    "uploads_acknowledged": acked_on_two - acked_on_three,
                    "uploads_failed": dict(Counter(code for _, code in load.failed[failed_on_three:])),
                    "downloads": dict(load.downloads_two_down),
                },
                "three_nodes_again": {
                    "seconds": round(resumed_at - ended_at, 1),
                    "uploads_acknowledged": len(load.acked) - acked_on_two,
                },
                "uploads_acknowledged": len(load.acked),
                "reread_verified": reread["verified"],
                "drain_s": round(stopped_at - resumed_at, 1),
                "reread_s": round(reread_s, 1),
                "lost_or_corrupt": len(load.acked) - reread["verified"],
                "indexed_blobs": dict(indexed_check),
                "refused_uploads_indexed": len(refused & indexed),
                "timed_out_uploads_indexed": len(gave_up & indexed),
                "failed_found_whole_later": dict(late),
            }
        )
    )
    assert reread == Counter(verified=len(load.acked)), reread
    # One node down is within MinIO's quorum: nothing fails.
    assert failed_on_three == 0, load.failed
    assert all(o == "verified" for o in load.downloads), load.downloads
    # Two down is below the write quorum (EC 2+2 writes need three drives): uploads fail as
    # UNAVAILABLE, or run into the client's deadline, never INTERNAL; reads still work, and no
    # download hands out wrong bytes (the client would raise DATA_LOSS).
    assert load.failed, "two nodes down is below the write quorum: some upload must fail"
    codes = Counter(code.split(":")[0] for _, code in load.failed)
    # Which of the two a refused upload gets depends on whether MinIO's refusal reaches the server
    # before the client's deadline, which a loaded machine decides: either is a true answer.
    assert set(codes) <= {"UNAVAILABLE", "DEADLINE_EXCEEDED"}, codes
    assert all(o == "verified" or o.startswith("UNAVAILABLE:") for o in load.downloads_two_down), (
        load.downloads_two_down
    )
    assert indexed_check == Counter(verified=len(rows)), indexed_check
    assert not refused & indexed
    assert late["corrupt"] == 0, late
