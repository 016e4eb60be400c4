"""arti's Connection: the partitions of storages and of snapshot artifacts, written as set unions
in one transaction and read back as streams or pages of their canonical bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from artimeta_server.domain.connection import fields
from artimeta_server.domain.connection.documents import Documents
from artimeta_server.domain.connection.models import InputFilter, PartitionBatch
from artimeta_server.domain.connection.partition_bodies import CHUNK_BYTES, CHUNK_ROWS, PartitionBodies
from artimeta_server.domain.connection.ports import ConnectionRepository
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.pagination import Page, decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason


class PartitionService:
    def __init__(
        self,
        repo: ConnectionRepository,
        namespaces: Namespaces,
        documents: Documents,
        *,
        chunk_rows: int = CHUNK_ROWS,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._repo = repo
        self._ns = namespaces
        self.bodies = PartitionBodies(documents, chunk_rows=chunk_rows, chunk_bytes=chunk_bytes)

    async def write_artifact_partitions(
        self, namespace: str, storage_fingerprint: int, batches: Iterable[PartitionBatch]
    ) -> int:
        """Adds partitions to a storage in one transaction; `batches` are consumed one at a time."""
        ns = await self._ns.resolve(namespace)
        return await self._repo.add_storage_partitions(ns, storage_fingerprint, self.bodies.stored(ns, batches))

    async def write_snapshot_partitions(
        self,
        namespace: str,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        batches: Iterable[PartitionBatch],
    ) -> int:
        fields.graph_name(name)
        fields.artifact_key(artifact_key)
        ns = await self._ns.resolve(namespace)
        return await self._repo.add_snapshot_partitions(
            ns, name, snapshot_fingerprint, artifact_key, self.bodies.stored(ns, batches)
        )

    async def write_artifact_and_graph_partitions(
        self,
        namespace: str,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        storage_fingerprint: int,
        batches: Iterable[PartitionBatch],
    ) -> tuple[int, int]:
        fields.graph_name(name)
        fields.artifact_key(artifact_key)
        ns = await self._ns.resolve(namespace)
        return await self._repo.add_artifact_and_snapshot_partitions(
            ns, storage_fingerprint, name, snapshot_fingerprint, artifact_key, self.bodies.stored(ns, batches)
        )

    async def read_artifact_partitions(
        self, namespace: str, storage_fingerprint: int, wanted: InputFilter | None
    ) -> AsyncIterator[list[bytes]]:
        """Partition bodies in chunks. `wanted` None or empty: every partition of the storage."""
        ns = await self._ns.resolve(namespace)
        if wanted is not None and not wanted.keys:
            wanted = None
        rows = self._repo.storage_partitions(ns, storage_fingerprint, wanted, self.bodies.chunk_rows)
        async for chunk in self.bodies.chunks(ns, rows):
            yield chunk

    async def read_snapshot_partitions(
        self, namespace: str, name: str, snapshot_fingerprint: int, artifact_key: str
    ) -> AsyncIterator[list[bytes]]:
        fields.graph_name(name)
        fields.artifact_key(artifact_key)
        ns = await self._ns.resolve(namespace)
        rows = self._repo.snapshot_partitions(ns, name, snapshot_fingerprint, artifact_key, self.bodies.chunk_rows)
        async for chunk in self.bodies.chunks(ns, rows):
            yield chunk

    async def list_snapshot_partitions(
        self, namespace: str, name: str, snapshot_fingerprint: int, artifact_key: str, size: int, token: str
    ) -> Page[bytes]:
        """One page of the partition bodies linked to an artifact of a snapshot, in ident order."""
        fields.graph_name(name)
        fields.artifact_key(artifact_key)
        limit = page_size(size)
        after = decode_token("partitions", token, (str,))
        try:
            after_ident = None if after is None else bytes.fromhex(str(after[0]))
        except ValueError:
            after_ident = b""
        if after_ident is not None and len(after_ident) != 16:
            raise InvalidArgument(
                "page_token is not one this list returned",
                reason=Reason.INVALID_PAGE_TOKEN,
                metadata={"field": "page_token"},
            )
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.snapshot_partitions_page(
            ns, name, snapshot_fingerprint, artifact_key, after_ident, limit + 1
        )
        nxt = encode_token("partitions", [rows[limit - 1][0].hex()]) if len(rows) > limit else ""
        return Page([await self.bodies.load(ns, body) for _, body in rows[:limit]], nxt)
