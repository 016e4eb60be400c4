"""ConnectionService: arti's Connection over the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any, TypeVar, cast

import grpc

from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc, graph_pb2
from artimeta_server.domain.connection import Connections, footprint
from artimeta_server.domain.connection_models import (
    GraphRecord,
    SnapshotRecord,
    StoredRecord,
    TagMove,
    TagRecord,
)
from artimeta_server.domain.lru import BoundedCache
from artimeta_server.rpc import access, convert
from artimeta_server.rpc.lineage import lineage_from_message, lineage_message
from artimeta_server.rpc.partitions import batches, framed, input_filter

Context = grpc.aio.ServicerContext[Any, Any]
R = TypeVar("R")
REPLY_CACHE_BYTES = 64 * 1024 * 1024

# Reads need a reader of the namespace (the read-only console, arti readers); writes a writer.
access.declare(
    "artimeta.v1.ConnectionService",
    read={
        "ReadArtifactPartitions",
        "ReadGraph",
        "ReadSnapshot",
        "ReadSnapshotTag",
        "ReadSnapshotPartitions",
        "ListGraphs",
        "ListSnapshots",
        "ListSnapshotTags",
        "ListSnapshotTagHistory",
        "GetGraphLineage",
        "ListSnapshotPartitions",
    },
    write={
        "WriteArtifactPartitions",
        "WriteGraph",
        "WriteSnapshot",
        "WriteSnapshotTag",
        "WriteSnapshotPartitions",
        "WriteArtifactAndGraphPartitions",
    },
)


def graph_message(g: GraphRecord | StoredRecord) -> graph_pb2.Graph:
    return graph_pb2.Graph(
        name=g.name,
        fingerprint=g.fingerprint,
        document=g.document if isinstance(g, GraphRecord) else b"",
        document_format=g.document_format,
        code_refs=g.code_refs,
        create_time=convert.timestamp(g.create_time),
        document_size=g.document_size,
    )


def snapshot_message(s: SnapshotRecord | StoredRecord) -> graph_pb2.GraphSnapshot:
    return graph_pb2.GraphSnapshot(
        name=s.name,
        fingerprint=s.fingerprint,
        id=s.snapshot_id,
        graph_fingerprint=s.graph_fingerprint,
        document=s.document if isinstance(s, SnapshotRecord) else b"",
        document_format=s.document_format,
        code_refs=s.code_refs,
        create_time=convert.timestamp(s.create_time),
        document_size=s.document_size,
    )


def tag_message(t: TagRecord) -> graph_pb2.SnapshotTag:
    return graph_pb2.SnapshotTag(
        name=t.name,
        tag=t.tag,
        snapshot_fingerprint=t.snapshot_fingerprint,
        update_time=convert.timestamp(t.update_time),
        actor=t.actor,
    )


def move_message(m: TagMove) -> graph_pb2.SnapshotTagMove:
    msg = graph_pb2.SnapshotTagMove(
        name=m.name,
        tag=m.tag,
        to_snapshot_fingerprint=m.to_snapshot_fingerprint,
        actor=m.actor,
        move_time=convert.timestamp(m.move_time),
        sequence=m.sequence,
    )
    if m.from_snapshot_fingerprint is not None:
        msg.from_snapshot_fingerprint = m.from_snapshot_fingerprint
    return msg


class ConnectionServicer(connection_pb2_grpc.ConnectionServiceServicer):
    def __init__(self, connections: Connections, replies: BoundedCache[tuple[object, Any]] | None = None) -> None:
        self._c = connections
        # Replies to reads of immutable records, built once: the same record object comes back
        # from the domain's cache, so a hot read re-serializes a ready reply. An entry keeps its
        # record alive (so its id is not reused while it is here) and holds a copy of the
        # document in the reply: both count against the budget, and a document too large for
        # it is answered with a reply built for that read alone.
        self._replies = BoundedCache(max_bytes=REPLY_CACHE_BYTES) if replies is None else replies

    def _reply(self, key: Hashable, record: GraphRecord | SnapshotRecord, build: Callable[[], R]) -> R:
        """The reply of a read of an immutable record, built once per cached record."""
        hit = self._replies.get(key)
        if hit is not None and hit[0] is record:
            return cast(R, hit[1])
        reply = build()
        self._replies.put(key, (record, reply), 2 * footprint(record))
        return reply

    async def ReadArtifactPartitions(
        self, request: pb.ReadArtifactPartitionsRequest, context: Context
    ) -> AsyncIterator[pb.ReadArtifactPartitionsResponse]:
        wanted = input_filter(request.input_fingerprints)
        async for bodies in self._c.read_artifact_partitions(request.namespace, request.storage_fingerprint, wanted):
            yield pb.ReadArtifactPartitionsResponse.FromString(framed(bodies))

    async def WriteArtifactPartitions(
        self, request: pb.WriteArtifactPartitionsRequest, context: Context
    ) -> pb.WriteArtifactPartitionsResponse:
        added = await self._c.write_artifact_partitions(
            request.namespace, request.storage_fingerprint, batches(request.partitions)
        )
        return pb.WriteArtifactPartitionsResponse(added_count=added)

    async def ReadGraph(self, request: pb.ReadGraphRequest, context: Context) -> pb.ReadGraphResponse:
        graph = await self._c.read_graph(request.namespace, request.name, request.fingerprint)
        return self._reply(("g", id(graph)), graph, lambda: pb.ReadGraphResponse(graph=graph_message(graph)))

    async def WriteGraph(self, request: pb.WriteGraphRequest, context: Context) -> pb.WriteGraphResponse:
        g = request.graph
        created = await self._c.write_graph(
            request.namespace,
            GraphRecord(g.name, g.fingerprint, g.document, g.document_format, tuple(g.code_refs)),
            lineage_from_message(request.lineage) if request.HasField("lineage") else None,
        )
        return pb.WriteGraphResponse(created=created)

    async def ReadSnapshot(self, request: pb.ReadSnapshotRequest, context: Context) -> pb.ReadSnapshotResponse:
        snap = await self._c.read_snapshot(request.namespace, request.name, request.fingerprint)
        return self._reply(("s", id(snap)), snap, lambda: pb.ReadSnapshotResponse(snapshot=snapshot_message(snap)))

    async def WriteSnapshot(self, request: pb.WriteSnapshotRequest, context: Context) -> pb.WriteSnapshotResponse:
        s = request.snapshot
        created = await self._c.write_snapshot(
            request.namespace,
            SnapshotRecord(
                s.name, s.fingerprint, s.id, s.graph_fingerprint, s.document, s.document_format, tuple(s.code_refs)
            ),
        )
        return pb.WriteSnapshotResponse(created=created)

    async def ReadSnapshotTag(self, request: pb.ReadSnapshotTagRequest, context: Context) -> pb.ReadSnapshotTagResponse:
        tag, snap = await self._c.read_snapshot_tag(
            request.namespace, request.name, request.tag, strong=convert.strong(request.consistency)
        )
        # An equal tag row pointing at the same cached snapshot has the same reply, so the reply
        # is reused rather than rebuilt.
        return self._reply(
            ("t", id(snap), tag),
            snap,
            lambda: pb.ReadSnapshotTagResponse(snapshot=snapshot_message(snap), tag=tag_message(tag)),
        )

    async def WriteSnapshotTag(
        self, request: pb.WriteSnapshotTagRequest, context: Context
    ) -> pb.WriteSnapshotTagResponse:
        result = await self._c.write_snapshot_tag(
            request.namespace,
            request.name,
            request.tag,
            request.snapshot_fingerprint,
            overwrite=request.overwrite,
            expected=request.expected_snapshot_fingerprint
            if request.HasField("expected_snapshot_fingerprint")
            else None,
            actor=request.actor,
        )
        resp = pb.WriteSnapshotTagResponse(tag=tag_message(result.tag))
        if result.previous_snapshot_fingerprint is not None:
            resp.previous_snapshot_fingerprint = result.previous_snapshot_fingerprint
        return resp

    async def ReadSnapshotPartitions(
        self, request: pb.ReadSnapshotPartitionsRequest, context: Context
    ) -> AsyncIterator[pb.ReadSnapshotPartitionsResponse]:
        async for bodies in self._c.read_snapshot_partitions(
            request.namespace, request.name, request.snapshot_fingerprint, request.artifact_key
        ):
            yield pb.ReadSnapshotPartitionsResponse.FromString(framed(bodies))

    async def WriteSnapshotPartitions(
        self, request: pb.WriteSnapshotPartitionsRequest, context: Context
    ) -> pb.WriteSnapshotPartitionsResponse:
        added = await self._c.write_snapshot_partitions(
            request.namespace,
            request.name,
            request.snapshot_fingerprint,
            request.artifact_key,
            batches(request.partitions),
        )
        return pb.WriteSnapshotPartitionsResponse(added_count=added)

    async def WriteArtifactAndGraphPartitions(
        self, request: pb.WriteArtifactAndGraphPartitionsRequest, context: Context
    ) -> pb.WriteArtifactAndGraphPartitionsResponse:
        artifact, snapshot = await self._c.write_artifact_and_graph_partitions(
            request.namespace,
            request.name,
            request.snapshot_fingerprint,
            request.artifact_key,
            request.storage_fingerprint,
            batches(request.partitions),
        )
        return pb.WriteArtifactAndGraphPartitionsResponse(artifact_added_count=artifact, snapshot_added_count=snapshot)

    async def ListGraphs(self, request: pb.ListGraphsRequest, context: Context) -> pb.ListGraphsResponse:
        page = await self._c.list_graphs(request.namespace, request.name, request.page_size, request.page_token)
        return pb.ListGraphsResponse(
            graphs=[graph_message(g) for g in page.items], next_page_token=page.next_page_token
        )

    async def ListSnapshots(self, request: pb.ListSnapshotsRequest, context: Context) -> pb.ListSnapshotsResponse:
        page = await self._c.list_snapshots(request.namespace, request.name, request.page_size, request.page_token)
        return pb.ListSnapshotsResponse(
            snapshots=[snapshot_message(s) for s in page.items], next_page_token=page.next_page_token
        )

    async def ListSnapshotTags(
        self, request: pb.ListSnapshotTagsRequest, context: Context
    ) -> pb.ListSnapshotTagsResponse:
        page = await self._c.list_snapshot_tags(request.namespace, request.name, request.page_size, request.page_token)
        return pb.ListSnapshotTagsResponse(
            tags=[tag_message(t) for t in page.items], next_page_token=page.next_page_token
        )

    async def ListSnapshotTagHistory(
        self, request: pb.ListSnapshotTagHistoryRequest, context: Context
    ) -> pb.ListSnapshotTagHistoryResponse:
        page = await self._c.tag_history(
            request.namespace, request.name, request.tag, request.page_size, request.page_token
        )
        return pb.ListSnapshotTagHistoryResponse(
            moves=[move_message(m) for m in page.items], next_page_token=page.next_page_token
        )

    async def GetGraphLineage(self, request: pb.GetGraphLineageRequest, context: Context) -> pb.GetGraphLineageResponse:
        lineage = await self._c.graph_lineage(request.namespace, request.name, request.fingerprint)
        if lineage is None:
            return pb.GetGraphLineageResponse()
        return pb.GetGraphLineageResponse(lineage=lineage_message(lineage))

    async def ListSnapshotPartitions(
        self, request: pb.ListSnapshotPartitionsRequest, context: Context
    ) -> pb.ListSnapshotPartitionsResponse:
        page = await self._c.list_snapshot_partitions(
            request.namespace,
            request.name,
            request.snapshot_fingerprint,
            request.artifact_key,
            request.page_size,
            request.page_token,
        )
        # The bodies are StoragePartition encodings already: framed, not decoded and re-encoded.
        resp = pb.ListSnapshotPartitionsResponse.FromString(framed(page.items))
        resp.next_page_token = page.next_page_token
        return resp
