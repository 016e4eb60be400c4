"""Opt-in (`make image-test`, or ARTIMETA_IMAGE_TEST=1): builds the container image from
deploy/Containerfile with buildah (scripts/build-image.sh; base and wheels cached) and runs the
server from it with podman — non-root, read-only root filesystem, host network on loopback —
against the test Postgres and S3 server."""

from __future__ import annotations

import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import artimeta
from artimeta_server.devstack.procs import free_port, wait_for
from artimeta_server.devstack.stack import Stack
from tests.conftest import unique_name

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "podman" / "containers.conf"

pytestmark = pytest.mark.skipif(
    os.environ.get("ARTIMETA_IMAGE_TEST") != "1",
    reason="opt-in: `make image-test` builds the image with buildah and runs it with podman",
)


@pytest.fixture(scope="module")
def image() -> str:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "build-image.sh")], capture_output=True, text=True)
    if out.returncode == 3:
        pytest.skip(out.stderr.strip())
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONF)}
    return subprocess.run(["podman", *args], env=env, capture_output=True, text=True, check=check, timeout=120)


@pytest.fixture(scope="module")
def container(image: str, stack: Stack) -> Iterator[tuple[str, int, int, int, int]]:
    port, health, metrics, http = free_port(), free_port(), free_port(), free_port()
    name = f"artimeta-test-{uuid.uuid4().hex[:8]}"
    env = {
        **stack.env(bucket="artimeta-image"),
        "ARTIMETA_LISTEN": f"127.0.0.1:{port}",
        "ARTIMETA_HEALTH_LISTEN": f"127.0.0.1:{health}",
        "ARTIMETA_METRICS_LISTEN": f"127.0.0.1:{metrics}",
        # The image serves HTTP on 0.0.0.0:8080; on the host network the test keeps it on loopback.
        "ARTIMETA_HTTP_LISTEN": f"127.0.0.1:{http}",
        "ARTIMETA_WORKERS": "2",
    }
    args = [f"--env={k}={v}" for k, v in env.items()]
    _podman("run", "-d", "--rm", "--init", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
            *args, image, "serve", "--migrate")  # fmt: skip
    try:
        target = f"127.0.0.1:{health}"

        def healthy() -> bool:
            with grpc.insecure_channel(target) as ch:
                resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=1)
                return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)

        wait_for(healthy, timeout_s=60, what="the server in the container")
        yield name, port, health, metrics, http
    finally:
        _podman("stop", "-t", "15", name, check=False)


def test_server_runs_from_the_image(container: tuple[str, int, int, int, int]) -> None:
    name, port, _, metrics, http = container
    with artimeta.Client(f"127.0.0.1:{port}", retry=None) as c:
        ns = unique_name()
        assert c.create_namespace(ns).name == ns
        assert c.get_namespace(ns).name == ns
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5) as resp:
        assert b"artimeta_rpc_handled_total" in resp.read()
    with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5) as resp:
        assert resp.status == 200
    assert _podman("exec", name, "id", "-u").stdout.strip() == "10001"
    touched = _podman("exec", name, "touch", "/opt/artimeta/x", check=False)
    assert touched.returncode != 0 and "Read-only" in touched.stderr
