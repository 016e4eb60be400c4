"""What a replay leaves behind when the adapter folds a cache hit's writes (the start rides on the
end, the call node is sent beside it): a process that exits the moment `scheduler.run` returns,
with no flush at exit, has written every job and call node a synchronous backend promised, and a
call node recorded outside a job is visible to another client at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from artimeta import Client
from artimeta.adapters.redun import ArtimetaBackend

N = 4
TASKS = 1 + 2 * N

WORKFLOW = textwrap.dedent(
    """
    import json, os, sys
    from redun import Scheduler, task

    redun_namespace = "artimeta_round_trips"

    @task()
    def square(x: int) -> int:
        return x * x

    @task()
    def add(a: int, b: int) -> int:
        return a + b

    @task()
    def main(n: int) -> list:
        return [add(square(i), i) for i in range(n)]

    from artimeta.adapters.redun import ArtimetaBackend
    backend = ArtimetaBackend(target=sys.argv[1], namespace=sys.argv[2])
    executions = []
    record_execution = backend.record_execution
    backend.record_execution = lambda exec_id, args: (executions.append(exec_id), record_execution(exec_id, args))[1]
    result = Scheduler(backend=backend).run(main(int(sys.argv[3])))
    print(json.dumps({"result": result, "execution": executions[0]}), flush=True)
    os._exit(0)  # no atexit flush: what is not written by now is lost
    """
)


def _run(tmp_path: Path, target: str, namespace: str) -> dict:
    script = tmp_path / "workflow.py"
    script.write_text(WORKFLOW)
    out = subprocess.run(
        [sys.executable, str(script), target, namespace, str(N)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _records(target: str, namespace: str, execution: str) -> dict[str, list[dict]]:
    b = ArtimetaBackend(target=target, namespace=namespace)
    ids = list(b.iter_record_ids([execution]))
    with Client(target) as client:
        records = client.namespace(namespace).cache.get_records(ids=ids).records
    by_type: dict[str, list[dict]] = {}
    for r in records:
        doc = json.loads(r.json)
        by_type.setdefault(doc["_type"], []).append(doc)
    b.close()
    return by_type


def test_a_replay_writes_every_job_and_call_node_before_run_returns(tmp_path, target, namespace):
    cold = _run(tmp_path, target, namespace)
    replay = _run(tmp_path, target, namespace)
    assert replay["result"] == cold["result"] == [i * i + i for i in range(N)]
    for run, cached in ((cold, False), (replay, True)):
        records = _records(target, namespace, run["execution"])
        jobs = records["Job"]
        assert len(jobs) == TASKS
        assert all(j["execution_id"] == run["execution"] for j in jobs)
        assert all(j["cached"] is cached for j in jobs)
        assert all(j["end_time"] and j["call_hash"] for j in jobs)
        assert all(j["start_time"] <= j["end_time"] for j in jobs)
        calls = {c["call_hash"] for c in records["CallNode"]}
        assert {j["call_hash"] for j in jobs} <= calls
        (root,) = [j for j in jobs if not j["parent_id"]]
        children = [j for j in jobs if j["parent_id"]]
        # The root job's children ran between its start and its end, also when it was a cache hit.
        assert root["start_time"] < min(j["end_time"] for j in children)
        assert records["Execution"][0]["job_id"] == root["id"]


def test_a_call_node_recorded_outside_a_job_is_visible_at_once(target, namespace):
    writer = ArtimetaBackend(target=target, namespace=namespace)
    task_hash, args_hash = "a" * 40, "b" * 40
    result_hash = writer.record_value(42)
    call_hash = writer.record_call_node("t", task_hash, args_hash, ((), {}), ((), {}), result_hash, [])
    reader = ArtimetaBackend(target=target, namespace=namespace)
    assert reader.get_subtree_tasks(call_hash) == {task_hash}
    reader.close()
    writer.close()
