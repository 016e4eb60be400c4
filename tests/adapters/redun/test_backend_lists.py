"""Runs made by redun's own Scheduler through ArtimetaBackend show up in ListExecutions, newest
first, with their root task, arguments, jobs and cache hits: what the console's list shows."""

from __future__ import annotations

from redun import Scheduler, task

from artimeta import Client
from artimeta.adapters.redun import ArtimetaBackend
from artimeta.v1 import cache_pb2, cache_pb2_grpc

redun_namespace = "artimeta_lists"


@task()
def square(x: int) -> int:
    return x * x


@task()
def total(n: int) -> int:
    return sum_all([square(i) for i in range(n)])


@task()
def sum_all(values: list) -> int:
    return sum(values)


def test_scheduler_runs_are_listed_newest_first(target, namespace):
    first = Scheduler(backend=ArtimetaBackend(target=target, namespace=namespace))
    assert first.run(total(3)) == 5
    second = Scheduler(backend=ArtimetaBackend(target=target, namespace=namespace))
    assert second.run(total(3)) == 5
    with Client(target) as client:
        stub = client.stub(cache_pb2_grpc.CacheServiceStub)
        page = client.call(stub.ListExecutions, cache_pb2.ListExecutionsRequest(namespace=namespace))
    assert len(page.executions) == 2 and not page.next_page_token
    newest, oldest = page.executions
    assert newest.create_time.ToDatetime() >= oldest.create_time.ToDatetime()
    for e in page.executions:
        assert e.root_task_name == "artimeta_lists.total"
        assert e.root_job_id and e.HasField("start_time") and e.HasField("end_time")
    # The first run computed every call: total, sum_all and three squares.
    assert (oldest.job_count, oldest.cached_job_count) == (5, 0)
    # The second found the root call in the cache, so its root job was a hit.
    assert newest.cached_job_count >= 1 and newest.job_count >= 1
