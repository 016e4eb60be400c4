"""What a namespace is, and what its use cases answer."""

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


@dataclass(frozen=True, slots=True)
class NamespacePage:
    namespaces: list[Namespace]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class DeletedNamespace:
    deleted: bool
    blobs_deleted: int
