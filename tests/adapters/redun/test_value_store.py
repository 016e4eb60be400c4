"""redun 0.44.1 with its values in artimeta: the ValueStore contract, and a real redun workflow
whose config points `value_store_path` at artimeta."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from redun import Scheduler, task
from redun.backends.value_store import ValueStore
from redun.config import Config

import artimeta
from artimeta.adapters import _redun_value_store as impl
from artimeta.adapters.redun import ArtimetaValueStore
from artimeta.blobs import Blobs

TARGET = os.environ["ARTIMETA_TARGET"]


@pytest.fixture
def namespace() -> Any:
    name = f"redun-{uuid.uuid4().hex[:12]}"
    with artimeta.Client(TARGET) as client:
        client.create_namespace(name)
        yield name
        client.delete_namespace(name, allow_missing=True)


def value_hash() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex[:8]  # 40 hex characters, like redun's hashes


def test_contract(namespace: str) -> None:
    store = ArtimetaValueStore(target=TARGET, namespace=namespace)
    assert isinstance(store, ValueStore)
    h = value_hash()
    assert not store.has(h)
    assert store.get(h) == (b"", False)
    assert store.size(h) == -1
    store.put(h, b"first")
    assert store.has(h) and store.size(h) == 5
    assert store.get(h) == (b"first", True)
    store.put(h, b"second")  # a no-op: values are immutable by hash
    assert store.get(h) == (b"first", True)
    other = ArtimetaValueStore(target=TARGET, namespace=namespace)
    assert other.get(h) == (b"first", True), "two instances with one target and namespace share data"
    big = os.urandom(3 * 1024 * 1024 + 1)
    h2 = value_hash()
    store.put(h2, big)
    assert other.get(h2) == (big, True) and other.size(h2) == len(big)
    store.put(value_hash(), b"")
    assert store.get_value_path(h).endswith(f"/{h[:2]}/{h[2:]}")


def test_namespaces_are_isolated(namespace: str) -> None:
    store = ArtimetaValueStore(target=TARGET, namespace=namespace)
    h = value_hash()
    store.put(h, b"mine")
    with artimeta.Client(TARGET) as client:
        name = f"redun-{uuid.uuid4().hex[:12]}"
        client.create_namespace(name)
        try:
            assert ArtimetaValueStore(target=TARGET, namespace=name).get(h) == (b"", False)
        finally:
            client.delete_namespace(name)


def test_unknown_namespace_is_a_clear_error() -> None:
    store = ArtimetaValueStore(target=TARGET, namespace="no-such-namespace-here")
    with pytest.raises(artimeta.NotFound):
        store.put(value_hash(), b"x")


@task()
def make_blob(n: int) -> bytes:
    return bytes(range(256)) * n


@task()
def main(n: int) -> list:
    return [make_blob(n), make_blob(n + 1)]


def test_real_workflow_keeps_large_values_in_artimeta(
    namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(
        {
            "backend": {
                "db_uri": f"sqlite:///{tmp_path}/redun.db",
                "value_store_path": f"artimeta://{TARGET}/{namespace}/redun/values",
                "value_store_min_size": "1024",
            }
        }
    )
    scheduler = Scheduler(config=config)
    scheduler.load()
    first = scheduler.run(main(40))
    assert first == [bytes(range(256)) * 40, bytes(range(256)) * 41]
    blobs = Blobs(artimeta.Client(TARGET), namespace)
    stored = list(blobs.list_objects("redun/values/"))
    assert len(stored) >= 2, "the large values went to artimeta"
    assert all(e.digest.size >= 1024 for e in stored)

    reads: list[str] = []
    original = impl.ArtimetaFileSystem._open

    def counting(self: Any, path: str, mode: str, **kw: Any) -> Any:
        if "r" in mode:
            reads.append(path)
        return original(self, path, mode, **kw)

    monkeypatch.setattr(impl.ArtimetaFileSystem, "_open", counting)
    replay = Scheduler(config=config)
    replay.load()
    again = replay.run(main(40))
    assert again == first
    assert reads, "the cached values were read back from artimeta"
