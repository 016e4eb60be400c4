"""ArtimetaBackend under redun's own Scheduler: real workflows, cache hits across processes,
a leaf change re-running only what depends on it, and the backend contract's return shapes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from redun import Handle, Scheduler, task
from redun.backends.base import RedunBackend, TagEntity
from redun.task import CacheCheckValid, CacheResult, CacheScope

from artimeta import Client
from artimeta.adapters.redun import ArtimetaBackend


def backend(target: str, namespace: str) -> ArtimetaBackend:
    b = ArtimetaBackend(target=target, namespace=namespace)
    b.load()
    b.load()  # idempotent
    return b


def test_is_a_redun_backend_with_no_abstract_method_left(target, namespace):
    b = ArtimetaBackend(target=target, namespace=namespace)
    assert isinstance(b, RedunBackend)
    assert not getattr(ArtimetaBackend, "__abstractmethods__", set())
    assert b.type_registry is not None
    with pytest.raises(ValueError):
        ArtimetaBackend(target=target)
    # Built from redun's [backend] config section.
    assert ArtimetaBackend(config={"artimeta_target": target, "artimeta_namespace": namespace}).namespace == namespace


def test_values_round_trip_and_misses(target, namespace):
    b = backend(target, namespace)
    small = {"a": [1, 2, 3]}
    large = "x" * 5000
    h1, h2 = b.record_value(small), b.record_value(large)
    assert b.record_value(small) == h1
    fresh = backend(target, namespace)
    assert fresh.get_value(h1) == (small, True)
    assert fresh.get_value(h2) == (large, True)
    assert fresh.get_value("0" * 40) == (None, False)


WORKFLOW = textwrap.dedent(
    """
    import json, sys
    from redun import Handle, Scheduler, task
    from artimeta.adapters.redun import ArtimetaBackend

    redun_namespace = "artimeta_replay"
    LEAF_VERSION = sys.argv[3]
    RAN = []

    @task(version=LEAF_VERSION)
    def leaf(x: int) -> int:
        RAN.append("leaf")
        return x * 10

    @task()
    def other(x: int) -> int:
        RAN.append("other")
        return x + 1

    @task()
    def combine(a: int, b: int) -> int:
        RAN.append("combine")
        return a + b

    @task()
    def main(n: int) -> list:
        RAN.append("main")
        return [combine(leaf(i), other(i)) for i in range(n)]

    scheduler = Scheduler(backend=ArtimetaBackend(target=sys.argv[1], namespace=sys.argv[2]))
    result = scheduler.run(main(int(sys.argv[4])))
    counts = {name: RAN.count(name) for name in set(RAN)}
    print(json.dumps({"result": result, "ran": counts}))
    """
)


def run_workflow(tmp_path: Path, target: str, namespace: str, leaf_version: str, n: int = 5) -> dict:
    script = tmp_path / "workflow.py"
    script.write_text(WORKFLOW)
    out = subprocess.run(
        [sys.executable, str(script), target, namespace, leaf_version, str(n)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_replays_every_task_from_the_cache(tmp_path, target, namespace):
    first = run_workflow(tmp_path, target, namespace, "1")
    assert first["result"] == [i * 10 + i + 1 for i in range(5)]
    assert first["ran"] == {"main": 1, "leaf": 5, "other": 5, "combine": 5}

    second = run_workflow(tmp_path, target, namespace, "1")
    assert second["result"] == first["result"]
    assert second["ran"] == {}

    # A new version of the leaf re-runs the leaf; its results are unchanged, so nothing
    # downstream of it (combine) re-runs, and the other branch is never touched.
    third = run_workflow(tmp_path, target, namespace, "2")
    assert third["result"] == first["result"]
    assert third["ran"] == {"leaf": 5}


def test_shallow_check_uses_the_call_cache(target, namespace):
    calls = []

    @task(check_valid="shallow", namespace="artimeta_shallow")
    def child(x: int) -> int:
        calls.append(("child", x))
        return x * 2

    @task(check_valid="shallow", namespace="artimeta_shallow")
    def parent(x: int) -> int:
        calls.append(("parent", x))
        return child(x)

    s1 = Scheduler(backend=backend(target, namespace))
    assert s1.run(parent(3)) == 6
    assert calls == [("parent", 3), ("child", 3)]
    s2 = Scheduler(backend=backend(target, namespace))
    assert s2.run(parent(3)) == 6
    assert calls == [("parent", 3), ("child", 3)]


def test_check_cache_contract(target, namespace):
    b = backend(target, namespace)
    eval_hash, task_hash, args_hash = "1" * 40, "2" * 40, "3" * 40
    args = (task_hash, args_hash, eval_hash, "exec", set[str](), CacheScope.BACKEND, CacheCheckValid.FULL)
    assert b.check_cache(*args) == (None, None, CacheResult.MISS)
    b.set_eval_cache(eval_hash, task_hash, args_hash, {"v": 1})
    assert b.check_cache(*args) == ({"v": 1}, None, CacheResult.SINGLE)
    none = (task_hash, args_hash, eval_hash, "exec", set[str](), CacheScope.NONE, CacheCheckValid.FULL)
    assert b.check_cache(*none) == (None, None, CacheResult.MISS)
    assert b.check_cache(*args, allowed_cache_results={CacheResult.CSE}) == (None, None, CacheResult.MISS)


def test_tags_contract(target, namespace):
    b = backend(target, namespace)
    entity = "a" * 40
    tags = b.record_tags(TagEntity.Value, entity, [("env", "prod"), ("env", "dev"), ("n", {"x": 1})])
    assert [(t[1], t[2], t[3]) for t in tags] == [
        (entity, "env", "prod"),
        (entity, "env", "dev"),
        (entity, "n", {"x": 1}),
    ]
    assert all(len(t[0]) == 40 for t in tags)
    assert b.record_tags(TagEntity.Value, entity, [("env", "prod")]) == tags[:1]
    current = b.get_tags([entity])[entity]
    assert sorted(current["env"]) == ["dev", "prod"]
    b.record_tags(TagEntity.Value, entity, [("env", "staging")], update=True)
    assert b.get_tags([entity])[entity]["env"] == ["staging"]
    b.update_tags(TagEntity.Value, entity, ["n"], [("n", 2)])
    assert b.get_tags([entity])[entity]["n"] == [2]
    deleted = b.delete_tags(entity, [("env", "staging")])
    assert deleted[0][1:] == ("", "", None)
    assert "env" not in b.get_tags([entity])[entity]
    assert b.get_tags(["b" * 40]) == {}


class DbHandle(Handle):
    def __init__(self, name: str):
        self.name = name


@task(namespace="artimeta_handles")
def write_rows(conn: DbHandle, x: int) -> DbHandle:
    return conn


def test_jobs_handles_and_records(target, namespace):
    b = backend(target, namespace)
    executions = []
    record_execution = b.record_execution

    def recording(exec_id, args):
        executions.append(exec_id)
        return record_execution(exec_id, args)

    b.record_execution = recording  # type: ignore[method-assign]
    s = Scheduler(backend=b)
    result = s.run(write_rows(DbHandle("conn"), 1))
    assert isinstance(result, DbHandle)
    assert b.is_valid_handle(result)
    assert b.get_job("no-such-job") is None

    ids = list(b.iter_record_ids(executions))
    assert ids[0] == executions[0] and len(ids) >= 4
    records = list(b.get_records(ids))
    assert len(records) == len(ids)
    copy_ns = f"{namespace}-copy"
    try:
        dst = backend(target, copy_ns)
        assert dst.put_records(records) == len(records)
        assert dst.put_records(records) == 0
        assert list(dst.iter_record_ids(executions)) == ids
    finally:
        with Client(target) as client:
            client.delete_namespace(copy_ns, allow_missing=True)
