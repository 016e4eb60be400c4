"""Tags with redun's supersession model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ENTITY_TYPES = ("Execution", "Job", "CallNode", "Task", "Value", "Null")


@dataclass(frozen=True, slots=True)
class TagWrite:
    tag_hash: str
    entity_type: str
    entity_id: str
    key: str
    value_json: str  # canonical


@dataclass(frozen=True, slots=True)
class TagRow:
    tag_hash: str
    seq: int
    entity_type: str
    entity_id: str
    key: str
    value_json: str
    is_current: bool
    create_time: datetime
    parents: list[str] = field(default_factory=list)
