"""Partitions between the wire and the domain, in bulk.

A partition's canonical form is its deterministic protobuf encoding (map entries sorted, an empty
composite key dropped): the server stores that, hashes it into the partition's identity, and
sends it back unchanged, so reads never rebuild messages field by field."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date

from artimeta.v1 import partition_pb2
from artimeta_server.domain.connection_models import InputFilter, PartitionBatch
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

MAX_KEY_NAME = 255
MAX_TYPE = 1024
_RANGES = {
    "int8_key": (-(1 << 7), (1 << 7) - 1),
    "int16_key": (-(1 << 15), (1 << 15) - 1),
}


def _bad_key(field: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"{field}: {why}", reason=Reason.INVALID_PARTITION_KEY, metadata={"field": field})


def check_keys(keys: partition_pb2.CompositeKey, field: str) -> None:
    for name, key in keys.keys.items():
        where = f"{field}.keys[{name[:64]!r}]"
        if not name or len(name) > MAX_KEY_NAME or "\x00" in name:
            raise _bad_key(where, f"key names must be 1 to {MAX_KEY_NAME} characters without NUL")
        kind = key.WhichOneof("key")
        if kind is None:
            raise _bad_key(where, "the key has no value (set one of date_key, int8_key, ..., null_key)")
        if kind == "date_key":
            d = key.date_key
            try:
                date(d.year, d.month, d.day)
            except ValueError as exc:
                raise _bad_key(where, f"invalid date {d.year}-{d.month}-{d.day}: {exc}") from None
        elif kind in _RANGES:
            low, high = _RANGES[kind]
            value = getattr(key, kind)
            if not low <= value <= high:
                raise _bad_key(where, f"{kind} {value} is out of range [{low}, {high}]")


def canonical_keys(keys: partition_pb2.CompositeKey) -> bytes:
    return keys.SerializeToString(deterministic=True)


# Partitions per chunk of a bulk write: the server canonicalizes chunk k+1 while Postgres inserts
# chunk k, and never holds the event loop for long.
CHUNK = 25_000


def batches(
    partitions: Sequence[partition_pb2.StoragePartition], field: str = "partitions", chunk: int | None = None
) -> Iterator[PartitionBatch]:
    """The partitions as canonical batches of at most `chunk`, computed lazily, one at a time."""
    chunk = chunk or CHUNK
    for start in range(0, len(partitions), chunk):
        yield batch(partitions[start : start + chunk], field, offset=start)


def batch(
    partitions: Sequence[partition_pb2.StoragePartition], field: str = "partitions", offset: int = 0
) -> PartitionBatch:
    """Validates and canonicalizes partitions (in place) into columns; one bad partition rejects all."""
    idents: list[bytes] = []
    keys: list[bytes] = []
    fps: list[int | None] = []
    bodies: list[bytes] = []
    checked: set[bytes] = set()
    blake = hashlib.blake2b
    for i, p in enumerate(partitions, offset):
        if not p.type or len(p.type) > MAX_TYPE:
            raise InvalidArgument(
                f"{field}[{i}].type must be 1 to {MAX_TYPE} characters (a 'module:qualname' reference)",
                reason=Reason.INVALID_PARTITION,
                metadata={"field": f"{field}[{i}].type"},
            )
        kb = b""
        if p.HasField("keys"):
            kb = p.keys.SerializeToString(deterministic=True)
            if not kb:
                p.ClearField("keys")
            elif kb not in checked:
                check_keys(p.keys, f"{field}[{i}]")
                checked.add(kb)
        body = p.SerializeToString(deterministic=True)
        idents.append(blake(body, digest_size=16).digest())
        keys.append(kb)
        fps.append(p.input_fingerprint if p.HasField("input_fingerprint") else None)
        bodies.append(body)
    return PartitionBatch(idents, keys, fps, bodies)


def input_filter(entries: Sequence[partition_pb2.InputFingerprint]) -> InputFilter | None:
    """The filter as canonical columns. Keys are not validated one by one (that would cost more
    than the query): a malformed key cannot equal a stored, validated one, so it matches nothing."""
    if not entries:
        return None
    keys = [e.keys.SerializeToString(deterministic=True) for e in entries]
    fps = [e.fingerprint if e.HasField("fingerprint") else None for e in entries]
    if len(set(keys)) != len(keys):
        raise InvalidArgument(
            "input_fingerprints holds the same composite key twice",
            reason=Reason.INVALID_PARTITION_KEY,
            metadata={"field": "input_fingerprints"},
        )
    return InputFilter(keys, fps)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Field 1, wire type 2 (length-delimited) + the length: the frame of one `repeated
# StoragePartition partitions = 1` element, precomputed for the usual lengths.
_FRAMES = [b"\x0a" + _varint(n) for n in range(1 << 14)]


def framed(bodies: Iterable[bytes]) -> bytes:
    """The encoding of a message whose field 1 is `repeated StoragePartition` holding `bodies`."""
    frames = _FRAMES
    return b"".join([(frames[len(b)] if len(b) < 16384 else b"\x0a" + _varint(len(b))) + b for b in bodies])
