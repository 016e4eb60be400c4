"""Go, Java and Python clients on the same read RPCs at concurrency 16, against artimeta and
against a bare grpc.aio echo server (uvloop) that returns the same response bytes without doing
any work: the ceiling of one grpc.aio process on this machine, measured in the same run.

If every client drives the echo server faster than artimeta, and all clients get about the same
throughput from artimeta, the server (not the client) is the limit. Each load generator also
reports its own CPU time per call: with server and client on the same cores, a client that spends
more CPU per call leaves less to the server, which shows as a lower artimeta throughput.

Run: `python -m bench clients` (or `python -m bench.clients`); JSON on stdout and in
bench/results/clients.json. Every (rpc, server, client) run is repeated in interleaved rounds and
the median kept, so a burst of other load on the machine skews one round, not one client.
ARTIMETA_BENCH_SECONDS (default 3) and ARTIMETA_BENCH_ROUNDS (default 3) set the effort.
Load generators: client/go/internal/cmd/loadgen, client/java/src/test/java/dev/artimeta/bench/
LoadGen.java, and `--drive` below for Python (artimeta.AsyncClient). Each runs in its own process;
server and load generator share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from artimeta_server.devstack.procs import free_port
from bench import cpu
from bench.ceilings import stop, wait_ready

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ARTIMETA_CACHE", Path.home() / ".cache" / "artimeta"))
CONCURRENCY = 16
NAMESPACE = "bench-clients"
GRAPH = "bench/graph"
TAG = "latest"
RPCS = ["GetNamespace", "ReadSnapshotTag"]


def _requests() -> dict[str, Any]:
    from artimeta.v1 import connection_pb2, namespace_pb2

    return {
        "GetNamespace": namespace_pb2.GetNamespaceRequest(name=NAMESPACE),
        "ReadSnapshotTag": connection_pb2.ReadSnapshotTagRequest(namespace=NAMESPACE, name=GRAPH, tag=TAG),
    }


# Python load generator ------------------------------------------------------------------------


async def _drive(target: str, rpc: str, concurrency: int, warmup_s: float, duration_s: float) -> dict[str, Any]:
    import artimeta
    from artimeta.v1 import connection_pb2_grpc, namespace_pb2_grpc

    async with artimeta.AsyncClient(target) as client:
        req = _requests()[rpc]
        if rpc == "GetNamespace":
            method = client.stub(namespace_pb2_grpc.NamespaceServiceStub).GetNamespace
        else:
            method = client.stub(connection_pb2_grpc.ConnectionServiceStub).ReadSnapshotTag
        await client.call(method, req)
        clock = time.perf_counter  # the loop's clock is too coarse (ms) for latencies
        measure_from = clock() + warmup_s
        end = measure_from + duration_s
        latencies: list[float] = []
        errors = 0
        client_cpu: list[float] = []

        async def cpu_meter() -> None:
            # The client's own CPU time over the measured window: on shared cores it is taken from the server.
            await asyncio.sleep(max(0.0, measure_from - clock()))
            c0 = time.process_time()
            await asyncio.sleep(max(0.0, end - clock()))
            client_cpu.append(time.process_time() - c0)

        async def worker() -> None:
            nonlocal errors
            while (t0 := clock()) < end:
                try:
                    await client.call(method, req)
                    ok = True
                except artimeta.ArtimetaError:
                    ok = False
                if t0 >= measure_from:
                    if ok:
                        latencies.append(clock() - t0)
                    else:
                        errors += 1

        await asyncio.gather(cpu_meter(), *(worker() for _ in range(concurrency)))
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[int(p * (len(latencies) - 1))] * 1000, 3) if latencies else 0.0

    return {
        "client": "python",
        "rpc": rpc,
        "concurrency": concurrency,
        "seconds": duration_s,
        "calls": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / duration_s, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "client_cpu_s": round(client_cpu[0], 3),
    }


# Echo server ----------------------------------------------------------------------------------


async def _echo_server(port: int, responses_path: str) -> None:
    """A bare grpc.aio server answering the benchmarked RPCs with canned bytes: no interceptor, no
    validation, no database. The most one grpc.aio process can serve here."""
    import grpc

    from artimeta.v1 import connection_pb2, connection_pb2_grpc, namespace_pb2, namespace_pb2_grpc

    canned = {k: bytes.fromhex(v) for k, v in json.loads(Path(responses_path).read_text()).items()}
    get_ns = namespace_pb2.GetNamespaceResponse.FromString(canned["GetNamespace"])
    read_tag = connection_pb2.ReadSnapshotTagResponse.FromString(canned["ReadSnapshotTag"])

    class Namespaces(namespace_pb2_grpc.NamespaceServiceServicer):
        async def GetNamespace(self, request: Any, context: Any) -> Any:
            return get_ns

    class Connection(connection_pb2_grpc.ConnectionServiceServicer):
        async def ReadSnapshotTag(self, request: Any, context: Any) -> Any:
            return read_tag

    server = grpc.aio.server()
    # Each serves only the methods the benchmark calls.
    namespace_pb2_grpc.add_NamespaceServiceServicer_to_server(Namespaces(), server)  # type: ignore[abstract]
    connection_pb2_grpc.add_ConnectionServiceServicer_to_server(Connection(), server)  # type: ignore[abstract]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


# Orchestration --------------------------------------------------------------------------------


def _wait_ready(target: str, timeout_s: float = 60) -> None:
    import artimeta

    deadline = time.monotonic() + timeout_s
    with artimeta.Client(target, timeout=2, retry=None) as client:
        while True:
            try:
                list(client.list_namespaces(page_size=1))
                return
            except artimeta.ArtimetaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def _seed(target: str) -> dict[str, str]:
    """The benchmarked rows, and the exact response bytes the echo server will send back."""
    import artimeta
    from artimeta.v1 import connection_pb2, connection_pb2_grpc, graph_pb2, namespace_pb2_grpc

    with artimeta.Client(target) as client:
        client.create_namespace(NAMESPACE, description="benchmark", labels={"team": "bench"})
        conn = client.stub(connection_pb2_grpc.ConnectionServiceStub)
        doc = bytes(range(256)) * 4  # a small, typical snapshot document
        client.call(
            conn.WriteGraph,
            connection_pb2.WriteGraphRequest(
                namespace=NAMESPACE, graph=graph_pb2.Graph(name=GRAPH, fingerprint=11, document=doc)
            ),
        )
        snap = graph_pb2.GraphSnapshot(name=GRAPH, fingerprint=22, id=33, graph_fingerprint=11, document=doc)
        client.call(conn.WriteSnapshot, connection_pb2.WriteSnapshotRequest(namespace=NAMESPACE, snapshot=snap))
        client.call(
            conn.WriteSnapshotTag,
            connection_pb2.WriteSnapshotTagRequest(namespace=NAMESPACE, name=GRAPH, tag=TAG, snapshot_fingerprint=22),
        )
        reqs = _requests()
        ns = client.call(client.stub(namespace_pb2_grpc.NamespaceServiceStub).GetNamespace, reqs["GetNamespace"])
        tag = client.call(conn.ReadSnapshotTag, reqs["ReadSnapshotTag"])
    return {"GetNamespace": ns.SerializeToString().hex(), "ReadSnapshotTag": tag.SerializeToString().hex()}


def _go_env() -> dict[str, str]:
    return {
        **os.environ,
        "GOPATH": str(CACHE / "go" / "path"),
        "GOMODCACHE": str(CACHE / "go" / "mod"),
        "GOCACHE": str(CACHE / "go" / "build"),
        "GOFLAGS": "-modcacherw",
    }


def _build_go(work: Path) -> list[str] | str:
    go = shutil.which("go")
    if go is None:
        return "go not found"
    binary = work / "loadgen"
    subprocess.run(
        [go, "build", "-o", str(binary), "./internal/cmd/loadgen"],
        cwd=ROOT / "client" / "go",
        env=_go_env(),
        check=True,
    )
    return [str(binary)]


def _build_java() -> list[str] | str:
    java, mvn = shutil.which("java"), shutil.which("mvn")
    if java is None or mvn is None:
        return "java or mvn not found"
    project = ROOT / "client" / "java"
    cp_file = project / "target" / "classpath.txt"
    subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-Dstyle.color=never",
            "test-compile",
            "dependency:build-classpath",
            f"-Dmdep.outputFile={cp_file}",
        ],
        cwd=project,
        check=True,
        stdout=sys.stderr,  # stdout carries only the report
    )
    cp = ":".join(
        [str(project / "target" / "classes"), str(project / "target" / "test-classes"), cp_file.read_text().strip()]
    )
    return [java, "-cp", cp, "dev.artimeta.bench.LoadGen"]


def _run_client(kind: str, base: list[str], target: str, rpc: str, seconds: float, server_pid: int) -> dict[str, Any]:
    # A fresh JVM spends its first seconds compiling (measured: ~4x the CPU per call after 3 s than after 10 s).
    warmup = 8.0 if kind == "java" else 1.0
    if kind == "python":
        cmd = [*base, "--drive", target, rpc, "--warmup", str(warmup), "--seconds", str(seconds)]
    elif kind == "go":
        cmd = [*base, "-target", target, "-rpc", rpc, "-namespace", NAMESPACE, "-name", GRAPH, "-tag", TAG,
               "-concurrency", str(CONCURRENCY), "-warmup", f"{warmup}s", "-duration", f"{seconds}s"]  # fmt: skip
    else:
        cmd = [*base, f"target={target}", f"rpc={rpc}", f"namespace={NAMESPACE}", f"name={GRAPH}", f"tag={TAG}",
               f"concurrency={CONCURRENCY}", f"warmup_s={warmup}", f"duration_s={seconds}"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, preexec_fn=cpu.load_preexec()
    )
    # The server's CPU sampled while the client runs: its window is read off the samples.
    samples: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds + 120
    while proc.poll() is None and time.monotonic() < deadline:
        samples.append((time.monotonic(), cpu.cpu_s(server_pid)))
        time.sleep(0.05)
    samples.append((time.monotonic(), cpu.cpu_s(server_pid)))
    out, _ = proc.communicate(timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} load generator failed with {proc.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["server_cpu_us_per_rpc"] = cpu.us_per_call(cpu.window_cpu_s(samples, seconds), int(result["calls"]))
    return result


def run(seconds: float, rounds: int) -> dict[str, Any]:
    from artimeta_server.devstack.stack import Stack

    work = Path(tempfile.mkdtemp(prefix="artimeta-bench-clients-", dir="/tmp"))
    work.chmod(0o755)  # the postgres user must reach its folders when this runs as root
    stack = Stack(work / "stack", durable=False)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        stack.start()
        port, echo_port = free_port(), free_port()
        env = {**os.environ, **stack.env(), "ARTIMETA_LOG_LEVEL": "WARNING", "ARTIMETA_LOG_JSON": "false"}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "artimeta_server", "serve", "--migrate", "--listen", f"127.0.0.1:{port}"],
                env=env,
                preexec_fn=cpu.server_preexec(),
            )
        )
        target = f"127.0.0.1:{port}"
        _wait_ready(target)
        responses = work / "responses.json"
        responses.write_text(json.dumps(_seed(target)))
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.clients", "--echo", str(echo_port), str(responses)],
                cwd=ROOT,
                preexec_fn=cpu.server_preexec(),
            )
        )
        echo = f"127.0.0.1:{echo_port}"
        wait_ready(echo)

        clients: dict[str, list[str] | str] = {
            "python": [sys.executable, "-m", "bench.clients"],
            "go": _build_go(work),
            "java": _build_java(),
        }
        skipped = {k: v for k, v in clients.items() if isinstance(v, str)}
        runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for n in range(rounds):
            for rpc in RPCS:
                for server, addr, pid in (("echo", echo, procs[1].pid), ("artimeta", target, procs[0].pid)):
                    for kind, base in clients.items():
                        if isinstance(base, str):
                            continue
                        r = _run_client(kind, base, addr, rpc, seconds, pid)
                        runs.setdefault((rpc, server, kind), []).append(r)
                        print(f"  round {n + 1} {rpc:16} {server:9} {kind:7} {r['rps']:8.0f}/s", file=sys.stderr)
        results = []
        for (_rpc, server, _kind), rs in runs.items():
            rs.sort(key=lambda r: float(r["rps"]))
            median = dict(rs[len(rs) // 2])
            median.update(server=server, rounds_rps=[r["rps"] for r in rs])
            median["client_cpu_us_per_call"] = round(1e6 * median["client_cpu_s"] / max(1, median["calls"]), 1)
            results.append(median)
        load = os.getloadavg()
        return {
            "concurrency": CONCURRENCY,
            "seconds_per_run": seconds,
            "rounds": rounds,
            "loadavg_1_5_15_at_end": [round(x, 2) for x in load],
            "machine": cpu.machine(),
            "note": "server and load generator share the machine; echo = bare grpc.aio (uvloop) server, canned bytes",
            "skipped": skipped,
            "results": results,
            "summary": _summary(results),
        }
    finally:
        stop(*procs)
        stack.remove()
        shutil.rmtree(work, ignore_errors=True)


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rpc in RPCS:
        rows = [r for r in results if r["rpc"] == rpc]
        echo = {r["client"]: r["rps"] for r in rows if r["server"] == "echo"}
        real = {r["client"]: r["rps"] for r in rows if r["server"] == "artimeta"}
        if not echo or not real:
            continue
        ceiling = max(echo.values())
        best = max(real.values())
        out[rpc] = {
            "echo_ceiling_rps": ceiling,
            "artimeta_rps": real,
            "echo_rps": echo,
            "artimeta_share_of_ceiling": {k: round(v / ceiling, 3) for k, v in real.items()},
            # Each client drives the echo server faster than artimeta: the client is not the limit.
            "clients_faster_than_artimeta": {k: echo.get(k, 0) > v for k, v in real.items()},
            "artimeta_spread_across_clients": round(min(real.values()) / best, 3),
            "server_cpu_us_per_rpc": {f"{r['server']}/{r['client']}": r["server_cpu_us_per_rpc"] for r in rows},
            "client_cpu_us_per_call_on_artimeta": {
                r["client"]: r["client_cpu_us_per_call"] for r in rows if r["server"] == "artimeta"
            },
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """The report (bench/__main__.py prints it and writes bench/results/clients.json)."""
    parser = argparse.ArgumentParser(prog="python -m bench.clients")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("ARTIMETA_BENCH_SECONDS", "3")))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ARTIMETA_BENCH_ROUNDS", "3")))
    args = parser.parse_args(argv or [])
    return run(args.seconds, args.rounds)


def _cli(argv: list[str]) -> int:
    """`python -m bench.clients`: the report; with --echo / --drive, one of its helper processes."""
    parser = argparse.ArgumentParser(prog="python -m bench.clients")
    parser.add_argument("--echo", nargs=2, metavar=("PORT", "RESPONSES"), help=argparse.SUPPRESS)
    parser.add_argument("--drive", nargs=2, metavar=("TARGET", "RPC"), help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("ARTIMETA_BENCH_SECONDS", "3")))
    args, rest = parser.parse_known_args(argv)
    import uvloop

    if args.echo:
        uvloop.run(_echo_server(int(args.echo[0]), args.echo[1]))
        return 0
    if args.drive:
        result = uvloop.run(_drive(args.drive[0], args.drive[1], CONCURRENCY, args.warmup, args.seconds))
        print(json.dumps(result))
        return 0
    text = json.dumps(main([*rest, "--seconds", str(args.seconds)]), indent=2)
    print(text)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "clients.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
