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
    """A namespace that does not exist yet: the store creates it on first use."""
    name = f"redun-{uuid.uuid4().hex[:12]}"
    yield name
    with artimeta.Client(TARGET) as client:
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


def test_a_missing_namespace_is_created_on_first_use_unless_told_not_to(namespace: str) -> None:
    with pytest.raises(artimeta.NotFound, match="create_namespace=False") as err:
        ArtimetaValueStore(target=TARGET, namespace=namespace, create_namespace=False).put(value_hash(), b"x")
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    with artimeta.Client(TARGET) as client:
        with pytest.raises(artimeta.NotFound):
            client.get_namespace(namespace)
        store = ArtimetaValueStore(target=TARGET, namespace=namespace)
        h = value_hash()
        store.put(h, b"x")
        assert store.get(h) == (b"x", True)
        assert client.get_namespace(namespace).name == namespace


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


WORKFLOW = """
import json, sys
from redun import Scheduler, task
from redun.config import Config
from artimeta.adapters import _redun_value_store as impl

reads = []
original = impl.ArtimetaFileSystem._open

def counting(self, path, mode, **kw):
    if "r" in mode:
        reads.append(path)
    return original(self, path, mode, **kw)

impl.ArtimetaFileSystem._open = counting

@task()
def make_blob(n: int) -> bytes:
    return bytes(range(256)) * n

@task()
def main(n: int) -> list:
    return [make_blob(n), make_blob(n + 1)]

db, target, namespace = sys.argv[1:4]
config = Config({"backend": {
    "db_uri": f"sqlite:///{db}",
    "value_store_path": f"artimeta://{target}/{namespace}/redun/values",
    "value_store_min_size": "1024",
}})
scheduler = Scheduler(config=config)
scheduler.load()
result = scheduler.run(main(40))
print(json.dumps({"sizes": [len(b) for b in result], "reads": len(reads)}))
"""


def test_value_store_path_on_a_new_namespace_across_processes(namespace: str, tmp_path: Path) -> None:
    """redun's own database backend keeps its large values in artimeta through `value_store_path`:
    one process computes them into a namespace that did not exist, another replays them from it."""
    import json
    import subprocess
    import sys

    script = tmp_path / "workflow.py"
    script.write_text(WORKFLOW)

    def run() -> Any:
        proc = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "redun.db"), TARGET, namespace],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first = run()
    assert first["sizes"] == [256 * 40, 256 * 41]
    with artimeta.Client(TARGET) as client:
        stored = list(Blobs(client, namespace).list_objects("redun/values/"))
    assert len(stored) >= 2 and all(e.digest.size >= 1024 for e in stored)
    second = run()
    assert second["sizes"] == first["sizes"]
    assert second["reads"] >= 2, "the replay read the cached values from artimeta"
