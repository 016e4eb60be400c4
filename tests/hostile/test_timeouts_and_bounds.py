"""Errors that say the truth, and work that stays bounded: a statement that runs past the
server's timeout is DEADLINE_EXCEEDED (which the Python client does not retry, unlike
UNAVAILABLE), a deep relation walk is bounded in depth and in records, and a record's entries
stay under the limit across merge commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

import artimeta
from artimeta.v1 import cache_pb2, cache_pb2_grpc, records_pb2, records_pb2_grpc
from artimeta_server import metrics
from artimeta_server.devstack.stack import Stack
from artimeta_server.domain.records import limits as record_rules
from artimeta_server.server import Server
from tests.conftest import settings_for, unique_name
from tests.serving import serving

STATEMENT_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
async def slow_server(stack: Stack) -> AsyncIterator[Server]:
    async with serving(settings_for(stack, db_statement_timeout_s=STATEMENT_TIMEOUT_S)) as srv:
        yield srv


def _handled(method: str, code: str) -> float:
    value: float = metrics.RPC_HANDLED.labels("artimeta.v1.CacheService", method, code)._value.get()
    return value


async def test_a_statement_timeout_is_deadline_exceeded_and_the_client_does_not_retry_it(slow_server: Server) -> None:
    assert slow_server.domain is not None
    target = f"127.0.0.1:{slow_server.port}"
    name = unique_name()
    async with artimeta.AsyncClient(target, timeout=30) as client:
        await client.create_namespace(name)
        stub = client.stub(cache_pb2_grpc.CacheServiceStub)
        await client.call(stub.RecordExecution, cache_pb2.RecordExecutionRequest(namespace=name, id="exec-1"))
        before = {code: _handled("RecordUpdatedTime", code) for code in ("DEADLINE_EXCEEDED", "UNAVAILABLE")}
        # Another session holds the execution's row: the RPC's UPDATE waits past the statement timeout.
        async with slow_server.domain.db.transaction() as conn:
            await conn.execute(
                "SELECT 1 FROM cache_executions WHERE id = 'exec-1' AND namespace_id = "
                "(SELECT id FROM namespaces WHERE name = $1) FOR UPDATE",
                name,
            )
            with pytest.raises(artimeta.DeadlineExceeded) as err:
                await client.call(
                    stub.RecordUpdatedTime, cache_pb2.RecordUpdatedTimeRequest(namespace=name, execution_id="exec-1")
                )
        assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert err.value.reason == "STATEMENT_TIMEOUT"
        # One attempt reached the server: the client's retry policy leaves DEADLINE_EXCEEDED alone.
        assert _handled("RecordUpdatedTime", "DEADLINE_EXCEEDED") - before["DEADLINE_EXCEEDED"] == 1
        assert _handled("RecordUpdatedTime", "UNAVAILABLE") == before["UNAVAILABLE"]
        await client.delete_namespace(name)


def test_the_python_client_retries_unavailable_only() -> None:
    import json

    from artimeta._channel import RetryPolicy

    config = json.loads(RetryPolicy().service_config())
    assert [m["retryPolicy"]["retryableStatusCodes"] for m in config["methodConfig"]] == [["UNAVAILABLE"]]


@pytest.fixture
def records(aclient: artimeta.AsyncClient) -> records_pb2_grpc.RecordServiceStub:
    return aclient.stub(records_pb2_grpc.RecordServiceStub)


async def _commit(aclient: Any, stub: Any, ns: str, uuid: str, related: list[str] = (), **kw: Any) -> Any:  # type: ignore[assignment]
    return await aclient.call(
        stub.CommitRecord,
        records_pb2.CommitRecordRequest(
            namespace=ns, uuid=uuid, relations=[records_pb2.RecordRelation(related_uuid=r) for r in related], **kw
        ),
    )


async def _related(aclient: Any, stub: Any, ns: str, uuid: str, deep: bool) -> list[str]:
    reply = await aclient.call(
        stub.ListRelatedRecords, records_pb2.ListRelatedRecordsRequest(namespace=ns, uuid=uuid, deep=deep)
    )
    return list(reply.uuids)


async def test_deep_relation_walks_are_bounded_in_depth_and_in_records(
    aclient: artimeta.AsyncClient, records: Any, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record_rules, "MAX_RELATION_DEPTH", 3)
    monkeypatch.setattr(record_rules, "MAX_RELATED", 5)
    # A chain c0 - c1 - c2 - c3 (3 levels from c0), with a cycle back to c0 that must not loop.
    for i in range(4):
        await _commit(aclient, records, namespace, f"c{i}", [f"c{i + 1}"] if i < 3 else ["c0"])
    assert await _related(aclient, records, namespace, "c0", deep=True) == ["c1", "c2", "c3"]
    # Longer than 3 levels: refused, with the limits in the reply.
    for i in range(4, 8):
        await _commit(aclient, records, namespace, f"l{i}", [f"l{i + 1}"])
    await _commit(aclient, records, namespace, "l8")
    with pytest.raises(artimeta.FailedPrecondition) as err:
        await _related(aclient, records, namespace, "l4", deep=True)
    assert err.value.reason == "RELATION_WALK_TOO_LARGE"
    assert err.value.metadata == {"max_records": "5", "max_depth": "3"}
    assert await _related(aclient, records, namespace, "l4", deep=False) == ["l5"]
    # Wider than 5 records, in one level or several.
    await _commit(aclient, records, namespace, "hub", [f"s{i}" for i in range(6)])
    for deep in (False, True):
        with pytest.raises(artimeta.FailedPrecondition) as err:
            await _related(aclient, records, namespace, "hub", deep=deep)
        assert err.value.reason == "RELATION_WALK_TOO_LARGE"


def _dirs(*paths: str) -> list[records_pb2.RecordEntry]:
    return [records_pb2.RecordEntry(path=p, kind=records_pb2.RECORD_ENTRY_KIND_DIRECTORY, mode=0o755) for p in paths]


async def test_merge_commits_keep_a_record_under_the_entry_limit(
    aclient: artimeta.AsyncClient, records: Any, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record_rules, "MAX_ENTRIES", 3)
    await _commit(aclient, records, namespace, "r", entries=_dirs("a", "b"))
    await _commit(aclient, records, namespace, "r", entries=_dirs("b", "c"))  # merges to a, b, c: at the limit
    with pytest.raises(artimeta.InvalidArgument) as err:
        await _commit(aclient, records, namespace, "r", entries=_dirs("d"))  # would be a, b, c, d
    assert err.value.reason == "MANIFEST_TOO_LARGE"
    got = await aclient.call(records.GetRecord, records_pb2.GetRecordRequest(namespace=namespace, uuid="r"))
    assert sorted(e.path for e in got.record.entries) == ["a", "b", "c"]  # the refused commit left nothing
    await _commit(aclient, records, namespace, "r", entries=_dirs("x", "y", "z"), mode=records_pb2.COMMIT_MODE_REPLACE)
    with pytest.raises(artimeta.InvalidArgument):
        await _commit(aclient, records, namespace, "r", entries=_dirs("a", "b", "c", "d"))


async def test_waiting_for_a_pool_connection_stays_unavailable_and_a_slow_statement_is_deadline_exceeded(
    settings: Any,
) -> None:
    from artimeta_server.domain.errors import DeadlineExceeded, Unavailable
    from artimeta_server.storage.postgres import Database

    db = Database(settings.database_url, min_size=1, max_size=1, acquire_timeout_s=0.2, statement_timeout_s=0.3)
    await db.open()
    try:
        async with db.connection():
            with pytest.raises(Unavailable) as busy:
                async with db.connection():
                    pass
        assert busy.value.reason == "DATABASE_UNAVAILABLE"  # retryable: a connection may free up
        with pytest.raises(DeadlineExceeded) as slow:
            async with db.connection() as conn:
                await conn.execute("SELECT pg_sleep(5)")
        assert slow.value.reason == "STATEMENT_TIMEOUT"
        async with db.connection() as conn:  # the pool is whole again
            assert await conn.fetchval("SELECT 1") == 1
    finally:
        await db.close()
