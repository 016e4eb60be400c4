"""Server-side writers mark a blob in use in the blob index before reusing it, so garbage
collection (which locks and checks those rows) never deletes a blob a row is about to reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import artimeta
from artimeta_server.domain.digests import Digest
from artimeta_server.server import Server


async def test_documents_in_the_blob_store_are_marked_in_use(
    aclient: artimeta.AsyncClient, server: Server, namespace: str
) -> None:
    assert server.domain is not None
    ns_id = await server.domain.namespaces.resolve(namespace)
    data = b"a document too large to keep inline " * 400
    async with server.domain.db.connection() as conn:
        before = await conn.fetchval("SELECT count(*) FROM blobs WHERE namespace_id = $1", ns_id)
        stored = await server.domain.documents.store(ns_id, data)
        assert stored.digest == Digest.of(data)
        # Age the mark, then reuse the same bytes: the mark is refreshed.
        await conn.execute("UPDATE blobs SET last_used = now() - interval '1 day' WHERE namespace_id = $1", ns_id)
        await server.domain.documents.store(ns_id, data)
        row = await conn.fetchrow(
            "SELECT count(*) AS n, max(last_used) AS used FROM blobs WHERE namespace_id = $1 AND hash = $2 AND size = $3",
            ns_id,
            stored.digest.hash,
            stored.digest.size,
        )
    assert before == 0
    assert row["n"] == 1
    assert row["used"] > datetime.now(UTC) - timedelta(minutes=5)
