"""Fixtures of the arti suite: the live server (ARTIMETA_TARGET), a fresh namespace per test
(arti's graphs reuse names and tags), and backends on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import artimeta
from artimeta.adapters.arti import ArtimetaBackend


@pytest.fixture(scope="session")
def target() -> str:
    value = os.environ.get("ARTIMETA_TARGET")
    if not value:
        pytest.fail("ARTIMETA_TARGET is not set: run this suite through tests/adapters/runner.py")
    return value


@pytest.fixture(scope="session")
def client(target: str) -> Iterator[artimeta.Client]:
    with artimeta.Client(target) as c:
        yield c


@pytest.fixture
def namespace(client: artimeta.Client) -> Iterator[str]:
    name = f"arti-{uuid.uuid4().hex[:16]}"
    client.create_namespace(name)
    yield name
    client.delete_namespace(name, allow_missing=True)


@pytest.fixture
def backend(target: str, namespace: str) -> Iterator[ArtimetaBackend]:
    b = ArtimetaBackend(target=target, namespace=namespace, actor="tests")
    yield b
    b.close()


@pytest.fixture
def build_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where producers log their runs (see arti_graphs.builds)."""
    log = tmp_path / "builds.log"
    monkeypatch.setenv("ARTI_BUILD_LOG", str(log))
    return log


@pytest.fixture
def new_namespace(client: artimeta.Client) -> Iterator[str]:
    """A namespace that does not exist yet (the backend creates it on first use)."""
    name = f"arti-new-{uuid.uuid4().hex[:12]}"
    yield name
    client.delete_namespace(name, allow_missing=True)
