"""What a valid partition is, and what identifies one.

A partition is a type (a 'module:qualname' reference), an optional composite key, an optional
input fingerprint and opaque fields. It is identified by its full value: the identity is a
16-byte BLAKE2b of its canonical encoding (which the wire layer computes, and which the server
stores and sends back unchanged), so writing the same partition twice adds it once."""

from __future__ import annotations

import hashlib
from datetime import date

from artimeta_server.domain.connection.models import InputFilter
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

MAX_TYPE = 1024
MAX_KEY_NAME = 255
IDENTITY_BYTES = 16
# Key kinds narrower than their wire type, and the values they may hold.
KEY_RANGES = {
    "int8_key": (-(1 << 7), (1 << 7) - 1),
    "int16_key": (-(1 << 15), (1 << 15) - 1),
}

_blake2b = hashlib.blake2b


def identity(canonical: bytes) -> bytes:
    """The identity of the partition whose canonical encoding is `canonical`."""
    return _blake2b(canonical, digest_size=IDENTITY_BYTES).digest()


def identities(canonicals: list[bytes]) -> list[bytes]:
    """identity() of each, in one loop (a bulk write computes 100k of them)."""
    b2, size = _blake2b, IDENTITY_BYTES
    return [b2(c, digest_size=size).digest() for c in canonicals]


def check_type(type_: str, field: str, index: int) -> None:
    if not type_ or len(type_) > MAX_TYPE:
        raise InvalidArgument(
            f"{field}[{index}].type must be 1 to {MAX_TYPE} characters (a 'module:qualname' reference)",
            reason=Reason.INVALID_PARTITION,
            metadata={"field": f"{field}[{index}].type"},
        )


def _bad_key(field: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {why}", reason=Reason.INVALID_PARTITION_KEY, metadata={"field": field})


def check_key_name(field: str, name: str) -> str:
    """Checks the name of an entry of a composite key; returns the field that names the entry."""
    where = f"{field}.keys[{name[:64]!r}]"
    if not name or len(name) > MAX_KEY_NAME or "\x00" in name:
        raise _bad_key(where, f"key names must be 1 to {MAX_KEY_NAME} characters without NUL")
    return where


def check_key(field: str, name: str, kind: str | None, value: object) -> None:
    """One entry of a composite key: `kind` is which value it holds (None: none), `value` that
    value ((year, month, day) for a date_key)."""
    where = check_key_name(field, name)
    if kind is None:
        raise _bad_key(where, "the key has no value (set one of date_key, int8_key, ..., null_key)")
    if kind == "date_key":
        assert isinstance(value, tuple)
        year, month, day = value
        try:
            date(year, month, day)
        except ValueError as exc:
            raise _bad_key(where, f"invalid date {year}-{month}-{day}: {exc}") from None
    elif kind in KEY_RANGES:
        low, high = KEY_RANGES[kind]
        assert isinstance(value, int)
        if not low <= value <= high:
            raise _bad_key(where, f"{kind} {value} is out of range [{low}, {high}]")


def input_filter(keys: list[bytes], fingerprints: list[int | None]) -> InputFilter | None:
    """The filter of canonical keys and their fingerprints; None (everything) when empty. Keys
    are not validated one by one (that would cost more than the query): a malformed key cannot
    equal a stored, validated one, so it matches nothing."""
    if not keys:
        return None
    if len(set(keys)) != len(keys):
        raise InvalidArgument(
            "input_fingerprints holds the same composite key twice",
            reason=Reason.INVALID_PARTITION_KEY,
            metadata={"field": "input_fingerprints"},
        )
    return InputFilter(keys, fingerprints)
