"""Several artimeta-server processes on one Postgres and one S3 store, for race tests across
replicas. Import the fixtures into a test module to use them:

    from tests import replicas as _replicas

    fresh_db_env = _replicas.fresh_db_env
    replicas = _replicas.replicas

`replicas` is three servers started at once with `serve --migrate` on a fresh database (module
scope): a list of (process, "127.0.0.1:port"); `servers(...)` starts any number more."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from artimeta_server.devstack.procs import free_port, terminate, wait_for
from artimeta_server.devstack.stack import Stack
from tests.conftest import unique_name


def _ready(target: str) -> bool:
    with grpc.insecure_channel(target) as ch:
        grpc.channel_ready_future(ch).result(timeout=1)
    return True


@contextmanager
def servers(
    venv_bin: Path, env: dict[str, str], log_dir: Path, count: int, *args: str
) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    procs: list[tuple[subprocess.Popen[bytes], str]] = []
    logs = []
    try:
        for i in range(count):
            port = free_port()
            log = log_dir / f"replica-{unique_name()}-{i}.log"
            logs.append(log)
            with log.open("wb") as out:  # the child keeps its own copy of the descriptor
                proc = subprocess.Popen(
                    [str(venv_bin / "artimeta-server"), "serve", *args],
                    env={**env, "ARTIMETA_LISTEN": f"127.0.0.1:{port}"},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs.append((proc, f"127.0.0.1:{port}"))
        for (proc, target), log in zip(procs, logs, strict=True):
            wait_for(functools.partial(_ready, target), timeout_s=60, what=f"server {target}", proc=proc, log=log)
        yield procs
    finally:
        for proc, _ in procs:
            terminate(proc, grace_s=10)


@pytest.fixture(scope="module")
def fresh_db_env(stack: Stack) -> dict[str, str]:
    assert stack.postgres is not None
    db = unique_name("replicas").replace("-", "_")
    stack.postgres.psql(f"CREATE DATABASE {db}")
    return {**os.environ, **stack.env(), "ARTIMETA_DATABASE_URL": stack.postgres.dsn(db), "ARTIMETA_LOG_JSON": "true"}


@pytest.fixture(scope="module")
def replicas(
    fresh_db_env: dict[str, str], venv_bin: Path, tmp_root: Path
) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    # All three start on an empty database with --migrate at the same moment.
    with servers(venv_bin, fresh_db_env, tmp_root, 3, "--migrate") as procs:
        yield procs
