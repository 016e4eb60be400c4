"""`artimeta-server gc`: only blobs nothing references, not used lately and older than the grace
period go; dry runs delete nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

from artimeta.blobs import Blobs, Digest
from artimeta.records import Records
from artimeta_server.server import Server
from artimeta_server.storage.blobs.keys import cas_key
from artimeta_server.storage.gc import collect
from tests.api.blobs.test_blobs import cas_keys, ns_id, run


async def test_gc_keeps_referenced_recent_and_in_flight(
    blobs: Blobs, blob_server: Server, blob_ns: str, tmp_path: Path
) -> None:
    assert blob_server.domain is not None
    db, store = blob_server.domain.db, blob_server.domain.blob_store
    ns = await ns_id(blob_server, blob_ns)
    loose = await run(blobs.put_bytes, b"nobody needs me")
    keyed = await run(blobs.put_object, "k", b"a key points here")
    (tmp_path / "f").write_bytes(b"a record file")
    await run(Records(blobs.client, blob_ns, blobs=blobs).commit_directory, "rec000000009", tmp_path)
    in_flight = await run(blobs.put_bytes, b"an upload in flight needs me")
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO blob_uploads (namespace_id, upload_id, hash, size, object_key, expire_time) "
            "VALUES ($1, $2, $3, $4, 'x', now() + interval '1 hour')",
            ns,
            uuid.uuid4(),
            in_flight.hash,
            in_flight.size,
        )
    await asyncio.sleep(1.1)  # S3 modification times have one-second resolution
    recent = await run(blobs.put_bytes, b"just handed out")
    async with db.connection() as conn:
        await conn.execute("UPDATE blobs SET last_used = now() + interval '1 minute' WHERE hash = $1", recent.hash)
    assert len(await cas_keys(blob_server, blob_ns)) == 5

    young = await collect(db, store, grace_s=3600, namespace=blob_ns)
    assert (young.blobs_deleted, young.kept_young) == (0, 5)

    dry = await collect(db, store, grace_s=0, dry_run=True, namespace=blob_ns)
    assert (dry.blobs_deleted, dry.bytes_deleted) == (1, loose.size)
    assert len(await cas_keys(blob_server, blob_ns)) == 5, "a dry run deletes nothing"

    real = await collect(db, store, grace_s=0, namespace=blob_ns)
    assert (real.blobs_deleted, real.kept_referenced, real.kept_recently_used) == (1, 3, 1)
    left = set(await cas_keys(blob_server, blob_ns))
    assert cas_key(ns, loose) not in left  # type: ignore[arg-type]
    assert {cas_key(ns, d) for d in (keyed, in_flight, recent, Digest.of(b"a record file"))} == left  # type: ignore[arg-type]
    assert await run(blobs.find_missing, [loose, keyed]) == [loose]
    assert await run(blobs.get_object, "k") == b"a key points here"


def test_gc_command_dry_run(stack: object, venv_bin: Path) -> None:
    from artimeta_server.devstack.stack import Stack

    assert isinstance(stack, Stack)
    out = subprocess.run(
        [str(venv_bin / "artimeta-server"), "gc", "--dry-run", "--grace-seconds", "86400"],
        env={**os.environ, **stack.env(), "ARTIMETA_LOG_JSON": "false", "ARTIMETA_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    import json

    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["dry_run"] is True and report["namespaces"] >= 0
