"""Tags with redun's supersession model: a tag never changes; a new one supersedes it through an
edit edge (parent -> child), and only tags no edge supersedes are current."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ENTITY_TYPES = ("Execution", "Job", "CallNode", "Task", "Value", "Null")


@dataclass(frozen=True, slots=True)
class NewTag:
    """A tag about to be inserted, identified by the hash of its content and its parents."""

    tag_hash: str
    entity_type: str
    entity_id: str
    key: str
    value_json: str  # canonical


@dataclass(frozen=True, slots=True)
class Tag:
    """A stored tag, with the hashes of the tags it superseded."""

    tag_hash: str
    seq: int
    entity_type: str
    entity_id: str
    key: str
    value_json: str
    is_current: bool
    create_time: datetime
    parents: list[str] = field(default_factory=list)
