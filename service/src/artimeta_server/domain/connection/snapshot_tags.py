"""When a snapshot tag may be written: the overwrite and compare-and-swap rules, and their errors.

A write creates the tag or moves it. Without `overwrite` it may only create; with an `expected`
fingerprint it may only move a tag that points there now (compare-and-swap: an expected value
implies overwrite). Storage reads where the tag points under a lock, the rule decides, storage
writes; see Connections.write_snapshot_tag."""

from __future__ import annotations

from artimeta_server.domain.errors import Aborted, AlreadyExists, NotFound
from artimeta_server.domain.reasons import Reason


def check_write(name: str, tag: str, current: int | None, *, overwrite: bool, expected: int | None) -> None:
    """Raises unless a tag now at `current` (None: absent) may be set by this write."""
    if current is None:
        if expected is not None:
            raise Aborted(
                f"tag {tag!r} of {name!r} does not exist; expected it at {expected}",
                reason=Reason.TAG_MOVED,
                metadata={"name": name, "tag": tag, "expected_snapshot_fingerprint": str(expected)},
            )
        return
    if expected is None:
        if not overwrite:
            raise tag_exists(name, tag, current)
        return
    if current != expected:
        raise Aborted(
            f"tag {tag!r} of {name!r} points at {current}, not at the expected {expected}",
            reason=Reason.TAG_MOVED,
            metadata={
                "name": name,
                "tag": tag,
                "expected_snapshot_fingerprint": str(expected),
                "snapshot_fingerprint": str(current),
            },
        )


def tag_exists(name: str, tag: str, current: int) -> AlreadyExists:
    return AlreadyExists(
        f"Existing `{tag}` tag for Graph `{name}` points to the snapshot with fingerprint {current}",
        reason=Reason.TAG_EXISTS,
        metadata={"name": name, "tag": tag, "snapshot_fingerprint": str(current)},
    )


def tag_not_found(name: str, tag: str) -> NotFound:
    return NotFound(
        f"No known `{tag}` tag for GraphSnapshot `{name}`",
        reason=Reason.TAG_NOT_FOUND,
        metadata={"name": name, "tag": tag},
    )


def snapshot_not_written(name: str, fingerprint: int) -> NotFound:
    """What a tag pointed at a snapshot that does not exist gets (storage sees it as a broken
    foreign key, and raises this)."""
    return NotFound(
        f"snapshot {fingerprint} of graph {name!r} has not been written",
        reason=Reason.SNAPSHOT_NOT_FOUND,
        metadata={"name": name, "fingerprint": str(fingerprint)},
    )
