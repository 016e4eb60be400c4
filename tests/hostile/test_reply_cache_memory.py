"""A reader reads a 20 MiB graph again and again, and many medium graphs under distinct keys:
the server's caches of documents and replies are bounded by bytes, so its resident memory
reaches a plateau instead of keeping a copy of the document per read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc, graph_pb2, namespace_pb2, namespace_pb2_grpc
from artimeta_server.devstack.stack import Stack
from tests.conftest import unique_name
from tests.hostile.server_process import ServerProcess, mib, server_process

BIG = 20 * 2**20
BIG_READS = 12
MEDIUM = 6 * 2**20
MEDIUM_GRAPHS = 16
# The server's default caches hold 64 MiB of documents and 64 MiB of replies; allow for the
# transient buffers of a 20 MiB reply on top (without bounds it was > 600 MiB here).
MAX_GROWTH = 260 * 2**20
OPTIONS = [("grpc.max_receive_message_length", 64 * 2**20), ("grpc.max_send_message_length", 64 * 2**20)]


@pytest.fixture(scope="module")
def reader_target(stack: Stack, venv_bin: Path, tmp_root: Path) -> Iterator[ServerProcess]:
    with server_process(stack, venv_bin, tmp_root) as server:
        yield server


def test_repeated_reads_of_large_graphs_reach_a_plateau(reader_target: ServerProcess) -> None:
    server = reader_target
    ns = unique_name()
    with grpc.insecure_channel(server.target, options=OPTIONS) as ch:
        namespace_pb2_grpc.NamespaceServiceStub(ch).CreateNamespace(
            namespace_pb2.CreateNamespaceRequest(namespace=namespace_pb2.Namespace(name=ns)), timeout=30
        )
        stub = connection_pb2_grpc.ConnectionServiceStub(ch)

        def write(name: str, fingerprint: int, size: int) -> None:
            graph = graph_pb2.Graph(name=name, fingerprint=fingerprint, document=os.urandom(size))
            stub.WriteGraph(pb.WriteGraphRequest(namespace=ns, graph=graph), timeout=120)

        def read(name: str, fingerprint: int) -> int:
            reply = stub.ReadGraph(pb.ReadGraphRequest(namespace=ns, name=name, fingerprint=fingerprint), timeout=120)
            return len(reply.graph.document)

        write("big", 1, BIG)
        for i in range(MEDIUM_GRAPHS):
            write("medium", i + 1, MEDIUM)
        assert read("big", 1) == BIG
        assert read("medium", 1) == MEDIUM
        before = server.rss_bytes()
        for _ in range(BIG_READS):
            assert read("big", 1) == BIG
        for _ in range(2):
            for i in range(MEDIUM_GRAPHS):
                assert read("medium", i + 1) == MEDIUM
        after = server.rss_bytes()
    print(
        f"reply caches: RSS {mib(before)} -> {mib(after)} (+{mib(after - before)}) after {BIG_READS} reads of "
        f"{mib(BIG)} and {2 * MEDIUM_GRAPHS} of {MEDIUM_GRAPHS} graphs of {mib(MEDIUM)}"
    )
    assert after - before < MAX_GROWTH, f"RSS grew by {mib(after - before)}"
