"""Shared fixtures: a real Postgres and real S3 servers on free loopback ports in temporary
folders, started once per test run and stopped at its end, and an in-process artimeta server.

Every fixture here is lazy (none is autouse): a server starts only when a test asks for it, so
tests/unit starts none, which `pytest_runtest_setup` below enforces. Two options narrow a run to
one shared stack (`make test-fast`): `--s3 seaweedfs` keeps only the stack's own S3 server for
the blob suites, `--no-adapter-venvs` skips what runs in the adapters' own virtualenvs."""

from __future__ import annotations

import os

# As the server does (artimeta_server/__init__.py), before the client below imports gRPC: the
# fixtures start servers from threads of a process whose gRPC is busy.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import artimeta
from artimeta_server.config import Settings
from artimeta_server.devstack.s3 import (
    MinioCluster,
    MinioServer,
    S3Credentials,
    S3Server,
    SeaweedServer,
    minio_binary,
)
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.serving import serving

ROOT = Path(__file__).resolve().parents[1]
S3_SERVERS = ("seaweedfs", "minio", "minio-distributed")
# The fixtures that start a process (Postgres, S3, an artimeta server); tests/unit asks for none.
SERVER_FIXTURES = frozenset({"stack", "minio_server", "minio_cluster", "s3_server", "server"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("artimeta")
    group.addoption(
        "--s3",
        action="append",
        choices=S3_SERVERS,
        help="run the blob suites against only these S3 servers (repeatable; default: all of them)",
    )
    group.addoption(
        "--no-adapter-venvs",
        action="store_true",
        help="skip the tests that run in the adapters' own virtualenvs (.venvs/, made by make adapter-venvs)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.getoption("--s3")
    if not wanted:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("s3_server") if callspec is not None else None
        (drop if param is not None and param not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)  # before any fixture is set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    unit = ROOT / "tests" / "unit"
    servers = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if item.path.is_relative_to(unit) and servers:
        pytest.fail(f"tests/unit starts no servers, but {item.nodeid} asks for {sorted(servers)}: move it to tests/api")


def pytest_configure(config: pytest.Config) -> None:
    _run["adapter_venvs"] = not config.getoption("--no-adapter-venvs")


_run = {"adapter_venvs": True}


def adapter_python(venv: str) -> str:
    """The interpreter of an adapter's virtualenv (.venvs/<venv>), or a skip under --no-adapter-venvs."""
    if not _run["adapter_venvs"]:
        pytest.skip(f"runs in .venvs/{venv}: left out by --no-adapter-venvs (make test runs it)")
    path = ROOT / ".venvs" / venv / "bin" / "python"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `bash scripts/adapter-venv.sh {venv}` (make test does)")
    return str(path)


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    # World-traversable, so the postgres user can reach its folders when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="artimeta-tests-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(tmp_root: Path) -> Iterator[Stack]:
    s = Stack(tmp_root / "stack", durable=False)
    s.start()
    yield s
    s.remove()


@pytest.fixture(scope="session")
def minio_server(tmp_root: Path) -> Iterator[S3Server]:
    if minio_binary() is None:
        pytest.skip("MinIO is not built (needs Go: scripts/ensure-minio.sh); the MinIO leg is skipped")
    server = MinioServer(tmp_root / "minio", S3Credentials.generate())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def minio_cluster(tmp_root: Path) -> Iterator[S3Server]:
    """Four MinIO processes forming one erasure-coded cluster (EC 2+2) on loopback."""
    if minio_binary() is None:
        pytest.skip("MinIO is not built (needs Go: scripts/ensure-minio.sh); the distributed MinIO leg is skipped")
    cluster = MinioCluster(tmp_root / "minio-distributed", S3Credentials.generate())
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session", params=["seaweedfs", "minio", "minio-distributed"])
def s3_server(request: pytest.FixtureRequest, stack: Stack) -> S3Server:
    """Every S3 server the blob-store suite runs against."""
    if request.param == "minio":
        server: S3Server = request.getfixturevalue("minio_server")
        return server
    if request.param == "minio-distributed":
        cluster: S3Server = request.getfixturevalue("minio_cluster")
        return cluster
    assert isinstance(stack.s3, SeaweedServer)
    return stack.s3


def settings_for(stack: Stack, **overrides: object) -> Settings:
    env = {**stack.env(), "ARTIMETA_LISTEN": "127.0.0.1:0", "ARTIMETA_LOG_JSON": "false"}
    return Settings.from_env(env, **overrides)


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return settings_for(stack, inline_document_limit=4096, max_message_bytes=4 * 1024 * 1024)


@pytest.fixture(scope="session")
async def server(settings: Settings) -> AsyncIterator[Server]:
    async with serving(settings) as srv:
        yield srv


@pytest.fixture(scope="session")
def target(server: Server) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
async def aclient(target: str) -> AsyncIterator[artimeta.AsyncClient]:
    async with artimeta.AsyncClient(target, timeout=20) as client:
        yield client


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def namespace(aclient: artimeta.AsyncClient) -> AsyncIterator[str]:
    """A fresh namespace per test: arti's own tests reuse names, so isolation is by namespace."""
    name = unique_name()
    await aclient.create_namespace(name)
    yield name
    await aclient.delete_namespace(name, allow_missing=True)


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    return Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[1] / ".venv")) / "bin"
