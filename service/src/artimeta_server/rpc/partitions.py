"""Partitions between the wire and the domain, in bulk.

A partition's canonical form is its deterministic protobuf encoding (map entries sorted, an empty
composite key dropped): the server stores that, hashes it into the partition's identity, and
sends it back unchanged, so reads never rebuild messages field by field. What makes a partition
valid, and its identity, are the domain's (domain/connection/partitions.py); this module only
reads the messages. It also checks the partitions' strings for NUL in the same pass, in place of
the request check's walk (rpc/validate.py), and refuses them exactly as that check would."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from artimeta.v1 import connection_pb2, partition_pb2
from artimeta_server.domain.connection import partitions as rules
from artimeta_server.domain.connection.models import InputFilter, PartitionBatch
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.rpc import validate

# The request check leaves the partitions' strings to batch(), which looks at each anyway.
for _request in (
    connection_pb2.WriteArtifactPartitionsRequest,
    connection_pb2.WriteSnapshotPartitionsRequest,
    connection_pb2.WriteArtifactAndGraphPartitionsRequest,
):
    validate.checked_by_handler(_request, "partitions")


def check_keys(keys: partition_pb2.CompositeKey, field: str) -> None:
    entries = keys.keys
    for name in entries:
        _check_entry(field, name, entries[name])


def _check_entry(field: str, name: str, key: partition_pb2.PartitionKey) -> None:
    kind = key.WhichOneof("key")
    value: object = None
    if kind == "date_key":
        d = key.date_key
        value = (d.year, d.month, d.day)
    elif kind in rules.KEY_RANGES:
        value = getattr(key, kind)
    rules.check_key(field, name, kind, value)


def canonical_keys(keys: partition_pb2.CompositeKey) -> bytes:
    return keys.SerializeToString(deterministic=True)


# Partitions per chunk of a bulk write: the server canonicalizes chunk k+1 while Postgres inserts
# chunk k, and never holds the event loop for long.
CHUNK = 25_000
# Key kinds whose every value is valid: only their names need a check.
_ANY_VALUE = frozenset(("int32_key", "int64_key", "null_key"))


def batches(
    partitions: Sequence[partition_pb2.StoragePartition], field: str = "partitions", chunk: int | None = None
) -> Iterator[PartitionBatch]:
    """The partitions as canonical batches of at most `chunk`, computed lazily, one at a time."""
    chunk = chunk or CHUNK
    for start in range(0, len(partitions), chunk):
        yield batch(partitions[start : start + chunk], field, offset=start, request=partitions)


def _refused(request: Sequence[partition_pb2.StoragePartition], field: str, index: int) -> InvalidArgument | None:
    """The first NUL in a string of partitions[index:], refused as the request check refuses it:
    that check comes first for every other field, so it does for partitions too."""
    for i in range(index, len(request)):
        try:
            validate.check(request[i], f"{field}[{i}].")
        except InvalidArgument as exc:
            return exc
    return None


def batch(
    partitions: Sequence[partition_pb2.StoragePartition],
    field: str = "partitions",
    offset: int = 0,
    request: Sequence[partition_pb2.StoragePartition] | None = None,
) -> PartitionBatch:
    """Validates and canonicalizes partitions (in place) into columns; one bad partition rejects
    all. `request` is the whole repeated field `partitions` is a slice of (at `offset`): a bad
    partition is refused as the first NUL after it, if there is one."""
    try:
        return _batch(partitions, field, offset)
    except _Bad as bad:
        nul = (
            _refused(partitions, field, bad.index - offset) if request is None else _refused(request, field, bad.index)
        )
        if nul is not None:
            raise nul from None
        if bad.error is not None:
            raise bad.error from None
        raise AssertionError("a string held a NUL that the request check did not find") from None


class _Bad(Exception):
    def __init__(self, index: int, error: InvalidArgument | None) -> None:
        self.index, self.error = index, error


def _field_bytes(body: bytes) -> bytes:
    """The bytes of the length-delimited field that starts `body` (tag, varint length, bytes)."""
    n = shift = 0
    pos = 1
    while True:
        byte = body[pos]
        n |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return body[pos : pos + n]
        shift += 7


def _batch(partitions: Sequence[partition_pb2.StoragePartition], field: str, offset: int) -> PartitionBatch:
    # One pass, no call per partition that can be avoided: types and key names repeat, so each
    # distinct one is checked once; only key kinds with a bounded range are checked per value.
    keys: list[bytes] = []
    fps: list[int | None] = []
    bodies: list[bytes] = []
    good_types: set[str] = set()
    good_names: set[str] = set()
    good_dates: set[tuple[int, int, int]] = set()
    any_value = _ANY_VALUE
    i = offset
    try:
        for i, p in enumerate(partitions, offset):
            t = p.type
            if t not in good_types:
                if "\x00" in t:
                    raise _Bad(i, None)
                rules.check_type(t, field, i)
                good_types.add(t)
            body = p.SerializeToString(deterministic=True)
            kb = b""
            # Field 1 (keys) comes first in the canonical encoding: its bytes are sliced from the
            # body, not encoded a second time. An empty one is dropped from the message and body.
            if body[:1] == b"\x0a":
                n = body[1]
                if n == 0:
                    p.ClearField("keys")
                    body = body[2:]
                else:
                    kb = body[2 : 2 + n] if n < 0x80 else _field_bytes(body)
                    entries = p.keys.keys
                    for name in entries:
                        if name not in good_names:
                            if "\x00" in name:
                                raise _Bad(i, None)
                            rules.check_key_name(f"{field}[{i}]", name)
                            good_names.add(name)
                        key = entries[name]
                        kind = key.WhichOneof("key")
                        if kind in any_value:
                            continue
                        if kind == "date_key":
                            d = key.date_key
                            ymd = (d.year, d.month, d.day)
                            if ymd not in good_dates:
                                rules.check_key(f"{field}[{i}]", name, kind, ymd)
                                good_dates.add(ymd)
                        else:
                            _check_entry(f"{field}[{i}]", name, key)
            keys.append(kb)
            fps.append(p.input_fingerprint if p.HasField("input_fingerprint") else None)
            bodies.append(body)
    except InvalidArgument as exc:
        raise _Bad(i, exc) from None
    return PartitionBatch(rules.identities(bodies), keys, fps, bodies)


def input_filter(entries: Sequence[partition_pb2.InputFingerprint]) -> InputFilter | None:
    """The filter as canonical columns (domain/connection/partitions.py says what it matches)."""
    return rules.input_filter(
        [e.keys.SerializeToString(deterministic=True) for e in entries],
        [e.fingerprint if e.HasField("fingerprint") else None for e in entries],
    )


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
