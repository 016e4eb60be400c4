"""Ceilings the benchmarks compare against, measured in the same run on the same machine, and a
local stack + artimeta server in a separate process to measure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from artimeta_server.devstack.procs import free_port
from artimeta_server.devstack.stack import Stack
from bench import cpu

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

_ECHO = """
import asyncio, sys, uvloop, grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
async def main():
    server = grpc.aio.server()
    svc = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(svc, server)
    server.add_insecure_port(sys.argv[1])
    await server.start()
    await svc.set("", health_pb2.HealthCheckResponse.SERVING)
    await server.wait_for_termination()
uvloop.run(main())
"""

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
# The server process behind each target started here, whose CPU load() measures.
SERVER_PIDS: dict[str, int] = {}


def load(target: str, method: str, request: bytes, *, concurrency: int = 16, seconds: float = 5.0) -> dict[str, float]:
    """Runs bench.load in its own process against `target` and returns its JSON (with the server's
    CPU µs per RPC when the server was started here)."""
    args = ["--concurrency", str(concurrency), "--seconds", str(seconds), "--cpu-pid", str(SERVER_PIDS.get(target, 0))]
    return run_json("bench.load", target, method, request.hex(), *args)


def run_json(module: str, *args: str) -> dict[str, Any]:
    """`python -m module args...` run from the repository's root to its end; the JSON it printed."""
    out = subprocess.run([PY, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def stop(*procs: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """Terminates every process, then waits for each, killing what outlives `timeout_s`."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Waits until `url` answers, failing early when `proc` (its server) exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def wait_ready(target: str, timeout_s: float = 60) -> None:
    with grpc.insecure_channel(target) as ch:
        grpc.channel_ready_future(ch).result(timeout=timeout_s)


@contextmanager
def echo_server() -> Iterator[str]:
    """A bare grpc.aio server on uvloop answering the health check: the RPC ceiling."""
    target = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([PY, "-c", _ECHO, target], preexec_fn=cpu.server_preexec())
    SERVER_PIDS[target] = proc.pid
    try:
        wait_ready(target)
        yield target
    finally:
        SERVER_PIDS.pop(target, None)
        stop(proc)


def new_stack(durable: bool = True) -> Stack:
    """A stack, not yet started, in a new temporary folder that its remove() deletes."""
    home = Path(tempfile.mkdtemp(prefix="artimeta-bench-", dir="/tmp"))
    home.chmod(0o755)  # the postgres user must reach its folders when this runs as root
    return Stack(home, durable=durable)


@contextmanager
def local_stack(durable: bool = True) -> Iterator[Stack]:
    stack = new_stack(durable)
    stack.start()
    try:
        yield stack
    finally:
        stack.remove()


@contextmanager
def artimeta_server(stack: Stack, *args: str, **env: str) -> Iterator[str]:
    """`artimeta-server serve --migrate` in its own process over `stack`, with the access log on
    (as in production) written to /dev/null."""
    target = f"127.0.0.1:{free_port()}"
    full_env = {**os.environ, **stack.env(), "ARTIMETA_LISTEN": target, "ARTIMETA_LOG_LEVEL": "INFO", **env}
    proc = subprocess.Popen(
        [str(Path(PY).parent / "artimeta-server"), "serve", "--migrate", *args],
        env=full_env,
        stderr=subprocess.DEVNULL,
        preexec_fn=cpu.server_preexec(),
    )
    SERVER_PIDS[target] = proc.pid
    try:
        wait_ready(target)
        yield target
    finally:
        SERVER_PIDS.pop(target, None)
        stop(proc)


def spawn_server(stack: Stack, listen: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """`python -m artimeta_server serve --migrate` over `stack` on `listen` with `env` added, on the
    server CPUs, its output to /dev/null; the caller waits for it to be ready and stops it."""
    return subprocess.Popen(
        [PY, "-m", "artimeta_server", "serve", "--migrate"],
        env={**os.environ, **stack.env(), "ARTIMETA_LISTEN": listen, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=cpu.server_preexec(),
    )


def ratio(value: float, ceiling: float) -> float:
    return round(value / ceiling, 3) if ceiling else 0.0
