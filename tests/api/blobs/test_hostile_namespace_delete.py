"""Writes in flight while their namespace is deleted leave nothing behind once gc has run, and
gc refuses a grace period that could delete blobs handed out moments ago."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import artimeta
from artimeta.blobs import Blobs
from artimeta_server.server import Server
from artimeta_server.storage.blobs.keys import namespace_prefix
from artimeta_server.storage.gc import collect
from tests.api.blobs.test_blobs import run
from tests.conftest import unique_name

WRITES = 5_000


async def test_writes_racing_a_namespace_delete_converge_to_nothing(
    sync_client: artimeta.Client, blob_server: Server
) -> None:
    assert blob_server.domain is not None
    store = blob_server.domain.blob_store
    name = unique_name()
    await run(sync_client.create_namespace, name)
    ns = await blob_server.domain.namespaces.resolve(name)
    prefix = namespace_prefix(ns)
    blobs = Blobs(sync_client, name)
    await run(blobs.put_bytes, b"written before the delete")
    inside, release = asyncio.Event(), asyncio.Event()

    async def hold_first_put(op: str, keys: tuple[str, ...]) -> None:
        # One server-side write is held past the delete (its PUT lands after the namespace's
        # purge); the clients' writes race it freely.
        if op == "put" and keys[0].startswith(prefix) and not inside.is_set():
            inside.set()
            await release.wait()

    # Each writer goes on until the namespace's deletion stops it (bounded by WRITES and by
    # time), so a fast machine cannot finish a writer before the delete has begun.
    def writer(seed: int) -> int | None:
        until = time.monotonic() + 60
        for i in range(WRITES):
            try:
                blobs.put_bytes(os.urandom(500 + seed * 100 + i % 1000))
            except artimeta.ArtimetaError:
                return i
            if time.monotonic() > until:
                break
        return None

    async def server_side_writer() -> int | None:
        # What documents, cache values and op bodies go through (S3BlobStore.put).
        until = time.monotonic() + 60
        for i in range(WRITES):
            try:
                await store.put(ns, os.urandom(700 + i % 1000))
            except Exception:  # the namespace is gone
                return i
            if time.monotonic() > until:
                break
        return None

    store.hook = hold_first_put
    try:
        held = asyncio.create_task(server_side_writer())
        await asyncio.wait_for(inside.wait(), 30)
        racers = [asyncio.create_task(run(writer, n)) for n in range(1, 4)]
        await asyncio.sleep(0.2)
        await run(sync_client.delete_namespace, name)
        release.set()
        written = await asyncio.gather(held, *racers)
    finally:
        release.set()
        store.hook = None
    assert None not in written, f"every writer saw the namespace go: {written}"
    # The janitor's next round (every replica runs it) purges again: the tombstone outlives
    # the writes that resolved the namespace before its deletion.
    purged = await blob_server.domain.namespaces.purge_tombstones()
    left = await store.list_prefix(prefix)
    assert left == [], f"{len(left)} objects left under the deleted namespace after the janitor"
    # Whatever lands later still (a slower write, an upload a crash left incomplete) goes with gc.
    await store.put_object(f"{prefix}cas/ab/{'c' * 62}", b"late")
    late_upload = await store.start_multipart(f"{prefix}cas/cd/{'e' * 62}")
    listed = {u for _, u in await store.multipart_uploads()}
    report = await collect(blob_server.domain.db, store)
    left = await store.list_prefix(prefix)
    assert left == [], f"{len(left)} objects left under the deleted namespace after gc"
    if late_upload in listed:  # the server lists incomplete uploads
        assert late_upload not in {u for _, u in await store.multipart_uploads()}
    print(
        f"writes that succeeded {written}; janitor purged {purged}; gc swept "
        f"{report.deleted_namespace_objects} objects, aborted {report.uploads_aborted} uploads "
        f"(listable: {late_upload in listed})"
    )


def test_gc_refuses_a_grace_below_the_touch_interval(stack: object, venv_bin: Path) -> None:
    from artimeta_server.devstack.stack import Stack

    assert isinstance(stack, Stack)
    for grace in ("0", "299", "599"):  # the touch interval is 300 s
        out = subprocess.run(
            [str(venv_bin / "artimeta-server"), "gc", "--dry-run", "--grace-seconds", grace],
            env={**os.environ, **stack.env(), "ARTIMETA_LOG_JSON": "false", "ARTIMETA_LOG_LEVEL": "WARNING"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 2, (grace, out.stdout, out.stderr)
        assert "--grace-seconds must be at least" in out.stderr
        assert out.stdout == ""
