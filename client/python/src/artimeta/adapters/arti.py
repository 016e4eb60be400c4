"""artimeta as an arti backend (arti 0.0.4):

    from arti import Graph
    from artimeta.adapters.arti import ArtimetaBackend

    with Graph(name="daily", backend=ArtimetaBackend(target="host:port", namespace="team-a")) as g:
        ...

The connection calls ConnectionService and restores what arti's in-process MemoryBackend does
where a shared service differs: KeyError for a missing graph or snapshot, arti's own ValueError
messages for tags, the discover-partitions warm-up of a storage this backend has not seen yet, and
the backend re-attached to graphs read back. Graphs and snapshots travel as pickles (decoded only
here, never by the server). Classes a reader can import (defined at a module's top level) are
stored by reference, listed as `module:qualname` so a reader knows what it must be able to
import; classes no other process could import (defined in a function, a notebook or `__main__`)
are stored by value with cloudpickle, so any process can read, tag and rebuild the graph. The
lineage sent with each graph marks the producers and artifacts stored by value.
"""

from __future__ import annotations

import importlib
import io
import json
import pickle
import sys
import threading
import typing
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, Dict, List, Optional, Set, Tuple, Type

import cloudpickle  # type: ignore[import-not-found,unused-ignore]
from arti import (  # type: ignore[import-not-found,unused-ignore]
    Backend,
    Connection,
    Fingerprint,
    InputFingerprints,
)
from arti.partitions import (  # type: ignore[import-not-found,unused-ignore]
    CompositeKey,
    DateKey,
    Int8Key,
    Int16Key,
    Int32Key,
    Int64Key,
    NullKey,
    PartitionKey,
)
from pydantic import BaseModel, Field, PrivateAttr  # type: ignore[import-not-found,unused-ignore]

from artimeta.client import Client
from artimeta.errors import AlreadyExists, NotFound
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import graph_pb2
from artimeta.v1 import partition_pb2 as ppb

GRAPH_FORMAT = "application/x-arti-graph+pickle"
SNAPSHOT_FORMAT = "application/x-arti-snapshot+pickle"
_BACKEND_REF = "artimeta:backend"
_BASE_FIELDS = frozenset(("keys", "input_fingerprint", "content_fingerprint"))
_INT_KEYS: Dict[type, str] = {Int8Key: "int8_key", Int16Key: "int16_key", Int32Key: "int32_key", Int64Key: "int64_key"}
_KEY_CLASSES: Dict[str, type] = {v: k for k, v in _INT_KEYS.items()}


def code_ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve_ref(ref: str) -> Any:
    module, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def by_reference(cls: type) -> bool:
    """Whether another process can import `cls` by its `module:qualname` (pickle's test, and
    cloudpickle's: `__main__` and objects a module does not expose under their name are not)."""
    module = sys.modules.get(cls.__module__)
    if module is None or cls.__module__ == "__main__":
        return False
    obj: Any = module
    for part in cls.__qualname__.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return obj is cls


# Documents

# What pydantic's metaclass and arti's __init_subclass__ hooks derive while creating a class:
# a class stored by value is created again from what its body said, and these are derived anew.
_DERIVED = frozenset(
    (
        "__config__",
        "__fields__",
        "__exclude_fields__",
        "__include_fields__",
        "__validators__",
        "__pre_root_validators__",
        "__post_root_validators__",
        "__schema_cache__",
        "__json_encoder__",
        "__custom_root_type__",
        "__private_attributes__",
        "__slots__",
        "__hash__",
        "__class_vars__",
        "__signature__",
        "__dict__",
        "__weakref__",
        "__abstractmethods__",
        "__qualname__",
        "__parameters__",
        "__orig_bases__",
        "_abc_impl",
        "_input_artifact_classes_",
        "_build_sig_",
        "_build_inputs_",
        "_outputs_",
        "_map_sig_",
        "_map_inputs_",
        "storage_partition_type",
    )
)

_class_ids: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()
_rebuilt: Dict[str, type] = {}
_rebuilt_lock = threading.Lock()
# Classes this process created from a document (they are not importable here either).
_by_value: weakref.WeakSet[type] = weakref.WeakSet()


def stored_by_value(cls: type) -> bool:
    """Whether documents carry `cls` itself rather than a reference to import."""
    return cls in _by_value or not by_reference(cls)


def _generated_map(value: Any) -> bool:
    func = getattr(value, "__func__", None)
    return getattr(func, "__qualname__", "").endswith("_validate_map_sig.<locals>.map")


def _class_body(cls: Any) -> Dict[str, Any]:
    """What the class statement (or arti's @producer) gave the metaclass, recovered from the class."""
    body = {k: v for k, v in vars(cls).items() if k not in _DERIVED and not (k == "map" and _generated_map(v))}
    own = vars(cls).get("__annotations__", {})
    if own:
        # Resolved here, where the names they refer to exist (a reader may lack their module).
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception:  # noqa: BLE001 - unresolvable hints stay as written
            hints = {}
        body["__annotations__"] = {name: hints.get(name, hint) for name, hint in own.items()}
    for name in own:
        field = cls.__fields__.get(name)
        if field is None or field.required:
            continue
        body[name] = Field(default_factory=field.default_factory) if field.default_factory else field.default
    inherited = {n for base in cls.__mro__[1:] for n in getattr(base, "__private_attributes__", {})}
    for name, attr in getattr(cls, "__private_attributes__", {}).items():
        if name not in inherited:
            body[name] = PrivateAttr(default=attr.default, default_factory=attr.default_factory)
    return body


def _class_id(cls: type) -> str:
    with _rebuilt_lock:
        cid = _class_ids.get(cls)
        if cid is None:
            cid = _class_ids[cls] = uuid.uuid4().hex
        return cid


def _carried(cls: Any) -> Tuple[type, ...]:
    """View classes a producer derived (its inputs' and outputs'), when they travel by value:
    created before the producer, they are registered again when it looks them up."""
    views = [*getattr(cls, "_build_inputs_", {}).values(), *getattr(cls, "_outputs_", ())]
    return tuple(dict.fromkeys(type(v) for v in views if stored_by_value(type(v))))


def rebuild_class(
    meta: Any,
    name: str,
    qualname: str,
    bases: Tuple[type, ...],
    body: Dict[str, Any],
    cid: str,
    carried: Tuple[type, ...] = (),
) -> Any:
    """A class stored by value, created again by its metaclass (so pydantic and arti derive what
    they derive); one class per stored class and process, however many documents carry it.
    `carried` is only unpickled first (see _carried)."""
    with _rebuilt_lock:
        cls = _rebuilt.get(cid)
        if cls is None:
            cls = meta(name, bases, {**body, "__qualname__": qualname})
            _rebuilt[cid] = cls
            _class_ids[cls] = cid
            _by_value.add(cls)
        return cls


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc,unused-ignore]
    """cloudpickle (by value what no other process could import, by reference the rest) that
    leaves the backend out: it is connection state, and the reader attaches its own."""

    def persistent_id(self, obj: Any) -> Optional[str]:
        return _BACKEND_REF if isinstance(obj, Backend) else None

    def reducer_override(self, obj: Any) -> Any:
        # cloudpickle copies a class's derived state, which pydantic's compiled validators
        # defeat; models are created again from their body instead.
        if isinstance(obj, type) and issubclass(obj, BaseModel) and stored_by_value(obj):
            return rebuild_class, (
                type(obj),
                obj.__name__,
                obj.__qualname__,
                obj.__bases__,
                _class_body(obj),
                _class_id(obj),
                _carried(obj),
            )
        return super().reducer_override(obj)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, backend: Any) -> None:
        super().__init__(io.BytesIO(data))
        self._backend = backend

    def persistent_load(self, pid: Any) -> Any:
        if pid == _BACKEND_REF:
            return self._backend
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


def dump_document(obj: Any) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def load_document(data: bytes, code_refs: List[str], backend: Any) -> Any:
    for ref in code_refs:
        try:
            resolve_ref(ref)
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"cannot import {ref!r}, which this graph needs: {exc}") from exc
    return _Unpickler(data, backend).load()


def graph_code_refs(graph: Any) -> List[str]:
    """The classes a reader must import (those stored by value travel with the document)."""
    refs: Set[str] = set()
    for _, artifact in graph.artifacts.walk():
        classes = [type(artifact)]
        if artifact.producer_output is not None:
            classes.append(type(artifact.producer_output.producer))
        refs.update(code_ref(c) for c in classes if not stored_by_value(c))
    return sorted(refs)


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


class ArtimetaConnection(Connection):  # type: ignore[misc,unused-ignore]
    def __init__(self, backend: ArtimetaBackend) -> None:
        self.backend = backend
        self.client = backend.client
        self.namespace = backend.namespace
        # ConnectionService for this namespace: typed methods, the client's deadlines and errors.
        self.graphs = self.client.namespace(self.namespace).graphs

    # Artifact partitions

    def read_artifact_partitions(self, artifact: Any, input_fingerprints: Any = _NO_FILTER) -> Tuple[Any, ...]:
        storage_fp = _fp(artifact.storage.fingerprint)
        if storage_fp not in self.backend._known_storages:
            # Data may exist that no backend has recorded: the first look at a storage discovers it.
            self.write_artifact_partitions(artifact, artifact.storage.discover_partitions(input_fingerprints))
        wanted = []
        for keys, fingerprint in input_fingerprints.items():
            entry = ppb.InputFingerprint()
            if keys:
                keys_message(keys, entry.keys)
            if fingerprint.key is not None:
                entry.fingerprint = fingerprint.key
            wanted.append(entry)
        request = pb.ReadArtifactPartitionsRequest(
            namespace=self.namespace, storage_fingerprint=storage_fp, input_fingerprints=wanted
        )
        return tuple(
            partition_from_message(p)
            for chunk in self.graphs.read_artifact_partitions(request)
            for p in chunk.partitions
        )

    def write_artifact_partitions(self, artifact: Any, partitions: Any) -> None:
        storage_fp = _fp(artifact.storage.fingerprint)
        request = pb.WriteArtifactPartitionsRequest(namespace=self.namespace, storage_fingerprint=storage_fp)
        if _add_fingerprinted(partitions, request.partitions):
            self.graphs.write_artifact_partitions(request)
        self.backend._known_storages.add(storage_fp)

    # Graphs

    def read_graph(self, name: str, fingerprint: Any) -> Any:
        try:
            resp = self.graphs.read_graph(
                pb.ReadGraphRequest(namespace=self.namespace, name=name, fingerprint=_fp(fingerprint)),
            )
        except NotFound as exc:
            if exc.reason == "GRAPH_NOT_FOUND":
                raise KeyError(fingerprint) from None
            raise
        return load_document(resp.graph.document, list(resp.graph.code_refs), self.backend)

    def write_graph(self, graph: Any) -> None:
        msg = graph_pb2.Graph(
            name=graph.name,
            fingerprint=_fp(graph.fingerprint),
            document=dump_document(graph),
            document_format=GRAPH_FORMAT,
            code_refs=graph_code_refs(graph),
        )
        self.graphs.write_graph(
            pb.WriteGraphRequest(namespace=self.namespace, graph=msg, lineage=graph_lineage(graph)),
        )

    # Snapshots

    def read_snapshot(self, name: str, fingerprint: Any) -> Any:
        try:
            resp = self.graphs.read_snapshot(
                pb.ReadSnapshotRequest(namespace=self.namespace, name=name, fingerprint=_fp(fingerprint)),
            )
        except NotFound as exc:
            if exc.reason == "SNAPSHOT_NOT_FOUND":
                raise KeyError(fingerprint) from None
            raise
        return load_document(resp.snapshot.document, list(resp.snapshot.code_refs), self.backend)

    def write_snapshot(self, snapshot: Any) -> None:
        msg = graph_pb2.GraphSnapshot(
            name=snapshot.name,
            fingerprint=_fp(snapshot.fingerprint),
            id=_fp(snapshot.id),
            graph_fingerprint=_fp(snapshot.graph.fingerprint),
            document=dump_document(snapshot),
            document_format=SNAPSHOT_FORMAT,
            code_refs=graph_code_refs(snapshot.graph),
        )
        self.graphs.write_snapshot(pb.WriteSnapshotRequest(namespace=self.namespace, snapshot=msg))

    def read_snapshot_tag(self, name: str, tag: str) -> Any:
        try:
            resp = self.graphs.read_snapshot_tag(
                pb.ReadSnapshotTagRequest(namespace=self.namespace, name=name, tag=tag)
            )
        except NotFound as exc:
            if exc.reason == "TAG_NOT_FOUND":
                raise ValueError(f"No known `{tag}` tag for GraphSnapshot `{name}`") from None
            raise
        return load_document(resp.snapshot.document, list(resp.snapshot.code_refs), self.backend)

    def write_snapshot_tag(self, snapshot: Any, tag: str, overwrite: bool = False) -> None:
        request = pb.WriteSnapshotTagRequest(
            namespace=self.namespace,
            name=snapshot.name,
            tag=tag,
            snapshot_fingerprint=_fp(snapshot.fingerprint),
            overwrite=overwrite,
            actor=self.backend.actor,
        )
        try:
            try:
                self.graphs.write_snapshot_tag(request)
            except NotFound as exc:
                if exc.reason != "SNAPSHOT_NOT_FOUND":
                    raise
                # arti lets a snapshot be tagged before it is written; the service needs it stored.
                self.write_snapshot(snapshot)
                self.graphs.write_snapshot_tag(request)
        except AlreadyExists as exc:
            if exc.reason != "TAG_EXISTS":
                raise
            existing = self.read_snapshot(
                snapshot.name, Fingerprint.from_int(int(exc.metadata["snapshot_fingerprint"]))
            )
            raise ValueError(f"Existing `{tag}` tag for Graph `{snapshot.name}` points to {existing}") from None

    # Snapshot partitions

    def read_snapshot_partitions(self, snapshot: Any, artifact_key: str, artifact: Any) -> Tuple[Any, ...]:
        request = pb.ReadSnapshotPartitionsRequest(
            namespace=self.namespace,
            name=snapshot.name,
            snapshot_fingerprint=_fp(snapshot.fingerprint),
            artifact_key=artifact_key,
        )
        return tuple(
            partition_from_message(p)
            for chunk in self.graphs.read_snapshot_partitions(request)
            for p in chunk.partitions
        )

    def write_snapshot_partitions(self, snapshot: Any, artifact_key: str, artifact: Any, partitions: Any) -> None:
        request = pb.WriteSnapshotPartitionsRequest(
            namespace=self.namespace,
            name=snapshot.name,
            snapshot_fingerprint=_fp(snapshot.fingerprint),
            artifact_key=artifact_key,
        )
        if _add_fingerprinted(partitions, request.partitions):
            self.graphs.write_snapshot_partitions(request)

    def write_artifact_and_graph_partitions(
        self, snapshot: Any, artifact_key: str, artifact: Any, partitions: Any
    ) -> None:
        """Both writes in one transaction on the server (arti's default makes two calls)."""
        storage_fp = _fp(artifact.storage.fingerprint)
        request = pb.WriteArtifactAndGraphPartitionsRequest(
            namespace=self.namespace,
            name=snapshot.name,
            snapshot_fingerprint=_fp(snapshot.fingerprint),
            artifact_key=artifact_key,
            storage_fingerprint=storage_fp,
        )
        if _add_fingerprinted(partitions, request.partitions):
            self.graphs.write_artifact_and_graph_partitions(request)
        self.backend._known_storages.add(storage_fp)


class ArtimetaBackend(Backend[ArtimetaConnection]):  # type: ignore[misc,unused-ignore]
    """An arti Backend whose state lives in an artimeta server, shared by every process that
    uses the same target and namespace."""

    target: str
    namespace: str
    # Recorded as the author of tag moves.
    actor: str = ""
    # A missing namespace is created on first use; False expects it to exist (NotFound otherwise).
    create_namespace: bool = True
    timeout: Optional[float] = None
    token: Optional[str] = Field(None, repr=False)
    secure: Optional[bool] = None
    root_certificates: Optional[bytes] = Field(None, repr=False)
    private_key: Optional[bytes] = Field(None, repr=False)
    certificate_chain: Optional[bytes] = Field(None, repr=False)

    _client: Optional[Client] = PrivateAttr(None)
    _known_storages: Set[int] = PrivateAttr(default_factory=set)

    @property
    def client(self) -> Client:
        if self._client is None:
            kwargs: Dict[str, Any] = {}
            if self.timeout is not None:
                kwargs["timeout"] = self.timeout
            client = Client(
                self.target,
                token=self.token,
                secure=self.secure,
                root_certificates=self.root_certificates,
                private_key=self.private_key,
                certificate_chain=self.certificate_chain,
                **kwargs,
            )
            try:
                client.ensure_namespace(self.namespace, create=self.create_namespace, description="arti graphs")
            except BaseException:
                client.close()
                raise
            object.__setattr__(self, "_client", client)
        assert self._client is not None
        return self._client

    @contextmanager
    def connect(self) -> Iterator[ArtimetaConnection]:
        yield ArtimetaConnection(self)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            object.__setattr__(self, "_client", None)

    def __getstate__(self) -> Dict[str, Any]:
        # A channel cannot be pickled; a copy in another process opens its own.
        state: Dict[str, Any] = super().__getstate__()
        private = dict(state.get("__private_attribute_values__") or {})
        private["_client"] = None
        private["_known_storages"] = set()
        state["__private_attribute_values__"] = private
        return state


__all__ = [
    "ArtimetaBackend",
    "ArtimetaConnection",
    "partition_from_message",
    "partition_message",
]
