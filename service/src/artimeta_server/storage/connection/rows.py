"""Rows of arti's Connection tables as the domain's records, and what their writes share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from artimeta_server.domain.connection.documents import Documents
from artimeta_server.domain.connection.models import DocumentRow, SnapshotTag
from artimeta_server.domain.errors import NotFound
from artimeta_server.domain.reasons import Reason

GRAPH_COLS = "name, fingerprint, 0::bigint AS snapshot_id, 0::bigint AS graph_fingerprint, document, document_hash, document_size, document_format, code_refs, create_time"
SNAPSHOT_COLS = "name, fingerprint, snapshot_id, graph_fingerprint, document, document_hash, document_size, document_format, code_refs, create_time"
LIST_GRAPH_COLS = "name, fingerprint, 0::bigint AS snapshot_id, 0::bigint AS graph_fingerprint, NULL::bytea AS document, NULL::text AS document_hash, document_size, document_format, code_refs, create_time"
LIST_SNAPSHOT_COLS = "name, fingerprint, snapshot_id, graph_fingerprint, NULL::bytea AS document, NULL::text AS document_hash, document_size, document_format, code_refs, create_time, seq"
TAG_COLS = "name, tag, snapshot_fingerprint, actor, update_time"


def document_row(r: asyncpg.Record) -> DocumentRow:
    return DocumentRow(
        name=r["name"],
        fingerprint=r["fingerprint"],
        snapshot_id=r["snapshot_id"],
        graph_fingerprint=r["graph_fingerprint"],
        document=Documents.from_row(r["document"], r["document_hash"], r["document_size"]),
        document_size=r["document_size"],
        document_format=r["document_format"],
        code_refs=tuple(r["code_refs"]),
        create_time=r["create_time"],
    )


def snapshot_tag(r: asyncpg.Record) -> SnapshotTag:
    return SnapshotTag(r["name"], r["tag"], r["snapshot_fingerprint"], r["actor"], r["update_time"])


def count(status: str) -> int:
    """The row count of a command status ("INSERT 0 1")."""
    return int(status.rsplit(" ", 1)[-1])


@contextlib.asynccontextmanager
async def namespace_gone() -> AsyncIterator[None]:
    # The only foreign key of these rows is their namespace: it was deleted after it was resolved.
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise namespace_deleted() from None


def namespace_deleted() -> NotFound:
    return NotFound("the namespace was deleted during the call", reason=Reason.NAMESPACE_NOT_FOUND, metadata={})
