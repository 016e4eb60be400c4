"""machinable 5.1.0 with artimeta as its storage: real components are committed by one process
and retrieved, byte-identical with their related records, by another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

import artimeta

TARGET = os.environ["ARTIMETA_TARGET"]

COMPONENT = """
from pydantic import BaseModel
from machinable import Interface


class Trainer(Interface):
    class Config(BaseModel):
        lr: float = 0.1

    def __call__(self):
        self.save_file("result.json", {"lr": self.config.lr, "loss": 1.0 / (1 + self.config.lr)})
        self.save_file(".hidden", "hidden state")
        self.save_file(["checkpoints", "deep", "weights.bin"], "w" * 5000)
        self.save_file("empty.txt", "")
        os.makedirs(self.local_directory("empty-folder", "inner"), exist_ok=True)


import os  # noqa: E402
"""

COMMIT = """
import json, os, sys
sys.path.insert(0, os.getcwd())
import machinable

with machinable.Project(os.getcwd()):
    with machinable.get("artimeta.adapters.machinable", {"target": sys.argv[1], "namespace": sys.argv[2]}) as storage:
        base = machinable.get("trainer", {"lr": 0.5}).launch()
        run = machinable.get("trainer", {"lr": 0.01}, uses=base).launch()
        storage.upload(run, related=True)  # push the results written after materialization
        print(json.dumps({
            "storage": type(storage).__name__,
            "base": base.uuid, "run": run.uuid,
            "base_dir": base.local_directory(), "run_dir": run.local_directory(),
            "search": storage.search_for(run),
        }))
"""

RETRIEVE = """
import json, os, sys
import machinable

storage = machinable.get("artimeta.adapters.machinable", {"target": sys.argv[1], "namespace": sys.argv[2]})
out = {"contains": storage.contains(sys.argv[3]), "unknown": storage.contains("unknownuuid1"),
       "directory": storage.config.directory}
out["retrieved"] = storage.download(sys.argv[3], sys.argv[4], related=True)
out["missing"] = storage.retrieve("unknownuuid1", os.path.join(sys.argv[4], "nothing"))
print(json.dumps(out))
"""

DELETE = """
import json, sys
import machinable

with machinable.get("artimeta.adapters.machinable", {"target": sys.argv[1], "namespace": sys.argv[2]}) as storage:
    print(json.dumps({"deleted": storage.delete(sys.argv[3]), "contains": storage.contains(sys.argv[3]),
                      "retrieve": storage.retrieve(sys.argv[3], sys.argv[4])}))
"""


def python(script: str, cwd: Path, *args: str) -> Any:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def snapshot(root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            out[rel] = "dir" if p.is_dir() else p.read_bytes()
    return out


@pytest.fixture
def namespace() -> Any:
    """A namespace that does not exist yet: the storage creates it on first use."""
    name = f"mach-{uuid.uuid4().hex[:12]}"
    with artimeta.Client(TARGET) as client:
        with pytest.raises(artimeta.NotFound):
            client.get_namespace(name)
        yield name
        client.delete_namespace(name, allow_missing=True)


def test_commit_in_one_process_retrieve_in_another(namespace: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "trainer.py").write_text(COMPONENT)
    committed = python(COMMIT, project, TARGET, namespace)
    assert committed["storage"] == "ArtimetaStorage"
    assert committed["run"] in committed["search"]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dest = tmp_path / "download"
    got = python(RETRIEVE, elsewhere, TARGET, namespace, committed["run"], str(dest))
    assert got["contains"] and not got["unknown"] and got["missing"] is False
    assert got["directory"] == "./storage", "Config keeps Storage.Config's directory"
    assert sorted(Path(p).name for p in got["retrieved"]) == sorted([committed["run"], committed["base"]])
    for key in ("run", "base"):
        original = snapshot(Path(committed[f"{key}_dir"]))
        copy = snapshot(dest / committed[key])
        assert copy == original, f"{key} record differs"
    run_copy = dest / committed["run"]
    assert (run_copy / ".hidden").read_text() == "hidden state"
    assert (run_copy / "empty.txt").read_bytes() == b""
    assert (run_copy / "empty-folder" / "inner").is_dir()
    assert json.loads((run_copy / "result.json").read_text())["lr"] == 0.01

    gone = python(DELETE, elsewhere, TARGET, namespace, committed["base"], str(tmp_path / "after-delete"))
    assert gone == {"deleted": True, "contains": False, "retrieve": False}
