"""arti values as artimeta.v1 messages and back: graph lineage, partition keys, storage
partitions and fingerprints."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Dict, Type

from arti import (  # type: ignore[import-not-found,unused-ignore]
    Fingerprint,
    InputFingerprints,
)
from arti.partitions import (  # type: ignore[import-not-found,unused-ignore]
    CompositeKey,
    DateKey,
    NullKey,
    PartitionKey,
)

from artimeta.adapters._arti_documents import (
    _BASE_FIELDS,
    _INT_KEYS,
    _KEY_CLASSES,
    code_ref,
    resolve_ref,
    stored_by_value,
)
from artimeta.v1 import graph_pb2
from artimeta.v1 import partition_pb2 as ppb

_SUMMARY_CHARS = 1024


def _summary(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"


def graph_lineage(graph: Any) -> graph_pb2.GraphLineage:
    """The graph's artifacts (by their key in the graph, what snapshot partitions are linked to),
    its producers (by fingerprint) and the edges between them, for readers that cannot (and must
    not) unpickle the graph: the server and the console."""
    msg = graph_pb2.GraphLineage()
    producers: Dict[Any, str] = {}
    for key, artifact in graph.artifacts.walk():
        msg.artifacts.add(
            key=key,
            artifact_class=code_ref(type(artifact)),
            type=_summary(artifact.type),
            format=_summary(artifact.format),
            storage=_summary(artifact.storage),
            stored_by_value=stored_by_value(type(artifact)),
        )
    keys = graph.artifact_to_key
    for producer in sorted(graph.producers, key=lambda p: _fp(p.fingerprint)):
        pkey = str(_fp(producer.fingerprint))
        producers[producer] = pkey
        msg.producers.add(
            key=pkey,
            name=type(producer).__name__,
            qualname=code_ref(type(producer)),
            version=_version(producer.version),
            stored_by_value=stored_by_value(type(producer)),
        )
        for name, artifact in producer.inputs.items():
            if artifact in keys:  # an input outside the graph has no node to join
                msg.edges.add(
                    kind=graph_pb2.LINEAGE_EDGE_KIND_INPUT,
                    artifact_key=keys[artifact],
                    producer_key=pkey,
                    input_name=name,
                )
    for producer, outputs in graph.producer_outputs.items():
        for position, artifact in enumerate(outputs):
            msg.edges.add(
                kind=graph_pb2.LINEAGE_EDGE_KIND_OUTPUT,
                artifact_key=keys[artifact],
                producer_key=producers[producer],
                output_position=position,
            )
    return msg


def _version(version: Any) -> str:
    fields = getattr(version, "__fields__", None)
    if fields:  # e.g. SemVer(major=0, minor=0, patch=1) -> "0.0.1"; String(value="x") -> "x"
        return ".".join(str(getattr(version, f)) for f in fields)
    return _summary(version)


# Partitions


def keys_message(keys: Any, out: ppb.CompositeKey) -> None:
    for name, key in keys.items():
        target = out.keys[name]
        if isinstance(key, DateKey):
            d = key.key
            day = target.date_key
            day.year, day.month, day.day = d.year, d.month, d.day
        elif isinstance(key, NullKey):
            target.null_key.SetInParent()
        elif type(key) in _INT_KEYS:
            setattr(target, _INT_KEYS[type(key)], key.key)
        else:
            raise TypeError(f"partition key {name!r}: {type(key).__name__} cannot be stored in artimeta")


def keys_from_message(msg: ppb.CompositeKey) -> Any:
    out: Dict[str, PartitionKey] = {}
    for name, key in msg.keys.items():
        kind = key.WhichOneof("key")
        if kind == "date_key":
            out[name] = DateKey(key=date(key.date_key.year, key.date_key.month, key.date_key.day))
        elif kind == "null_key":
            out[name] = NullKey()
        elif kind in _KEY_CLASSES:
            out[name] = _KEY_CLASSES[kind](key=getattr(key, kind))
        else:
            raise ValueError(f"partition key {name!r} has no value")
    return CompositeKey(out)


def partition_message(partition: Any) -> ppb.StoragePartition:
    msg = ppb.StoragePartition()
    _fill_partition(partition, msg)
    return msg


def _fill_partition(partition: Any, msg: ppb.StoragePartition) -> None:
    cls = type(partition)
    fields = {name: getattr(partition, name) for name in cls.__fields__ if name not in _BASE_FIELDS}
    msg.type = code_ref(cls)
    msg.fields = partition.__config__.json_dumps(
        fields, default=partition.__json_encoder__, sort_keys=True, separators=(",", ":")
    ).encode()
    if partition.keys:
        keys_message(partition.keys, msg.keys)
    if partition.input_fingerprint.key is not None:
        msg.input_fingerprint = partition.input_fingerprint.key
    if partition.content_fingerprint.key is not None:
        msg.content_fingerprint = partition.content_fingerprint.key


_TYPES: Dict[str, Type[Any]] = {}
_NO_FILTER = InputFingerprints()


def _fingerprint(msg: Any, field: str) -> Any:
    return Fingerprint.from_int(getattr(msg, field)) if msg.HasField(field) else Fingerprint.empty()


def partition_from_message(msg: ppb.StoragePartition) -> Any:
    cls = _TYPES.get(msg.type)
    if cls is None:
        cls = _TYPES[msg.type] = resolve_ref(msg.type)
    return cls(
        keys=keys_from_message(msg.keys),
        input_fingerprint=_fingerprint(msg, "input_fingerprint"),
        content_fingerprint=_fingerprint(msg, "content_fingerprint"),
        **json.loads(msg.fields or b"{}"),
    )


def _add_fingerprinted(partitions: Any, out: Any) -> bool:
    """Adds the partitions to a request's repeated field, built in place (a message built on its
    own is copied when it is put in a repeated field, which costs as much again); with their
    content fingerprint computed, as MemoryBackend stores them. False when there were none."""
    add = out.add
    for p in partitions:
        _fill_partition(p.with_content_fingerprint(keep_existing=True), add())
    return len(out) > 0


def _fp(fingerprint: Any) -> int:
    key = fingerprint.key
    if key is None:
        raise ValueError("an empty fingerprint cannot identify a graph or snapshot")
    return int(key)
