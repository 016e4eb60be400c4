"""Issue 18's two tables in one run, each figure beside its own ceiling measured in the same run,
with the server CPU µs per RPC (from the server process's own CPU time over each window).

One stack (Postgres + S3, durable as `make run`), one `artimeta-server serve` with its gRPC and
HTTP ports and the access log on, and beside it: the bare grpc.aio echo server, the aiohttp hello
app and the peer (bench/peer.py: metaflow-service's shape, aiohttp + aiopg, GET run). Point reads
run at concurrency 16 (CheckCache also at 1) in short slices, round after round, each ratio taken
against the ceiling of its own round and the median round reported. Then WriteArtifactPartitions
(100k in one call) against raw COPY, the filtered read (10k fingerprints against 1M stored and
against 10k stored, with EXPLAIN buffers), and redun's 1,001-task replay against its SQLite.

`python -m bench [--pin] table` writes bench/results/table.json and table.md. Loopback only;
bounded (about 10 minutes at the default scale). BENCH_TABLE_ROUNDS (3), BENCH_TABLE_SECONDS
(3 s per slice), BENCH_CONNECTION_SCALE (1: 100k / 1M partitions), BENCH_TABLE_REDUN (1)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from grpc_health.v1 import health_pb2

import artimeta
from artimeta.v1 import connection_pb2 as cpb
from artimeta.v1 import namespace_pb2 as npb
from artimeta_server.devstack.procs import free_port
from bench import cpu, peer
from bench.cache import CHECK_CACHE, check_cache_request, redun_replay
from bench.ceilings import HEALTH_CHECK, PY, ROOT, SERVER_PIDS, load, new_stack, run_json, stop, wait_http, wait_ready
from bench.connection import ECHO_SERVER, _bulk_write, _filtered_reads, seed_point_reads

ROUNDS = int(os.environ.get("BENCH_TABLE_ROUNDS", "3"))
SLICE_S = float(os.environ.get("BENCH_TABLE_SECONDS", "3"))
REDUN = os.environ.get("BENCH_TABLE_REDUN", "1") == "1"
NS = "bench-table"
RESULTS = ROOT / "bench" / "results"


HEY = peer.ensure_hey()


def _http_load(url: str, pid: int, *, method: str = "GET", body: str = "", concurrency: int = 16) -> dict[str, Any]:
    if HEY is not None:
        return peer.hey_load(HEY, url, method=method, body=body, concurrency=concurrency, seconds=SLICE_S, cpu_pid=pid)
    args = ["--method", method, "--body", body, "--concurrency", str(concurrency), "--seconds", str(SLICE_S)]
    return run_json("bench.peer", "load", url, *args, "--cpu-pid", str(pid))


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        preexec_fn=cpu.server_preexec(),
    )


async def _seed(target: str) -> dict[str, bytes]:
    """The rows the point reads hit, and their requests (pre-serialized)."""
    async with artimeta.AsyncClient(target) as client:
        await client.create_namespace(NS)
        await seed_point_reads(client, NS)
    return {
        "GetNamespace": npb.GetNamespaceRequest(name=NS).SerializeToString(),
        "ReadSnapshotTag": cpb.ReadSnapshotTagRequest(namespace=NS, name="bench", tag="prod").SerializeToString(),
        "ReadGraph": cpb.ReadGraphRequest(namespace=NS, name="bench", fingerprint=123).SerializeToString(),
    }


def _median_point(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "server_cpu_us_per_rpc": statistics.median(r.get("server_cpu_us_per_rpc", 0.0) for r in runs),
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p99_ms": statistics.median(r["p99_ms"] for r in runs),
        "errors": sum(int(r["errors"]) for r in runs),
        "runs_rps": [r["rps"] for r in runs],
    }


def _point_reads(target: str, http: str, echo: str, hello: str, peer_url: str, pids: dict[str, int]) -> dict[str, Any]:
    requests = uvloop.run(_seed(target))
    check = check_cache_request(target)
    health = health_pb2.HealthCheckRequest().SerializeToString()
    svc = "/artimeta.v1."
    points: dict[str, Callable[[], dict[str, Any]]] = {
        "grpc_echo": lambda: load(echo, "/bench.Echo/Echo", requests["GetNamespace"], seconds=SLICE_S),
        "grpc_echo_c1": lambda: load(echo, "/bench.Echo/Echo", requests["GetNamespace"], concurrency=1, seconds=SLICE_S),
        "artimeta_health_check": lambda: load(target, HEALTH_CHECK, health, seconds=SLICE_S),
        "GetNamespace": lambda: load(target, svc + "NamespaceService/GetNamespace", requests["GetNamespace"], seconds=SLICE_S),
        "ReadSnapshotTag": lambda: load(target, svc + "ConnectionService/ReadSnapshotTag", requests["ReadSnapshotTag"], seconds=SLICE_S),
        "ReadGraph": lambda: load(target, svc + "ConnectionService/ReadGraph", requests["ReadGraph"], seconds=SLICE_S),
        "CheckCache": lambda: load(target, CHECK_CACHE, check, seconds=SLICE_S),
        "CheckCache_c1": lambda: load(target, CHECK_CACHE, check, concurrency=1, seconds=SLICE_S),
        "aiohttp_hello": lambda: _http_load(hello + "/", pids["hello"]),
        "peer_get_run": lambda: _http_load(peer_url + "/flows/BenchFlow/runs/1", pids["peer"]),
        "GetNamespace_connect_json": lambda: _http_load(
            http + "/artimeta.v1.NamespaceService/GetNamespace", pids["artimeta"], method="POST",
            body=json.dumps({"name": NS}),
        ),
    }  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in points}
    loadavg: list[float] = []
    for _ in range(ROUNDS):
        for key, measure in points.items():
            runs[key].append(measure())
        loadavg.append(round(os.getloadavg()[0], 2))
    out: dict[str, Any] = {key: _median_point(r) for key, r in runs.items()}

    def per_round(key: str, ceiling: str) -> float:
        ratios = [a["rps"] / b["rps"] for a, b in zip(runs[key], runs[ceiling], strict=True) if b["rps"]]
        return round(statistics.median(ratios), 3) if ratios else 0.0

    out["ratios"] = {
        **{f"{k}_vs_echo": per_round(k, "grpc_echo") for k in ("GetNamespace", "ReadSnapshotTag", "ReadGraph", "CheckCache")},
        "CheckCache_c1_vs_echo_c1": per_round("CheckCache_c1", "grpc_echo_c1"),
        **{f"{k}_vs_peer": per_round(k, "peer_get_run") for k in ("GetNamespace", "ReadSnapshotTag", "ReadGraph", "GetNamespace_connect_json")},
    }  # fmt: skip
    out["loadavg_1m_per_round"] = loadavg
    return out


def _timed_on_server(pid: int, fn: Callable[[], Any]) -> tuple[Any, float]:
    before = cpu.cpu_s(pid)
    result = fn()
    return result, cpu.cpu_s(pid) - before


def run() -> dict[str, Any]:
    stack = new_stack(durable=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        stack.start()
        cpu.pin_load()  # after the stack: Postgres and S3 stay unpinned
        assert stack.postgres is not None
        dsn = stack.postgres.dsn()
        grpc_port, http_port = free_port(), free_port()
        env = {
            **os.environ,
            **stack.env(),
            "ARTIMETA_LISTEN": f"127.0.0.1:{grpc_port}",
            "ARTIMETA_HTTP_LISTEN": f"127.0.0.1:{http_port}",
            "ARTIMETA_LOG_LEVEL": "INFO",  # the access log on, as in production; to /dev/null
            "ARTIMETA_MAX_MESSAGE_BYTES": str(256 * 1024 * 1024),
            "ARTIMETA_DB_STATEMENT_TIMEOUT_S": "600",
        }
        server = subprocess.Popen(
            [str(Path(PY).parent / "artimeta-server"), "serve", "--migrate"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=cpu.server_preexec(),
        )
        procs.append(server)
        echo = _spawn([PY, "-c", ECHO_SERVER])
        procs.append(echo)
        assert echo.stdout is not None
        echo_target = f"127.0.0.1:{int(echo.stdout.readline())}"
        hello_port, peer_port = free_port(), free_port()
        hello = _spawn([PY, "-m", "bench.peer", "hello", str(hello_port)])
        peer_proc = _spawn([PY, "-m", "bench.peer", "serve", str(peer_port), dsn])
        procs += [hello, peer_proc]
        target = f"127.0.0.1:{grpc_port}"
        wait_ready(target)
        wait_http(f"http://127.0.0.1:{hello_port}/", hello)
        wait_http(f"http://127.0.0.1:{peer_port}/flows/BenchFlow/runs/1", peer_proc)
        SERVER_PIDS.update({target: server.pid, echo_target: echo.pid})
        report: dict[str, Any] = {
            "machine": {**cpu.machine(), "loadavg_at_start": os.getloadavg()},
            "rounds": ROUNDS,
            "seconds_per_slice": SLICE_S,
            "concurrency": 16,
            "access_log": "on (to /dev/null)",
            "peer": "bench/peer.py: aiohttp 3.14.5 + aiopg 1.4.0 (psycopg2 2.9.13), GET run by primary key, one process",
            "load_generators": {
                "grpc": "bench/load.py (grpc.aio on uvloop, one process)",
                "http": f"hey {peer.HEY_VERSION}" if HEY is not None else "bench/peer.py load (pyqwest on uvloop)",
            },
        }
        report["point_reads"] = _point_reads(
            target,
            f"http://127.0.0.1:{http_port}",
            echo_target,
            f"http://127.0.0.1:{hello_port}",
            f"http://127.0.0.1:{peer_port}",
            {"artimeta": server.pid, "hello": hello.pid, "peer": peer_proc.pid},
        )
        stop(echo, hello, peer_proc)
        bulk, bulk_cpu = _timed_on_server(server.pid, lambda: uvloop.run(_bulk_write(target, dsn, NS)))
        bulk["server_cpu_us_per_partition"] = round(bulk_cpu * 1e6 / (3 * bulk["partitions"]), 2)
        report["write_artifact_partitions"] = bulk
        report["filtered_read"] = uvloop.run(_filtered_reads(target, dsn, NS))
        if REDUN:
            replay, replay_cpu = _timed_on_server(server.pid, lambda: redun_replay(target))
            replay["server_cpu_s_all_runs"] = round(replay_cpu, 2)
            report["redun_replay"] = replay
        report["machine"]["loadavg_at_end"] = os.getloadavg()
        return report
    finally:
        SERVER_PIDS.clear()
        stop(*procs)
        stack.remove()


def _fmt(n: float) -> str:
    return f"{n:,.0f}"


def markdown(r: dict[str, Any]) -> str:
    p = r["point_reads"]
    ratio = p["ratios"]
    m = r["machine"]
    lines = [
        f"Concurrency 16, {r['rounds']} rounds of {r['seconds_per_slice']} s slices, medians; pinned: {m['pinned']};"
        f" {m['cpus']} CPUs; load average at start {m['loadavg_at_start'][0]:.1f}, per round"
        f" {p['loadavg_1m_per_round']}, at end {m['loadavg_at_end'][0]:.1f}. Access log on. Load generators:"
        f" gRPC {r['load_generators']['grpc']}; HTTP {r['load_generators']['http']}.",
        "",
        "| work | RPC/s | server CPU µs/RPC | ceiling (same run) | ratio | target |",
        "|---|---|---|---|---|---|",
    ]

    def row(label: str, key: str, ceiling: str, rkey: str, target: str) -> None:
        a, c = p[key], p[ceiling]
        lines.append(
            f"| {label} | {_fmt(a['rps'])} | {a['server_cpu_us_per_rpc']:.0f} | {ceiling}: {_fmt(c['rps'])}"
            f" ({c['server_cpu_us_per_rpc']:.0f} µs) | {ratio[rkey]:.2f} | {target} |"
        )

    row("ReadGraph (immutable, in memory)", "ReadGraph", "grpc_echo", "ReadGraph_vs_echo", "≥ 0.80")
    row("ReadSnapshotTag (mutable)", "ReadSnapshotTag", "grpc_echo", "ReadSnapshotTag_vs_echo", "≥ 0.75")
    row("CheckCache hit c16", "CheckCache", "grpc_echo", "CheckCache_vs_echo", "≥ 0.65")
    row("CheckCache hit c1", "CheckCache_c1", "grpc_echo_c1", "CheckCache_c1_vs_echo_c1", "≥ 0.65")
    row("GetNamespace", "GetNamespace", "grpc_echo", "GetNamespace_vs_echo", "≥ 0.75")
    w = r["write_artifact_partitions"]
    lines.append(
        f"| WriteArtifactPartitions, {_fmt(w['partitions'])} in one call | {_fmt(w['partitions_per_s'])} partitions/s"
        f" ({_fmt(w['partitions_per_s_including_client_build'])}/s with the client's build,"
        f" {w['client_build_s']} s) | {w['server_cpu_us_per_partition']} per partition | raw COPY:"
        f" {_fmt(w['ceiling_raw_copy_rows_per_s'])} rows/s | {w['ratio_to_raw_copy']:.2f} | ≥ 150k/s |"
    )
    f = r["filtered_read"]
    big, small = f["stored_1m"], f["stored_10k"]
    lines.append(
        f"| filter {_fmt(big['filter'])} fingerprints, {_fmt(big['stored'])} stored | p50 {big['p50_ms']:.1f} ms"
        f" (EXPLAIN {big['explain']['execution_ms']} ms, {big['explain']['shared_hit_blocks']} hit /"
        f" {big['explain']['shared_read_blocks']} read) | — | {_fmt(small['stored'])} stored: p50"
        f" {small['p50_ms']:.1f} ms ({small['explain']['shared_hit_blocks']} hit / {small['explain']['shared_read_blocks']}"
        f" read) | {f['p50_ratio_1m_to_10k']:.2f}x | ≤ 40 ms; ≤ 1.2x |"
    )
    rr = r.get("redun_replay", {})
    if "sqlite" in rr:
        lines.append(
            f"| redun {rr['tasks']}-task replay, synchronous writes | {rr['artimeta']['replay_s']} s"
            f" (write-behind {rr['artimeta-write-behind']['replay_s']} s) | — | redun's SQLite:"
            f" {rr['sqlite']['replay_s']} s | {rr['artimeta_replay_vs_sqlite']:.2f}x | ≤ 0.9x |"
        )
    lines += [
        "",
        "| read | artimeta RPC/s | µs/RPC | peer req/s | peer µs/req | artimeta / peer |",
        "|---|---|---|---|---|---|",
    ]
    peer_run = p["peer_get_run"]

    def prow(label: str, key: str) -> None:
        a = p[key]
        lines.append(
            f"| {label} | {_fmt(a['rps'])} | {a['server_cpu_us_per_rpc']:.0f} | {_fmt(peer_run['rps'])} |"
            f" {peer_run['server_cpu_us_per_rpc']:.0f} | {ratio[key + '_vs_peer']:.2f} |"
        )

    prow("one row by key (GetNamespace vs GET run)", "GetNamespace")
    prow("mutable pointer (ReadSnapshotTag vs GET run)", "ReadSnapshotTag")
    prow("immutable, from memory (ReadGraph vs GET run)", "ReadGraph")
    cc = p["CheckCache"]
    lines.append(f"| cache check (CheckCache) | {_fmt(cc['rps'])} | {cc['server_cpu_us_per_rpc']:.0f} | — | — | — |")
    prow("GetNamespace over Connect JSON (HTTP/1.1)", "GetNamespace_connect_json")
    e, h, a = p["grpc_echo"], p["artimeta_health_check"], p["aiohttp_hello"]
    lines.append(
        f"| bare ceilings: grpc.aio echo / artimeta Health/Check / aiohttp hello | {_fmt(e['rps'])} / {_fmt(h['rps'])} /"
        f" {_fmt(a['rps'])} | {e['server_cpu_us_per_rpc']:.0f} / {h['server_cpu_us_per_rpc']:.0f} /"
        f" {a['server_cpu_us_per_rpc']:.0f} | | | |"
    )
    return "\n".join(lines) + "\n"


def main() -> dict[str, Any]:
    report = run()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "table.md").write_text(markdown(report))
    return report


if __name__ == "__main__":
    result = main()
    print(json.dumps(result, indent=2))
    print(markdown(result), file=sys.stderr)
