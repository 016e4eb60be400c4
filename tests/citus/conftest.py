"""The Citus layer: the API and race suites again, on a coordinator with two workers.

Citus is built once from the vendored source (devstack/citus.py) and cached; where the source or
the build tools are missing, every test here is skipped with the reason. The session's plain
Postgres stays the default for every other layer: here `stack` is that stack with the Citus
coordinator in place of its Postgres (same SeaweedFS, its own bucket, since namespace ids
restart from 1 in this database), and the server fixtures are redefined over it so that nothing
cached for the plain layer is reused. The blob suites run against SeaweedFS only.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import artimeta
from artimeta_server.config import Settings
from artimeta_server.devstack import citus
from artimeta_server.devstack.s3 import S3Server
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.api.blobs.conftest import blob_ns, blob_server, blob_target, blobs, sync_client  # noqa: F401
from tests.conftest import settings_for

REPO = Path(__file__).resolve().parents[2]
# Few shards keep the cluster's DDL (one shard table per shard per table) short; every
# distributed table still spreads over both workers, and routing does not depend on the count.
SHARD_COUNT = 4
TIMINGS: dict[str, float] = {}


@dataclass
class CitusStack(Stack):
    def env(self, bucket: str = "artimeta-citus") -> dict[str, str]:
        return super().env(bucket)


@pytest.fixture(scope="session")
def citus_cluster(tmp_root: Path) -> Iterator[citus.CitusCluster]:
    try:
        installation = citus.ensure_installed(REPO)
    except citus.Unavailable as exc:
        pytest.skip(f"Citus layer skipped: {exc}")
    if installation.built_s is not None:
        TIMINGS["build_s"] = installation.built_s
    started = time.monotonic()
    cluster = citus.CitusCluster(tmp_root / "citus", workers=2, shard_count=SHARD_COUNT)
    cluster.start()
    TIMINGS["cluster_start_s"] = time.monotonic() - started
    yield cluster
    cluster.remove()


@pytest.fixture(scope="session")
def stack(stack: Stack, citus_cluster: citus.CitusCluster, tmp_root: Path) -> Stack:
    return CitusStack(tmp_root / "citus-stack", postgres=citus_cluster.coordinator, s3=stack.s3)


@pytest.fixture(scope="session")
def s3_server(stack: Stack) -> S3Server:
    assert stack.s3 is not None
    return stack.s3


@pytest.fixture(scope="session")
def settings(stack: Stack) -> Settings:
    return settings_for(stack, inline_document_limit=4096, max_message_bytes=4 * 1024 * 1024)


@pytest.fixture(scope="session")
async def server(settings: Settings) -> AsyncIterator[Server]:
    started = time.monotonic()
    srv = Server(settings)
    await srv.start(migrate_schema=True)
    TIMINGS["migrate_and_start_s"] = time.monotonic() - started
    yield srv
    await srv.stop(0.5)


@pytest.fixture(scope="session")
def target(server: Server) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="session")
async def aclient(target: str) -> AsyncIterator[artimeta.AsyncClient]:
    async with artimeta.AsyncClient(target, timeout=20) as client:
        yield client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The Citus path's cost in the run's summary (build only when this run built it)."""
    if TIMINGS:
        figures = ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items())
        terminalreporter.write_line(f"citus layer: {figures}")
