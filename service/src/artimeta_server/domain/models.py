"""Plain records the use cases pass around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Namespace:
    id: int
    name: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)
    create_time: datetime | None = None
