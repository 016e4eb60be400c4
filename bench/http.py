"""The HTTP port against the gRPC port of the same server process, and the console's first page.

1. GetNamespace at concurrency 16 over gRPC (grpc.aio load generator, as bench/workers.py) and
   over Connect JSON (the generated Python Connect client on pyqwest), against one
   `artimeta-server serve` with both ports on; beside the HTTP ceiling measured in the same run
   (a bare uvicorn + httptools ASGI app answering a constant JSON body, same load generator).
   Goal: Connect JSON reaches at least 50% of gRPC's RPC/s.
2. The console in headless Chromium: time from navigation to the first page of partitions
   rendered, for an artifact of 100k partitions in one snapshot (and the namespace list, and the
   snapshot's lineage DAG laid out). Goal: under 1 s. The last page (a keyset token 500 pages in)
   is timed too: it should cost what the first does.
3. ListSnapshotPartitions (200 per page) over gRPC, first and last page of the 100k, one call at a
   time; beside its ceiling, the same index range scan sent straight to Postgres with asyncpg.

`python -m bench http` (env BENCH_SECONDS, default 5 per point).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import cpu
from bench.ceilings import new_stack, spawn_server, stop, wait_http
from bench.workers import CONCURRENCY, LOADERS, SECONDS, WARMUP_S, _drive, _wait_ready

PARTITIONS = 100_000

_HTTP_CEILING = """
import sys, uvicorn
BODY = b'{"namespace":{"name":"bench-http","createTime":"2026-01-01T00:00:00Z"}}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="httptools", loop="uvloop", log_level="error",
            access_log=False, lifespan="off")
"""


def _http_loader(base_url: str, path: str, body: bytes, seconds: float, out: Any) -> None:
    import uvloop
    from pyqwest import Client, HTTPTransport, HTTPVersion

    cpu.pin_load()

    async def run() -> None:
        count = errors = total = 0
        lat: list[float] = []
        stop_at = time.perf_counter() + WARMUP_S + seconds
        measure_from = time.perf_counter() + WARMUP_S
        # Connection reuse, no compression: what a plain HTTP/1.1 client sends.
        client = Client(
            HTTPTransport(
                http_version=HTTPVersion.HTTP1,
                enable_gzip=False,
                enable_brotli=False,
                enable_zstd=False,
                enable_otel=False,
            )
        )
        headers = {"content-type": "application/json"}

        async def worker() -> None:
            nonlocal count, errors, total
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    resp = await client.post(base_url + path, headers=headers, content=body)
                    ok = resp.status == 200 and len(resp.content) > 0
                except Exception:
                    ok = False
                if not ok:
                    errors += 1
                    continue
                total += 1
                if t0 >= measure_from:
                    count += 1
                    if count % 8 == 0:
                        lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY // LOADERS)))
        out.put({"count": count, "total": total, "errors": errors, "lat": lat})

    uvloop.run(run())


def _drive_http(base_url: str, path: str, body: bytes, server_pid: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_http_loader, args=(base_url, path, body, SECONDS, q)) for _ in range(LOADERS)]
    cpu_before = cpu.cpu_s(server_pid)
    for p in procs:
        p.start()
    parts = [q.get(timeout=SECONDS + 60) for _ in procs]
    used = cpu.cpu_s(server_pid) - cpu_before
    for p in procs:
        p.join()
    count = sum(p["count"] for p in parts)
    lat = sorted(x for p in parts for x in p["lat"])
    return {
        # Over every request the loaders sent, warm-up included, as bench/workers.py counts.
        "server_cpu_us_per_rpc": cpu.us_per_call(used, sum(p["total"] for p in parts)),
        "rpc_per_s": round(count / SECONDS),
        "errors": sum(p["errors"] for p in parts),
        "p50_ms": round(statistics.median(lat) * 1000, 3) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 3) if lat else None,
    }


async def _console_timings(
    base_url: str, ns: str, name: str, snapshot: int, artifact: str, last_token: str
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from tests.http.conftest import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        return {"skipped": "no system Chromium (scripts/ensure-chromium.sh)"}
    out: dict[str, Any] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        page = await browser.new_page()
        await page.goto(base_url + "/console/")  # warm: bundle parsed and cached, server connections open
        await page.locator("body:not([data-state=loading])").wait_for()
        artifact_url = f"/console/ns/{ns}/graphs/{name}/snapshots/{snapshot}/artifacts/{artifact}"
        targets = {
            "namespaces_first_page_ms": ("/console/", "[data-testid=namespaces] tbody tr"),
            "partitions_first_page_ms": (artifact_url, "[data-testid=partitions] tbody tr"),
            "partitions_last_page_ms": (
                f"{artifact_url}?page={last_token}&n={PARTITIONS // 200}",
                "[data-testid=partition-range][data-last=yes]",
            ),
            # Filled once cytoscape + dagre have laid the DAG out.
            "snapshot_lineage_dag_ms": (
                f"/console/ns/{ns}/graphs/{name}/snapshots/{snapshot}",
                "[data-testid=dag-index] li",
            ),
        }
        runs: dict[str, list[float]] = {key: [] for key in targets}
        for _ in range(5):
            for key, (url, rows) in targets.items():
                await page.goto("about:blank")
                t0 = time.perf_counter()
                await page.goto(base_url + url)
                await page.locator(rows).first.wait_for(state="attached")
                runs[key].append((time.perf_counter() - t0) * 1000)
        await browser.close()
    for key, values in runs.items():
        out[key] = round(statistics.median(values))
    out["runs"] = 5
    out["note"] = (
        "navigation start to the first table row in the DOM, median; page reloaded each time (a cold page, a warm server)"
    )
    return out


def _page_latencies(grpc_target: str, dsn: str, ns: str, name: str, snapshot: int, artifact: str) -> dict[str, Any]:
    """ListSnapshotPartitions, first and last page, against the same range scan sent to Postgres."""
    import asyncpg
    import uvloop

    import artimeta
    from artimeta.v1 import connection_pb2 as cpb
    from artimeta.v1 import connection_pb2_grpc

    calls = 50

    def median_ms(samples: list[float]) -> float:
        return round(statistics.median(samples) * 1000, 2)

    async def run() -> dict[str, Any]:
        async with artimeta.AsyncClient(grpc_target, timeout=60) as c:
            stub = c.stub(connection_pb2_grpc.ConnectionServiceStub)

            def request(token: str) -> cpb.ListSnapshotPartitionsRequest:
                return cpb.ListSnapshotPartitionsRequest(
                    namespace=ns,
                    name=name,
                    snapshot_fingerprint=snapshot,
                    artifact_key=artifact,
                    page_size=200,
                    page_token=token,
                )

            token, last, pages = "", "", 0
            while True:  # walk to the last page to get its token
                page = await c.call(stub.ListSnapshotPartitions, request(token))
                pages += 1
                if not page.next_page_token:
                    break
                last = token = page.next_page_token
            out: dict[str, Any] = {"pages": pages, "last_token": last}
            for key, tok in (("grpc_first_page_ms", ""), ("grpc_last_page_ms", last)):
                samples = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    await c.call(stub.ListSnapshotPartitions, request(tok))
                    samples.append(time.perf_counter() - t0)
                out[key] = median_ms(samples)
        conn = await asyncpg.connect(dsn)
        try:
            ns_id = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", ns)
            after = await conn.fetchval(
                "SELECT ident FROM arti_snapshot_partitions WHERE namespace_id = $1 AND name = $2"
                " AND snapshot_fingerprint = $3 AND artifact_key = $4 ORDER BY ident DESC OFFSET 200 LIMIT 1",
                ns_id,
                name,
                snapshot,
                artifact,
            )
            query = (
                "SELECT ident, body, body_hash, body_size FROM arti_snapshot_partitions WHERE namespace_id = $1"
                " AND name = $2 AND snapshot_fingerprint = $3 AND artifact_key = $4 AND ident > $5"
                " ORDER BY ident LIMIT 201"
            )
            for key, start in (("ceiling_sql_first_page_ms", b""), ("ceiling_sql_last_page_ms", after)):
                samples = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    await conn.fetch(query, ns_id, name, snapshot, artifact, start)
                    samples.append(time.perf_counter() - t0)
                out[key] = median_ms(samples)
        finally:
            await conn.close()
        return out

    result: dict[str, Any] = uvloop.run(run())
    result["note"] = (
        f"median of {calls} sequential calls, 200 partitions per page; ceiling = the same query over asyncpg"
    )
    return result


def main() -> dict[str, Any]:
    import uvloop

    from artimeta.v1 import connection_pb2 as cpb
    from artimeta.v1 import connection_pb2_grpc, graph_pb2
    from artimeta.v1 import namespace_pb2 as pb
    from artimeta_server.devstack.procs import free_port
    from tests.http.test_console_arti import partition
    from tests.http.test_console_lineage import lineage

    stack = new_stack(durable=False)
    stack.start()
    result: dict[str, Any] = {
        "benchmark": "http",
        "rpc": "NamespaceService/GetNamespace",
        "concurrency": CONCURRENCY,
        "seconds_per_point": SECONDS,
        "machine": cpu.machine(),
        "goal": "connect_json >= 0.5 x grpc; console first page < 1000 ms",
    }
    try:
        port = free_port()
        ceiling = subprocess.Popen([sys.executable, "-c", _HTTP_CEILING, str(port)], preexec_fn=cpu.server_preexec())
        try:
            wait_http(f"http://127.0.0.1:{port}/", ceiling)
            result["ceiling_bare_uvicorn_json"] = _drive_http(f"http://127.0.0.1:{port}", "/x", b"{}", ceiling.pid)
        finally:
            stop(ceiling)

        grpc_port, http_port = free_port(), free_port()
        server = spawn_server(
            stack,
            f"127.0.0.1:{grpc_port}",
            {
                "ARTIMETA_HTTP_LISTEN": f"127.0.0.1:{http_port}",
                "ARTIMETA_LOG_REQUESTS": "false",
            },
        )
        try:
            _wait_ready(f"127.0.0.1:{grpc_port}", server)
            wait_http(f"http://127.0.0.1:{http_port}/healthz", server)
            ns, name, snapshot, artifact = "bench-http", "bench-graph", 7, "orders"

            async def prepare() -> None:
                import artimeta

                async with artimeta.AsyncClient(f"127.0.0.1:{grpc_port}", timeout=120) as c:
                    await c.create_namespace(ns)
                    stub = c.stub(connection_pb2_grpc.ConnectionServiceStub)
                    await c.call(
                        stub.WriteGraph,
                        cpb.WriteGraphRequest(
                            namespace=ns, graph=graph_pb2.Graph(name=name, fingerprint=1), lineage=lineage()
                        ),
                    )
                    await c.call(
                        stub.WriteSnapshot,
                        cpb.WriteSnapshotRequest(
                            namespace=ns,
                            snapshot=graph_pb2.GraphSnapshot(name=name, fingerprint=snapshot, graph_fingerprint=1),
                        ),
                    )
                    for start in range(0, PARTITIONS, 5000):
                        await c.call(
                            stub.WriteSnapshotPartitions,
                            cpb.WriteSnapshotPartitionsRequest(
                                namespace=ns,
                                name=name,
                                snapshot_fingerprint=snapshot,
                                artifact_key=artifact,
                                partitions=[partition(i) for i in range(start, start + 5000)],
                            ),
                        )

            uvloop.run(prepare())
            request = pb.GetNamespaceRequest(name=ns)
            result["grpc"] = _drive(
                f"127.0.0.1:{grpc_port}",
                "/artimeta.v1.NamespaceService/GetNamespace",
                request.SerializeToString(),
                server_pid=server.pid,
            )
            result["connect_json"] = _drive_http(
                f"http://127.0.0.1:{http_port}",
                "/artimeta.v1.NamespaceService/GetNamespace",
                json.dumps({"name": ns}).encode(),
                server.pid,
            )
            g, c = result["grpc"]["rpc_per_s"], result["connect_json"]["rpc_per_s"]
            result["connect_json_over_grpc"] = round(c / g, 2) if g else None
            result["connect_json_vs_http_ceiling"] = round(c / result["ceiling_bare_uvicorn_json"]["rpc_per_s"], 2)
            pages = _page_latencies(
                f"127.0.0.1:{grpc_port}", stack.env()["ARTIMETA_DATABASE_URL"], ns, name, snapshot, artifact
            )
            last_token = pages.pop("last_token")
            result["list_snapshot_partitions"] = pages
            result["console"] = {
                "partitions_in_artifact": PARTITIONS,
                **uvloop.run(
                    _console_timings(f"http://127.0.0.1:{http_port}", ns, name, snapshot, artifact, last_token)
                ),
            }
        finally:
            stop(server)
    finally:
        stack.remove()
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
