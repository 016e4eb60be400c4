"""Opaque keyset page tokens: the client hands back what it was given and never builds one."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from artimeta_server.domain import validation
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

T = TypeVar("T")

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


MAX_TOKEN_CHARS = 4096
MAX_TOKEN_TEXT = 2048


def _bad_token() -> InvalidArgument:
    return InvalidArgument(
        "page_token is not one this list returned", reason=Reason.INVALID_PAGE_TOKEN, metadata={"field": "page_token"}
    )


def _scalar_ok(value: Any, expected: type) -> bool:
    if type(value) is not expected:
        return False
    if isinstance(value, int):
        return validation.INT64_MIN <= value <= validation.INT64_MAX
    if isinstance(value, str):
        return len(value) <= MAX_TOKEN_TEXT and validation.BAD_CHAR.search(value) is None
    return False


def decode_token(kind: str, token: str, types: tuple[type, ...]) -> list[Any] | None:
    """The keyset position a token stands for (one value of each of `types`, int or str), or
    None for the first page. Anything else, including what a client built by hand, is
    INVALID_PAGE_TOKEN: a position reaches SQL as typed parameters, so it must be exactly what
    this list encodes."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_CHARS:
        raise _bad_token()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = json.loads(raw, parse_constant=_no_constant)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _bad_token() from None
    if not (isinstance(decoded, list) and len(decoded) == 2 and decoded[0] == kind and isinstance(decoded[1], list)):
        raise _bad_token()
    key: list[Any] = decoded[1]
    if len(key) != len(types) or not all(_scalar_ok(v, t) for v, t in zip(key, types, strict=True)):
        raise _bad_token()
    return key


def _no_constant(name: str) -> Any:
    raise ValueError(name)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the token of the next ("" after the last)."""

    items: list[T]
    next_page_token: str
