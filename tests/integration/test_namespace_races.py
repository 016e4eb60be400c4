"""A write that races the deletion of its namespace reports NAMESPACE_NOT_FOUND, not INTERNAL."""

from __future__ import annotations

import pytest

import artimeta
from artimeta_server.domain.errors import NotFound
from artimeta_server.server import Server


async def test_write_into_a_namespace_deleted_meanwhile(
    aclient: artimeta.AsyncClient, server: Server, namespace: str
) -> None:
    assert server.domain is not None
    ns_id = await server.domain.namespaces.resolve(namespace)
    await aclient.delete_namespace(namespace)
    with pytest.raises(NotFound) as err:
        async with server.domain.db.connection() as conn:
            await conn.execute(
                "INSERT INTO blob_keys (namespace_id, key, hash, size) VALUES ($1, 'k', $2, 0)", ns_id, "0" * 64
            )
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
