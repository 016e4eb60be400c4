"""`redun push` / `pull` through artimeta: a redun SQLite repository's records go into artimeta
and come out into a fresh SQLite repository as redun wrote them, and that repository replays the
workflow from its cache. The sync is redun's own (RedunClient._sync_records): iter_record_ids on
the source, get_records, put_records on the destination."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

from redun import Scheduler, task
from redun.backends.db import Execution
from redun.config import Config

from artimeta.adapters.redun import ArtimetaBackend

RAN: List[str] = []

# redun's sync carries call nodes, not the evaluation cache: a pulled repository answers from its
# call graph, that is, for tasks checked shallowly (as with redun's own push and pull).


@task(namespace="artimeta_sync", check_valid="shallow")
def square(x: int) -> int:
    RAN.append("square")
    return x * x


@task(namespace="artimeta_sync", check_valid="shallow")
def add(a: int, b: int) -> int:
    RAN.append("add")
    return a + b


@task(namespace="artimeta_sync", check_valid="shallow")
def main(n: int) -> List[int]:
    RAN.append("main")
    return [add(square(i), i) for i in range(n)]


def sqlite(path: Path) -> Scheduler:
    scheduler = Scheduler(config=Config({"backend": {"db_uri": f"sqlite:///{path}"}}))
    scheduler.load()
    return scheduler


def differences(got: List[dict], want: List[dict]) -> List[tuple]:
    """(id, field, got, want) for every field that differs, so a failure names what."""
    assert [r["_type"] for r in got] == [r["_type"] for r in want]
    return [
        (w.get("id") or w.get("call_hash") or w.get("value_hash") or w.get("tag_hash"), k, g.get(k), w.get(k))
        for g, w in zip(got, want, strict=True)
        for k in sorted(set(g) | set(w))
        if g.get(k) != w.get(k)
    ]


def sync(src: Any, dest: Any, root_ids: List[str]) -> int:
    """redun's RedunClient._sync_records, given the roots (it reads them from a SQL session)."""
    return int(dest.put_records(src.get_records(src.iter_record_ids(root_ids))))


def test_records_from_sqlite_through_artimeta_into_sqlite_replay_from_the_cache(tmp_path, target, namespace):
    a = sqlite(tmp_path / "a.db")
    RAN.clear()
    result = a.run(main(4))
    assert result == [i * i + i for i in range(4)] and RAN.count("square") == 4
    roots = [row[0] for row in a.backend.session.query(Execution.id)]
    ids = list(a.backend.iter_record_ids(roots))
    records = list(a.backend.get_records(ids))
    assert {r["_type"] for r in records} == {"Execution", "Job", "CallNode", "Value"}

    # push: SQLite -> artimeta, which gives back exactly what redun wrote.
    art = ArtimetaBackend(target=target, namespace=namespace)
    art.load()
    assert sync(a.backend, art, roots) == len(records)
    assert sync(a.backend, art, roots) == 0
    assert sorted(art.iter_record_ids(roots)) == sorted(ids)
    assert differences(list(art.get_records(ids)), records) == []

    # pull: artimeta -> a fresh SQLite repository, which then holds the same records...
    b = sqlite(tmp_path / "b.db")
    assert sync(art, b.backend, roots) == len(records)
    assert differences(list(b.backend.get_records(ids)), records) == []

    # ...and replays every task from its cache, as the artimeta namespace itself does.
    RAN.clear()
    assert b.run(main(4)) == result
    assert RAN == []
    assert Scheduler(backend=art).run(main(4)) == result
    assert RAN == []

    # Without the records, a fresh repository runs everything.
    assert sqlite(tmp_path / "c.db").run(main(4)) == result
    assert RAN.count("square") == 4
