"""Plain records the use cases pass around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from artimeta_server.domain.digests import Digest


@dataclass(frozen=True, slots=True)
class Namespace:
    id: int
    name: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)
    create_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A metadata document as a row keeps it: inline bytes, or a digest in the blob store."""

    inline: bytes | None
    digest: Digest | None
