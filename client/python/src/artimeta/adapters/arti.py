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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Dict, Optional, Set, Tuple

from arti import (  # type: ignore[import-not-found,unused-ignore]
    Backend,
    Connection,
    Fingerprint,
)
from pydantic import Field, PrivateAttr  # type: ignore[import-not-found,unused-ignore]

from artimeta.adapters._arti_documents import (
    GRAPH_FORMAT,
    SNAPSHOT_FORMAT,
    dump_document,
    graph_code_refs,
    load_document,
    rebuild_class,
)
from artimeta.adapters._arti_messages import (
    _NO_FILTER,
    _add_fingerprinted,
    _fp,
    graph_lineage,
    keys_message,
    partition_from_message,
    partition_message,
)
from artimeta.client import Client
from artimeta.errors import AlreadyExists, NotFound
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import graph_pb2
from artimeta.v1 import partition_pb2 as ppb

__all__ = [
    "GRAPH_FORMAT",
    "SNAPSHOT_FORMAT",
    "ArtimetaBackend",
    "ArtimetaConnection",
    "graph_code_refs",
    "graph_lineage",
    "partition_from_message",
    "partition_message",
    "rebuild_class",
]


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
