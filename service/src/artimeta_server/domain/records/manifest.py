"""What a valid manifest is: safe relative paths, no entry under a file or a symlink, links
that stay inside the record, permission bits only."""

from __future__ import annotations

import re
from collections.abc import Mapping

from artimeta_server.domain import validation
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason
from artimeta_server.domain.records import limits
from artimeta_server.domain.records.models import DIRECTORY, FILE, SYMLINK, Entry, Relation

_DRIVE = re.compile(r"^[A-Za-z]:([/\\]|$)")
_UUID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


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
        or len(path) > limits.MAX_PATH
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
    validation.text(target, field="entries.link_target", max_len=limits.MAX_PATH, required=True)
    segments = target.replace("\\", "/").split("/")
    if target.startswith(("/", "\\")) or _DRIVE.match(target) or ".." in segments:
        raise InvalidArgument(
            f"symlink {path[:200]!r} points at {target[:200]!r}: targets must be relative and without '..'",
            reason=Reason.UNSAFE_LINK_TARGET,
            metadata={"field": "entries.link_target", "path": path[:256]},
        )
    return target


def too_many_entries(count: int) -> InvalidArgument:
    return InvalidArgument(
        f"the record would hold {count} entries; at most {limits.MAX_ENTRIES}",
        reason=Reason.MANIFEST_TOO_LARGE,
        metadata={"field": "entries"},
    )


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


def validate_entries(entries: list[Entry]) -> None:
    if len(entries) > limits.MAX_ENTRIES:
        raise InvalidArgument(
            f"{len(entries)} entries; at most {limits.MAX_ENTRIES}",
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
        if not 0 <= e.mode <= limits.MAX_MODE:
            raise InvalidArgument(
                f"entry {e.path[:200]!r}: mode {e.mode:o} holds more than permission bits (at most {limits.MAX_MODE:o})",
                reason=Reason.INVALID_MODE,
                metadata={"field": "entries.mode"},
            )
        if e.kind == SYMLINK:
            validate_link_target(e.path, e.link_target)
    _check_parents(entries)


def validate_relations(relations: list[Relation]) -> None:
    for r in relations:
        validate_uuid(r.related_uuid, "relations.related_uuid")
        validation.text(r.name, field="relations.name", max_len=256)


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    """The metadata to set, or None to keep what the record holds."""
    return validation.labels(metadata) if metadata is not None else None
