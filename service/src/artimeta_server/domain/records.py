"""RecordService use cases: record directories as manifests of blobs (machinable's storage).

The client asks which file blobs are missing, uploads only those, then commits the manifest; a
commit naming an absent blob is refused, so a committed record never points at missing bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from artimeta_server.domain import validation
from artimeta_server.domain.blobs import Blobs
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.pagination import decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason

FILE, DIRECTORY, SYMLINK = 1, 2, 3
MAX_ENTRIES = 200_000
MAX_PATH = 4096
_DRIVE = re.compile(r"^[A-Za-z]:([/\\]|$)")
MAX_RELATED = 10_000
MAX_RELATION_DEPTH = 64
MAX_MODE = 0o7777  # permission bits with setuid, setgid and sticky: what stat.S_IMODE keeps
_UUID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    kind: int
    mode: int = 0
    digest: Digest | None = None
    mtime_ns: int = 0
    link_target: str = ""


@dataclass(frozen=True, slots=True)
class Relation:
    related_uuid: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    uuid: str
    metadata: dict[str, str]
    relations: list[Relation]
    entries: list[Entry]
    file_count: int
    total_size: int
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordPage:
    records: list[Record] = field(default_factory=list)
    next_page_token: str = ""


class RecordRepository(Protocol):
    async def commit(
        self,
        namespace_id: int,
        uuid: str,
        entries: list[Entry],
        metadata: dict[str, str] | None,
        relations: list[Relation],
        *,
        replace: bool,
    ) -> tuple[Record, bool]: ...

    async def get(self, namespace_id: int, uuid: str, *, with_entries: bool) -> Record | None: ...

    async def delete(self, namespace_id: int, uuid: str) -> bool: ...

    async def page(
        self, namespace_id: int, prefix: str, metadata: dict[str, str], after: str | None, limit: int
    ) -> list[Record]: ...

    async def neighbours(self, namespace_id: int, uuids: list[str], limit: int) -> list[str]: ...


def _bounded_walk(found: int, depth: int) -> None:
    if found > MAX_RELATED or depth > MAX_RELATION_DEPTH:
        raise FailedPrecondition(
            f"the relation walk exceeds {MAX_RELATED} records or {MAX_RELATION_DEPTH} levels; "
            "walk it level by level (deep=false)",
            reason=Reason.RELATION_WALK_TOO_LARGE,
            metadata={"max_records": str(MAX_RELATED), "max_depth": str(MAX_RELATION_DEPTH)},
        )


def validate_uuid(uuid: str, field_name: str = "uuid") -> str:
    if not _UUID.match(uuid):
        raise InvalidArgument(
            f"{field_name} must be 1 to 128 letters, digits, '.', '_', ':' or '-'",
            reason=Reason.INVALID_UUID,
            metadata={"field": field_name},
        )
    return uuid


def validate_path(path: str) -> str:
    segments = path.split("/")
    if (
        not path
        or len(path) > MAX_PATH
        or "\x00" in path
        or "\\" in path
        or any(s in {"", ".", ".."} for s in segments)
    ):
        raise InvalidArgument(
            f"entry path {path[:200]!r} must be relative, '/'-separated, without '.', '..' or empty segments",
            reason=Reason.INVALID_PATH,
            metadata={"field": "entries.path"},
        )
    return path


def validate_link_target(path: str, target: str) -> str:
    """A link that only ever points down into its own record: relative, no '..' (whose meaning
    after another link is not what it reads as), so retrieving it cannot reach outside."""
    validation.text(target, field="entries.link_target", max_len=MAX_PATH, required=True)
    segments = target.replace("\\", "/").split("/")
    if target.startswith(("/", "\\")) or _DRIVE.match(target) or ".." in segments:
        raise InvalidArgument(
            f"symlink {path[:200]!r} points at {target[:200]!r}: targets must be relative and without '..'",
            reason=Reason.UNSAFE_LINK_TARGET,
            metadata={"field": "entries.link_target", "path": path[:256]},
        )
    return target


def _check_parents(entries: list[Entry]) -> None:
    """No entry lies under a symlink or a file of the same manifest."""
    leaves = {e.path for e in entries if e.kind != DIRECTORY}
    for e in entries:
        parent = e.path
        while "/" in parent:
            parent = parent.rsplit("/", 1)[0]
            if parent in leaves:
                raise InvalidArgument(
                    f"entry {e.path[:200]!r} lies under {parent[:200]!r}, which is not a folder",
                    reason=Reason.PATH_CONFLICT,
                    metadata={"field": "entries.path", "path": e.path[:256]},
                )


class Records:
    def __init__(self, repo: RecordRepository, blobs: Blobs, namespaces: Namespaces) -> None:
        self._repo = repo
        self._blobs = blobs
        self._ns = namespaces

    async def commit(
        self,
        namespace: str,
        uuid: str,
        entries: list[Entry],
        metadata: Mapping[str, str] | None,
        relations: list[Relation],
        *,
        replace: bool,
    ) -> tuple[Record, bool]:
        validate_uuid(uuid)
        if len(entries) > MAX_ENTRIES:
            raise InvalidArgument(
                f"{len(entries)} entries; at most {MAX_ENTRIES}",
                reason=Reason.MANIFEST_TOO_LARGE,
                metadata={"field": "entries"},
            )
        seen: set[str] = set()
        for e in entries:
            validate_path(e.path)
            if e.path in seen:
                raise InvalidArgument(
                    f"path {e.path[:200]!r} is listed twice",
                    reason=Reason.DUPLICATE_PATH,
                    metadata={"field": "entries.path"},
                )
            seen.add(e.path)
            if e.kind not in (FILE, DIRECTORY, SYMLINK) or (e.kind == FILE) != (e.digest is not None):
                raise InvalidArgument(
                    f"entry {e.path[:200]!r}: files need a digest, directories and symlinks have none",
                    reason=Reason.INVALID_ENTRY,
                    metadata={"field": "entries"},
                )
            if not 0 <= e.mode <= MAX_MODE:
                raise InvalidArgument(
                    f"entry {e.path[:200]!r}: mode {e.mode:o} holds more than permission bits (at most {MAX_MODE:o})",
                    reason=Reason.INVALID_MODE,
                    metadata={"field": "entries.mode"},
                )
            if e.kind == SYMLINK:
                validate_link_target(e.path, e.link_target)
        _check_parents(entries)
        for r in relations:
            validate_uuid(r.related_uuid, "relations.related_uuid")
            validation.text(r.name, field="relations.name", max_len=256)
        meta = validation.labels(metadata) if metadata is not None else None
        ns = await self._ns.resolve(namespace)
        digests = [e.digest for e in entries if e.digest is not None]
        missing = await self._blobs.missing_in(ns, digests)
        if missing:
            raise FailedPrecondition(
                f"{len(missing)} file blobs are missing; upload them first",
                reason=Reason.MISSING_BLOBS,
                metadata={"count": str(len(missing)), "first": str(missing[0])},
            )
        return await self._repo.commit(ns, uuid, entries, meta, relations, replace=replace)

    async def _get(self, ns: int, uuid: str, *, with_entries: bool) -> Record:
        record = await self._repo.get(ns, uuid, with_entries=with_entries)
        if record is None:
            raise NotFound(f"record {uuid!r} does not exist", reason=Reason.RECORD_NOT_FOUND, metadata={"uuid": uuid})
        return record

    async def get(self, namespace: str, uuid: str) -> Record:
        validate_uuid(uuid)
        return await self._get(await self._ns.resolve(namespace), uuid, with_entries=True)

    async def contains(self, namespace: str, uuid: str) -> tuple[bool, int]:
        """(indexed, how many of its blobs are missing)."""
        validate_uuid(uuid)
        ns = await self._ns.resolve(namespace)
        record = await self._repo.get(ns, uuid, with_entries=True)
        if record is None:
            return False, 0
        missing = await self._blobs.missing_in(ns, [e.digest for e in record.entries if e.digest is not None])
        return True, len(missing)

    async def delete(self, namespace: str, uuid: str, *, allow_missing: bool) -> bool:
        validate_uuid(uuid)
        ns = await self._ns.resolve(namespace)
        deleted = await self._repo.delete(ns, uuid)
        if not deleted and not allow_missing:
            raise NotFound(f"record {uuid!r} does not exist", reason=Reason.RECORD_NOT_FOUND, metadata={"uuid": uuid})
        return deleted

    async def search(
        self, namespace: str, prefix: str, metadata: Mapping[str, str], requested_size: int, token: str
    ) -> RecordPage:
        validation.text(prefix, field="uuid_prefix", max_len=128)
        meta = validation.labels(metadata)
        size = page_size(requested_size)
        after = decode_token("records", token, (str,))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.page(ns, prefix, meta, str(after[0]) if after else None, size + 1)
        next_token = encode_token("records", [rows[size - 1].uuid]) if len(rows) > size else ""
        return RecordPage(rows[:size], next_token)

    async def related(self, namespace: str, uuid: str, *, deep: bool) -> list[str]:
        validate_uuid(uuid)
        ns = await self._ns.resolve(namespace)
        await self._get(ns, uuid, with_entries=False)
        if not deep:
            found = set(await self._repo.neighbours(ns, [uuid], MAX_RELATED + 2))
            found.discard(uuid)
            _bounded_walk(len(found), 1)
            return sorted(found)
        # Breadth first, one statement a level, each record expanded once: a walk costs at most
        # MAX_RELATION_DEPTH statements and sees at most MAX_RELATED records, whatever the graph.
        seen = {uuid}
        layer = [uuid]
        depth = 0
        while layer:
            hop = await self._repo.neighbours(ns, layer, MAX_RELATED + 2)
            if len(hop) > MAX_RELATED + 1:  # that many distinct records, all reachable
                _bounded_walk(len(hop), depth)
            layer = [u for u in hop if u not in seen]
            if layer:
                depth += 1
                seen.update(layer)
                _bounded_walk(len(seen) - 1, depth)
        seen.discard(uuid)
        return sorted(seen)
