"""Artifacts, producers and graphs of the suite, importable by name from any process (a graph read
back elsewhere needs its producers importable). Every producer run is appended to the file named by
ARTI_BUILD_LOG, so a test can tell which partitions were built and which were skipped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from arti import Artifact, Graph, producer
from arti.formats.json import JSON
from arti.storage.local import LocalFile
from arti.types import Int64


def builds(log: Path) -> list[str]:
    """The producer runs logged to `log` (ARTI_BUILD_LOG), in order."""
    return log.read_text().splitlines() if log.exists() else []


def _log(what: str) -> None:
    path = os.environ.get("ARTI_BUILD_LOG")
    if path:
        with open(path, "a") as f:
            f.write(what + "\n")


class Num(Artifact):
    type: Int64 = Int64()
    format: JSON = JSON()
    storage: LocalFile = LocalFile()


@producer()
def div(a: int, b: int) -> Annotated[int, Num]:
    _log(f"div {a} {b}")
    return a // b


def divide_graph(backend: object, root: str, *, a: int = 10, b: int = 5, name: str = "divide") -> Graph:
    """a // b computed by a producer, its output in files under `root`."""
    with Graph(name=name, backend=backend) as g:
        g.artifacts.a = a
        g.artifacts.b = b
        g.artifacts.c = div(a=g.artifacts.a, b=g.artifacts.b).out(
            Num(storage=LocalFile(path=f"{root}/{{graph_name}}/{{names}}/{{input_fingerprint}}.json"))
        )
    return g


def literal_graph(backend: object, *, value: int = 5, name: str = "literal") -> Graph:
    with Graph(name=name, backend=backend) as g:
        g.artifacts.x = Artifact.cast(value)
    return g


@producer()
def plus(x: int, y: int) -> Annotated[int, Num]:
    _log(f"plus {x} {y}")
    return x + y


def two_step_graph(backend: object, root: str, *, name: str = "two-step") -> Graph:
    """(a // b) + b by two producers, the sum under a nested key: what a lineage DAG shows."""
    storage = f"{root}/{{graph_name}}/{{names}}/{{input_fingerprint}}.json"
    with Graph(name=name, backend=backend) as g:
        g.artifacts.a = 10
        g.artifacts.b = 5
        g.artifacts.c = div(a=g.artifacts.a, b=g.artifacts.b).out(Num(storage=LocalFile(path=storage)))
        g.artifacts.stats.total = plus(x=g.artifacts.c, y=g.artifacts.b).out(Num(storage=LocalFile(path=storage)))
    return g
