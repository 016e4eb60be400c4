"""An op version, and how a new one is numbered."""

from __future__ import annotations

from dataclasses import dataclass

# The longest op or pipeline name.
MAX_NAME = 512


@dataclass(frozen=True, slots=True)
class OpVersion:
    major: str
    minor: str
    patch: str
    creation_time: float
    major_number: int = 0
    minor_number: int = 0
    patch_number: int = 0


def next_numbers(latest: OpVersion | None, new: OpVersion) -> tuple[int, int, int]:
    """The number of a new version, counted against the op's latest version."""
    if latest is None:
        return 1, 0, 0
    if latest.major != new.major:
        return latest.major_number + 1, 0, 0
    if latest.minor != new.minor:
        return latest.major_number, latest.minor_number + 1, 0
    return latest.major_number, latest.minor_number, latest.patch_number + 1
