"""Partitions between the wire and the domain, in bulk.

A partition's canonical form is its deterministic protobuf encoding (map entries sorted, an empty
composite key dropped): the server stores that, hashes it into the partition's identity, and
sends it back unchanged, so reads never rebuild messages field by field. What makes a partition
valid, and its identity, are the domain's (domain/connection/partitions.py); this module only
reads the messages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from artimeta.v1 import connection_pb2, partition_pb2
from artimeta_server.domain.connection import partitions as rules
from artimeta_server.domain.connection.models import InputFilter, PartitionBatch


def check_keys(keys: partition_pb2.CompositeKey, field: str) -> None:
    for name, key in keys.keys.items():
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
    check_type, identity = rules.check_type, rules.identity
    for i, p in enumerate(partitions, offset):
        check_type(p.type, field, i)
        kb = b""
        if p.HasField("keys"):
            kb = p.keys.SerializeToString(deterministic=True)
            if not kb:
                p.ClearField("keys")
            elif kb not in checked:
                check_keys(p.keys, f"{field}[{i}]")
                checked.add(kb)
        body = p.SerializeToString(deterministic=True)
        idents.append(identity(body))
        keys.append(kb)
        fps.append(p.input_fingerprint if p.HasField("input_fingerprint") else None)
        bodies.append(body)
    return PartitionBatch(idents, keys, fps, bodies)


def input_filter(entries: Sequence[partition_pb2.InputFingerprint]) -> InputFilter | None:
    """The filter as canonical columns (domain/connection/partitions.py says what it matches)."""
    return rules.input_filter(
        [e.keys.SerializeToString(deterministic=True) for e in entries],
        [e.fingerprint if e.HasField("fingerprint") else None for e in entries],
    )


def _raw_filter_class() -> Any:
    """A message with ReadArtifactPartitionsRequest's field 3 whose entries keep their keys as
    bytes. Parsing the request's deterministic encoding with it yields every key in canonical form
    at once: the same bytes as serializing each CompositeKey deterministically, at a fraction of
    the cost of 10k such calls."""
    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(
        name="artimeta_server/raw_filter.proto", package="artimeta_server.raw", syntax="proto3"
    )
    entry = file.message_type.add(name="RawInputFingerprint")
    entry.field.add(name="keys", number=1, type=f.TYPE_BYTES, label=f.LABEL_OPTIONAL)
    entry.field.add(
        name="fingerprint", number=2, type=f.TYPE_INT64, label=f.LABEL_OPTIONAL, proto3_optional=True, oneof_index=0
    )
    entry.oneof_decl.add(name="_fingerprint")
    request = file.message_type.add(name="RawFilter")
    request.field.add(
        name="input_fingerprints",
        number=connection_pb2.ReadArtifactPartitionsRequest.INPUT_FINGERPRINTS_FIELD_NUMBER,
        type=f.TYPE_MESSAGE,
        label=f.LABEL_REPEATED,
        type_name=".artimeta_server.raw.RawInputFingerprint",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("artimeta_server.raw.RawFilter"))


_RAW_FILTER = _raw_filter_class()


def read_filter(request: connection_pb2.ReadArtifactPartitionsRequest) -> InputFilter | None:
    """input_filter(request.input_fingerprints), read from the request's canonical encoding."""
    if not request.input_fingerprints:
        return None
    entries = _RAW_FILTER.FromString(request.SerializeToString(deterministic=True)).input_fingerprints
    return rules.input_filter(
        [e.keys for e in entries], [e.fingerprint if e.HasField("fingerprint") else None for e in entries]
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
