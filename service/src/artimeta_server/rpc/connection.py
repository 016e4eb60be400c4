"""ConnectionService: arti's Connection over the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc, graph_pb2
from artimeta_server.domain.connection.models import DocumentRow, Graph, Snapshot, SnapshotTag, SnapshotTagMove
from artimeta_server.domain.connection.service import Connections
from artimeta_server.rpc import access, convert
from artimeta_server.rpc.lineage import lineage_from_message, lineage_message
from artimeta_server.rpc.partitions import batches, framed, read_filter

Context = grpc.aio.ServicerContext[Any, Any]

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


def graph_message(g: Graph | DocumentRow) -> graph_pb2.Graph:
    return graph_pb2.Graph(
        name=g.name,
        fingerprint=g.fingerprint,
        document=g.document if isinstance(g, Graph) else b"",
        document_format=g.document_format,
        code_refs=g.code_refs,
        create_time=convert.timestamp(g.create_time),
        document_size=g.document_size,
    )


def snapshot_message(s: Snapshot | DocumentRow) -> graph_pb2.GraphSnapshot:
    return graph_pb2.GraphSnapshot(
        name=s.name,
        fingerprint=s.fingerprint,
        id=s.snapshot_id,
        graph_fingerprint=s.graph_fingerprint,
        document=s.document if isinstance(s, Snapshot) else b"",
        document_format=s.document_format,
        code_refs=s.code_refs,
        create_time=convert.timestamp(s.create_time),
        document_size=s.document_size,
    )


def tag_message(t: SnapshotTag) -> graph_pb2.SnapshotTag:
    return graph_pb2.SnapshotTag(
        name=t.name,
        tag=t.tag,
        snapshot_fingerprint=t.snapshot_fingerprint,
        update_time=convert.timestamp(t.update_time),
        actor=t.actor,
    )


def move_message(m: SnapshotTagMove) -> graph_pb2.SnapshotTagMove:
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


def _graph_reply(graph: Graph) -> pb.ReadGraphResponse:
    return pb.ReadGraphResponse(graph=graph_message(graph))


def _snapshot_reply(snap: Snapshot) -> pb.ReadSnapshotResponse:
    return pb.ReadSnapshotResponse(snapshot=snapshot_message(snap))


def _snapshot_tag_reply(tag: SnapshotTag, snap: Snapshot) -> pb.ReadSnapshotTagResponse:
    return pb.ReadSnapshotTagResponse(snapshot=snapshot_message(snap), tag=tag_message(tag))


class ConnectionServicer(connection_pb2_grpc.ConnectionServiceServicer):
    """Replies to reads of graphs and snapshots are made once per cached record (the domain's
    renderings.py), so a hot read re-serializes a ready reply."""

    def __init__(self, connections: Connections) -> None:
        self._c = connections

    async def ReadArtifactPartitions(
        self, request: pb.ReadArtifactPartitionsRequest, context: Context
    ) -> AsyncIterator[pb.ReadArtifactPartitionsResponse]:
        wanted = read_filter(request)
        async for bodies in self._c.partitions.read_artifact_partitions(
            request.namespace, request.storage_fingerprint, wanted
        ):
            yield pb.ReadArtifactPartitionsResponse.FromString(framed(bodies))

    async def WriteArtifactPartitions(
        self, request: pb.WriteArtifactPartitionsRequest, context: Context
    ) -> pb.WriteArtifactPartitionsResponse:
        added = await self._c.partitions.write_artifact_partitions(
            request.namespace, request.storage_fingerprint, batches(request.partitions)
        )
        return pb.WriteArtifactPartitionsResponse(added_count=added)

    async def ReadGraph(self, request: pb.ReadGraphRequest, context: Context) -> pb.ReadGraphResponse:
        return await self._c.render_graph(request.namespace, request.name, request.fingerprint, _graph_reply)

    async def WriteGraph(self, request: pb.WriteGraphRequest, context: Context) -> pb.WriteGraphResponse:
        g = request.graph
        created = await self._c.write_graph(
            request.namespace,
            Graph(g.name, g.fingerprint, g.document, g.document_format, tuple(g.code_refs)),
            lineage_from_message(request.lineage) if request.HasField("lineage") else None,
        )
        return pb.WriteGraphResponse(created=created)

    async def ReadSnapshot(self, request: pb.ReadSnapshotRequest, context: Context) -> pb.ReadSnapshotResponse:
        return await self._c.render_snapshot(request.namespace, request.name, request.fingerprint, _snapshot_reply)

    async def WriteSnapshot(self, request: pb.WriteSnapshotRequest, context: Context) -> pb.WriteSnapshotResponse:
        s = request.snapshot
        created = await self._c.write_snapshot(
            request.namespace,
            Snapshot(
                s.name, s.fingerprint, s.id, s.graph_fingerprint, s.document, s.document_format, tuple(s.code_refs)
            ),
        )
        return pb.WriteSnapshotResponse(created=created)

    async def ReadSnapshotTag(self, request: pb.ReadSnapshotTagRequest, context: Context) -> pb.ReadSnapshotTagResponse:
        return await self._c.render_snapshot_tag(
            request.namespace,
            request.name,
            request.tag,
            _snapshot_tag_reply,
            strong=convert.strong(request.consistency),
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
        async for bodies in self._c.partitions.read_snapshot_partitions(
            request.namespace, request.name, request.snapshot_fingerprint, request.artifact_key
        ):
            yield pb.ReadSnapshotPartitionsResponse.FromString(framed(bodies))

    async def WriteSnapshotPartitions(
        self, request: pb.WriteSnapshotPartitionsRequest, context: Context
    ) -> pb.WriteSnapshotPartitionsResponse:
        added = await self._c.partitions.write_snapshot_partitions(
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
        artifact, snapshot = await self._c.partitions.write_artifact_and_graph_partitions(
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
        page = await self._c.partitions.list_snapshot_partitions(
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
