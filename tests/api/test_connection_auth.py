"""ConnectionService under tokens: a reader of a namespace reads graphs, lineage and partition
pages (what the read-only console does) and cannot write; a writer can."""

from __future__ import annotations

import pytest

import artimeta
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc, graph_pb2
from artimeta_server.domain.auth.models import Role
from artimeta_server.server import Server
from tests.api.test_auth import (  # noqa: F401  (fixtures)
    _token,
    auth_server,
    auth_target,
    jwks_file,
    ns,
    root_token,
    signing_key,
)
from tests.api.test_lineage import lineage


async def test_readers_read_writers_write(auth_server: Server, auth_target: str, ns: str) -> None:  # noqa: F811
    reader = await _token(auth_server, ns, Role.READER)
    writer = await _token(auth_server, ns, Role.WRITER)
    graph = pb.WriteGraphRequest(
        namespace=ns, graph=graph_pb2.Graph(name="g", fingerprint=1, document=b"d"), lineage=lineage()
    )
    async with artimeta.AsyncClient(auth_target, token=reader, retry=None) as r:
        s = r.stub(connection_pb2_grpc.ConnectionServiceStub)
        with pytest.raises(artimeta.PermissionDenied):
            await r.call(s.WriteGraph, graph)
    async with artimeta.AsyncClient(auth_target, token=writer, retry=None) as w:
        s = w.stub(connection_pb2_grpc.ConnectionServiceStub)
        assert (await w.call(s.WriteGraph, graph)).created
    async with artimeta.AsyncClient(auth_target, token=reader, retry=None) as r:
        s = r.stub(connection_pb2_grpc.ConnectionServiceStub)
        got = await r.call(s.GetGraphLineage, pb.GetGraphLineageRequest(namespace=ns, name="g", fingerprint=1))
        assert got.lineage == lineage()
        assert [g.fingerprint for g in (await r.call(s.ListGraphs, pb.ListGraphsRequest(namespace=ns))).graphs] == [1]
        assert (await r.call(s.ReadGraph, pb.ReadGraphRequest(namespace=ns, name="g", fingerprint=1))).graph.document
        page = await r.call(
            s.ListSnapshotPartitions,
            pb.ListSnapshotPartitionsRequest(namespace=ns, name="g", snapshot_fingerprint=1, artifact_key="orders"),
        )
        assert list(page.partitions) == []
        # A reader of this namespace only.
        with pytest.raises(artimeta.PermissionDenied):
            await r.call(s.GetGraphLineage, pb.GetGraphLineageRequest(namespace=f"{ns}-other", name="g", fingerprint=1))
