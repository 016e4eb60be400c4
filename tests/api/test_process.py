"""The `artimeta-server` command as a separate process: the blocking client, grpcurl through
reflection, health, graceful shutdown on SIGTERM, ports of its own (a taken one is refused by
name), and workers that do not outlive their supervisor."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import artimeta
from artimeta_server.devstack import procs
from artimeta_server.devstack.procs import free_port
from artimeta_server.devstack.stack import Stack
from tests.conftest import unique_name


@pytest.fixture(scope="module")
def server_proc(stack: Stack, venv_bin: Path, tmp_root: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {**os.environ, **stack.env(), "ARTIMETA_LISTEN": f"127.0.0.1:{port}", "ARTIMETA_SHUTDOWN_GRACE_S": "3"}
    log = open(tmp_root / "server-proc.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen([str(venv_bin / "artimeta-server"), "serve", "--migrate"], env=env, stdout=log, stderr=log)
    target = f"127.0.0.1:{port}"
    with grpc.insecure_channel(target) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
    yield proc, target
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


def test_blocking_client(server_proc: tuple[subprocess.Popen[bytes], str]) -> None:
    _, target = server_proc
    name = unique_name()
    with artimeta.Client(target) as client:
        assert client.create_namespace(name).name == name
        assert name in {ns.name for ns in client.list_namespaces(page_size=3)}
        with pytest.raises(artimeta.AlreadyExists):
            client.create_namespace(name)
        with pytest.raises(artimeta.InvalidArgument):
            client.get_namespace("")
        assert client.delete_namespace(name).deleted


def test_health_and_reflection_with_grpcurl(server_proc: tuple[subprocess.Popen[bytes], str], venv_bin: Path) -> None:
    _, target = server_proc
    grpcurl = str(venv_bin / "grpcurl")
    listed = subprocess.run(
        [grpcurl, "-plaintext", target, "list"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"artimeta.v1.NamespaceService", "grpc.health.v1.Health"} <= set(listed)
    health = subprocess.run(
        [grpcurl, "-plaintext", target, "grpc.health.v1.Health/Check"], capture_output=True, text=True, check=True
    )
    assert json.loads(health.stdout)["status"] == "SERVING"
    name = unique_name()
    created = subprocess.run(
        [
            grpcurl,
            "-plaintext",
            "-d",
            json.dumps({"namespace": {"name": name}}),
            target,
            "artimeta.v1.NamespaceService/CreateNamespace",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(created.stdout)["namespace"]["name"] == name
    dup = subprocess.run(
        [
            grpcurl,
            "-plaintext",
            "-d",
            json.dumps({"namespace": {"name": name}}),
            target,
            "artimeta.v1.NamespaceService/CreateNamespace",
        ],
        capture_output=True,
        text=True,
    )
    assert dup.returncode != 0 and "NAMESPACE_EXISTS" in dup.stdout + dup.stderr


def test_sigterm_drains_and_exits_cleanly(server_proc: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, target = server_proc
    with grpc.insecure_channel(target) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        assert stub.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 15


def test_serve_refuses_an_out_of_date_schema(stack: Stack, venv_bin: Path) -> None:
    assert stack.postgres is not None
    db = unique_name("db").replace("-", "_")
    stack.postgres.psql(f"CREATE DATABASE {db}")
    env = {
        **os.environ,
        **stack.env(),
        "ARTIMETA_DATABASE_URL": stack.postgres.dsn(db),
        "ARTIMETA_LISTEN": f"127.0.0.1:{free_port()}",
    }
    out = subprocess.run(
        [str(venv_bin / "artimeta-server"), "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 3
    assert "migrat" in out.stderr
    done = subprocess.run(
        [str(venv_bin / "artimeta-server"), "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "applied" in done.stdout


@contextmanager
def _taken_port(what: str) -> Iterator[int]:
    """A port held the way another server holds it, SO_REUSEPORT included (grpc's default, and
    what would let a careless second server bind beside it)."""
    if what == "gRPC":
        holder = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        port = holder.add_insecure_port("127.0.0.1:0")
        holder.start()
        try:
            yield port
        finally:
            holder.stop(0)
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _serve_until_exit(venv_bin: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [str(venv_bin / "artimeta-server"), "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("the server kept running on a taken port")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one", "workers"])
@pytest.mark.parametrize("what", ["gRPC", "HTTP", "metrics"])
def test_a_second_server_on_a_taken_port_exits_naming_it(
    stack: Stack, venv_bin: Path, what: str, workers: list[str]
) -> None:
    with _taken_port(what) as port:
        listen = {name: f"127.0.0.1:{free_port()}" for name in ("gRPC", "HTTP", "metrics")}
        listen[what] = f"127.0.0.1:{port}"
        env = {
            **os.environ,
            **stack.env(),
            "ARTIMETA_LISTEN": listen["gRPC"],
            "ARTIMETA_HTTP_LISTEN": listen["HTTP"],
            "ARTIMETA_METRICS_LISTEN": listen["metrics"],
        }
        out = _serve_until_exit(venv_bin, env, "--migrate", *workers)
    assert out.returncode == 4, out.stderr
    assert f"{what} port {port} (127.0.0.1:{port}) is already in use" in out.stderr
    assert "Traceback" not in out.stderr


def test_workers_die_with_their_supervisor(stack: Stack, venv_bin: Path, tmp_root: Path) -> None:
    port = free_port()
    env = {**os.environ, **stack.env(), "ARTIMETA_LISTEN": f"127.0.0.1:{port}"}
    with (tmp_root / f"workers-{unique_name()}.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(venv_bin / "artimeta-server"), "serve", "--migrate", "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    workers: list[int] = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            grpc.channel_ready_future(ch).result(timeout=60)
        workers = procs.children(proc.pid)
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while any(procs.alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(procs.alive(w) for w in workers), "workers outlived their supervisor"
        assert procs.port_free(port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
