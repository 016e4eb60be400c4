"""Plain records the use cases pass around."""

from __future__ import annotations

from dataclasses import dataclass

from artimeta_server.domain.digests import Digest


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A metadata document as a row keeps it: inline bytes, or a digest in the blob store."""

    inline: bytes | None
    digest: Digest | None
