"""Opaque keyset page tokens: the client hands back what it was given and never builds one."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    if requested < 0:
        raise InvalidArgument("page_size is negative", reason=Reason.INVALID_PAGE_SIZE, metadata={"field": "page_size"})
    if requested == 0:
        return default
    return min(requested, maximum)


def encode_token(kind: str, key: list[Any]) -> str:
    raw = json.dumps([kind, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(kind: str, token: str) -> list[Any] | None:
    """The keyset position a token stands for, or None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        decoded = None
    if not (isinstance(decoded, list) and len(decoded) == 2 and decoded[0] == kind and isinstance(decoded[1], list)):
        raise InvalidArgument(
            "page_token is not one this list returned",
            reason=Reason.INVALID_PAGE_TOKEN,
            metadata={"field": "page_token"},
        )
    key: list[Any] = decoded[1]
    return key
