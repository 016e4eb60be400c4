"""redun's cache on artimeta, beside its ceilings measured in the same run:

1. The cost of one cache hit: CheckCache (a SINGLE hit returning its value) at concurrency 16
   and 1, against the bare grpc.aio echo server driven by the same load generator, in several
   rounds (each beside its own ceilings; medians reported), with one server process as the
   product runs by default, then once with `--workers 2` for comparison.
2. A ~1,000-task redun workflow run cold and then replayed in a new process (every task a cache
   hit), with ArtimetaBackend (each write awaited, and write-behind) and with redun's own SQLite
   backend on the same machine; plus a replay after one leaf task changed.

Needs .venvs/redun (`make adapter-venvs`) for part 2; part 1 runs without it."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import textwrap
import uuid
from pathlib import Path
from typing import Any

from grpc_health.v1 import health_pb2

import artimeta
from artimeta.v1 import cache_pb2 as pb
from artimeta.v1 import cache_pb2_grpc
from bench.ceilings import HEALTH_CHECK, ROOT, artimeta_server, echo_server, load, local_stack, ratio

TASKS = 1000
ROUNDS = 5
SLICE_S = 3.0
REDUN_PY = ROOT / ".venvs" / "redun" / "bin" / "python"

WORKFLOW = textwrap.dedent(
    """
    import json, sys, time
    from redun import Scheduler, task

    redun_namespace = "bench_cache"
    mode, where, leaf_version, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    RAN = []

    @task(version=leaf_version)
    def square(x: int) -> int:
        RAN.append("square")
        return x * x

    @task()
    def add(a: int, b: int) -> int:
        RAN.append("add")
        return a + b

    @task()
    def main(n: int) -> int:
        # Records go to tasks as separate arguments (see SEMANTICS.md on redun's argument hashing).
        RAN.append("main")
        return [add(square(i), i) for i in range(n)]

    if mode == "sqlite":
        from redun.config import Config
        scheduler = Scheduler(config=Config({"backend": {"db_uri": "sqlite:///" + where}}))
    else:
        from artimeta.adapters.redun import ArtimetaBackend
        target, namespace = where.split("/", 1)
        backend = ArtimetaBackend(target=target, namespace=namespace, write_behind=(mode == "artimeta-write-behind"))
        scheduler = Scheduler(backend=backend)
    scheduler.load()
    import logging
    logging.getLogger("redun").setLevel(logging.WARNING)
    scheduler.log = lambda *args, **kwargs: None
    t0 = time.perf_counter()
    result = scheduler.run(main(n))
    elapsed = time.perf_counter() - t0
    assert result == [i * i + i for i in range(n)]
    print(json.dumps({"seconds": round(elapsed, 3), "tasks_run": len(RAN)}))
    """
)


def _hex(i: int, salt: str) -> str:
    import hashlib

    return hashlib.sha1(f"{salt}{i}".encode()).hexdigest()


CHECK_CACHE = "/artimeta.v1.CacheService/CheckCache"


def check_cache_request(target: str) -> bytes:
    """A new namespace holding one evaluation row, and the CheckCache request that hits it (SINGLE)."""
    namespace = f"bench-cache-{uuid.uuid4().hex[:8]}"
    with artimeta.Client(target) as client:
        client.create_namespace(namespace)
        stub = client.stub(cache_pb2_grpc.CacheServiceStub)
        value = pb.CacheValue(
            value_hash=_hex(0, "v"), type_name="builtins.int", format="application/python-pickle", data=b"\x80\x05K*."
        )
        client.call(
            stub.SetEvalCache,
            pb.SetEvalCacheRequest(
                namespace=namespace,
                eval_hash=_hex(0, "e"),
                task_hash=_hex(0, "t"),
                args_hash=_hex(0, "a"),
                value_hash=value.value_hash,
                value=value,
            ),
        )
        request = pb.CheckCacheRequest(
            namespace=namespace,
            task_hash=_hex(0, "t"),
            args_hash=_hex(0, "a"),
            eval_hash=_hex(0, "e"),
            execution_id=str(uuid.uuid4()),
            scope=pb.CACHE_SCOPE_BACKEND,
            check=pb.CACHE_CHECK_FULL,
        )
        hit = client.call(stub.CheckCache, request)
        assert hit.result == pb.CACHE_RESULT_KIND_SINGLE
    return request.SerializeToString()


def check_cache_rounds(target: str, rounds: int) -> dict[str, Any]:
    """`rounds` rounds, each measuring the echo ceiling and CheckCache at concurrency 16 and 1 back
    to back with the same load generator, in short slices; each round's ratio is against its own
    ceilings (the machine is shared, so a ceiling from another moment would flatter or wrong the
    ratio), and the median round is reported."""
    request = check_cache_request(target)
    health = health_pb2.HealthCheckRequest().SerializeToString()
    runs = []
    with echo_server() as echo:
        for _ in range(rounds):
            run: dict[str, Any] = {}
            for c in (16, 1):
                ceiling = load(echo, HEALTH_CHECK, health, concurrency=c, seconds=SLICE_S)
                measured = load(target, CHECK_CACHE, request, concurrency=c, seconds=SLICE_S)
                run[f"echo_c{c}"] = ceiling
                run[f"check_cache_c{c}"] = measured
                run[f"check_cache_c{c}_vs_echo"] = ratio(measured["rps"], ceiling["rps"])
            runs.append(run)
    return {
        "check_cache_c16_vs_echo": statistics.median(r["check_cache_c16_vs_echo"] for r in runs),
        "check_cache_c1_vs_echo": statistics.median(r["check_cache_c1_vs_echo"] for r in runs),
        "check_cache_c16_vs_echo_runs": [r["check_cache_c16_vs_echo"] for r in runs],
        "check_cache_c1_vs_echo_runs": [r["check_cache_c1_vs_echo"] for r in runs],
        "runs": runs,
    }


def _run_workflow(script: Path, mode: str, where: str, leaf_version: str) -> dict[str, Any]:
    out = subprocess.run(
        [str(REDUN_PY), str(script), mode, where, leaf_version, str(TASKS // 2)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=script.parent,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} workflow failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def redun_replay(target: str, rounds: int = 3) -> dict[str, Any]:
    """Cold run, then `rounds` replays of each backend interleaved (the machine is shared, so
    interleaving spreads noise evenly), then one replay after a leaf change. Medians reported."""
    if not REDUN_PY.exists():
        return {"skipped": f"{REDUN_PY} is missing (make adapter-venvs)"}
    results: dict[str, Any] = {"tasks": TASKS + 1, "replay_rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="bench-redun-") as tmp:
        script = Path(tmp) / "workflow.py"
        script.write_text(WORKFLOW)
        modes = {
            "sqlite": str(Path(tmp) / "redun.db"),
            "artimeta": f"{target}/bench-redun-{uuid.uuid4().hex[:8]}",
            "artimeta-write-behind": f"{target}/bench-redun-{uuid.uuid4().hex[:8]}",
        }
        cold = {mode: _run_workflow(script, mode, where, "1") for mode, where in modes.items()}
        replays: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        for _ in range(rounds):
            for mode, where in modes.items():
                replays[mode].append(_run_workflow(script, mode, where, "1"))
        leaf = {mode: _run_workflow(script, mode, where, "2") for mode, where in modes.items()}
        for mode in modes:
            times = sorted(r["seconds"] for r in replays[mode])
            median = statistics.median(times)
            results[mode] = {
                "cold_s": cold[mode]["seconds"],
                "replay_s": median,
                "replay_s_all": times,
                "replay_tasks_per_s": round((TASKS + 1) / median, 1),
                "replay_tasks_run": max(r["tasks_run"] for r in replays[mode]),
                "leaf_change_s": leaf[mode]["seconds"],
                "leaf_change_tasks_run": leaf[mode]["tasks_run"],
            }
    sqlite = results["sqlite"]["replay_s"]
    results["artimeta_replay_vs_sqlite"] = round(results["artimeta"]["replay_s"] / sqlite, 3)
    results["artimeta_write_behind_replay_vs_sqlite"] = round(results["artimeta-write-behind"]["replay_s"] / sqlite, 3)
    return results


def main() -> dict[str, Any]:
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    with local_stack() as stack:
        # The product's default: one server process, as the goal is stated.
        with artimeta_server(stack) as target:
            hits = check_cache_rounds(target, ROUNDS)
            replay = redun_replay(target)
        # For comparison only: two processes on one port against the same one-process ceiling.
        with artimeta_server(stack, "--workers", "2") as target:
            two_workers = check_cache_rounds(target, 1)
    return {
        "load_average_at_start": load_at_start,
        **hits,
        "two_workers": {
            "check_cache_c16_vs_one_process_echo": two_workers["check_cache_c16_vs_echo"],
            "check_cache_c1_vs_one_process_echo": two_workers["check_cache_c1_vs_echo"],
            "runs": two_workers["runs"],
        },
        "redun_replay": replay,
        "goals": {"check_cache_c16_vs_echo_at_least": 0.6, "artimeta_replay_vs_sqlite_at_most": 2.0},
    }
