"""GetNamespace (one Postgres round trip per RPC) at concurrency 16 beside the bare grpc.aio
echo ceiling; both driven by the same load generator process."""

from __future__ import annotations

from typing import Any

from grpc_health.v1 import health_pb2

import artimeta
from artimeta.v1 import namespace_pb2
from bench import cpu
from bench.ceilings import HEALTH_CHECK, artimeta_server, echo_server, load, local_stack, ratio


def main() -> dict[str, Any]:
    with echo_server() as echo:
        ceiling = load(echo, HEALTH_CHECK, health_pb2.HealthCheckRequest().SerializeToString())
    with local_stack() as stack, artimeta_server(stack) as target:
        with artimeta.Client(target) as client:
            client.create_namespace("bench")
        get = load(
            target,
            "/artimeta.v1.NamespaceService/GetNamespace",
            namespace_pb2.GetNamespaceRequest(name="bench").SerializeToString(),
        )
    return {
        "machine": cpu.machine(),
        "concurrency": 16,
        "echo_ceiling": ceiling,
        "get_namespace": get,
        "get_namespace_vs_echo": ratio(get["rps"], ceiling["rps"]),
    }
