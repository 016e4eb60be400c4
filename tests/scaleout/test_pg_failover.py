"""A Postgres failover under write load: a primary with a synchronous streaming standby, the
server's DSN naming both hosts with target_session_attrs=read-write. The primary is SIGKILLed
(postmaster and backends at once) while writers run, the standby is promoted, and then: calls in
flight fail with UNAVAILABLE (which the retrying client absorbs), the server reconnects by
itself, and every write it acknowledged is on the new primary."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import artimeta
from artimeta.v1 import tags_pb2 as pb
from artimeta.v1 import tags_pb2_grpc
from artimeta_server.devstack.postgres import PG_USER, PostgresServer
from artimeta_server.devstack.procs import LOOPBACK, free_port, wait_for
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.conftest import settings_for, unique_name

WRITERS_RETRYING = 4
WRITERS_BARE = 2
BEFORE_KILL = 150  # acknowledged writes before the primary dies
AFTER_FAILOVER = 150  # and after it, through the new primary
DEADLINE_S = 90
# A failover manager takes a moment to notice a dead primary; every write in between must fail
# as UNAVAILABLE, never hang or turn INTERNAL.
DETECT_S = 1.0


@dataclass
class Pair:
    primary: PostgresServer
    standby: PostgresServer
    start_s: float

    def dsn(self, target_session_attrs: str) -> str:
        hosts = f"{LOOPBACK}:{self.primary.port},{LOOPBACK}:{self.standby.port}"
        return f"postgresql://{PG_USER}@{hosts}/artimeta?target_session_attrs={target_session_attrs}"


@pytest.fixture
def pair(tmp_root: Path) -> Iterator[Pair]:
    # durable=False turns fsync off, which a killed process cannot lose data to; it keeps
    # synchronous_commit on (FIELD-NOTES: off loses committed rows when a test kills the server).
    home = tmp_root / unique_name("ha")
    primary = PostgresServer(home / "primary", free_port(), durable=False)
    standby = PostgresServer(home / "standby", free_port(), durable=False, standby_of=primary)
    try:
        started = time.perf_counter()
        primary.start()
        standby.start()
        # Set after the base backup, so the standby does not inherit it: once promoted it has no
        # standby of its own to wait for.
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.psql("SELECT pg_reload_conf()")
        wait_for(
            lambda: primary.psql("SELECT sync_state FROM pg_stat_replication").strip() == "sync",
            timeout_s=30,
            what="a synchronous standby",
            log=primary.log,
        )
        yield Pair(primary, standby, time.perf_counter() - started)
    finally:
        standby.remove()
        primary.remove()


@pytest.fixture
async def ha_server(request: pytest.FixtureRequest, pair: Pair, stack: Stack) -> AsyncIterator[Server]:
    dsn = pair.dsn(request.param)
    srv = Server(
        settings_for(stack, database_url=dsn, db_acquire_timeout_s=2.0, janitor_interval_s=3600, db_pool_max=8)
    )
    try:
        await srv.start(migrate_schema=True)
        yield srv
    finally:
        await srv.stop(0)


@dataclass
class Load:
    namespace: str
    acked: dict[str, tuple[float, float]] = field(default_factory=dict)  # entity -> (sent, acked)
    unavailable: Counter[tuple[str, str]] = field(default_factory=Counter)  # (client, reason)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, client: artimeta.AsyncClient, kind: str, count: int) -> None:
        self.tasks += [asyncio.create_task(self.writer(client, kind, i)) for i in range(count)]

    async def writer(self, client: artimeta.AsyncClient, kind: str, wid: int) -> None:
        stub = client.stub(tags_pb2_grpc.TagServiceStub)
        i = 0
        while not self.stop.is_set():
            entity = f"{kind}{wid}-{i}"
            i += 1
            req = pb.RecordTagsRequest(
                namespace=self.namespace,
                entity_type=pb.TAG_ENTITY_TYPE_JOB,
                entity_id=entity,
                tags=[pb.TagKeyValue(key="n", value_json=json.dumps(i))],
            )
            sent = time.monotonic()
            try:
                await client.call(stub.RecordTags, req)
            except artimeta.Unavailable as err:
                # Not acknowledged, so the writer may not count on it; anything but UNAVAILABLE
                # fails the test.
                self.unavailable[(kind, err.reason)] += 1
                await asyncio.sleep(0.02)
                continue
            self.acked[entity] = (sent, time.monotonic())

    async def until(self, count: int, deadline: float) -> None:
        while len(self.acked) < count:
            for task in self.tasks:
                if task.done():
                    task.result()  # a writer died: its error is the test's
            assert time.monotonic() < deadline, f"only {len(self.acked)} of {count} writes acknowledged in time"
            await asyncio.sleep(0.02)


# read-write: the server only ever connects to the primary. any: while the primary is dead the
# server reaches the standby, where writes are refused as read-only, as they are through a
# Service whose endpoint has not moved yet; that too must read as UNAVAILABLE.
@pytest.mark.parametrize("ha_server", ["read-write", "any"], indirect=True)
async def test_primary_killed_mid_write_then_standby_promoted(pair: Pair, ha_server: Server) -> None:
    target = f"127.0.0.1:{ha_server.port}"
    deadline = time.monotonic() + DEADLINE_S
    async with (
        artimeta.AsyncClient(target, timeout=15) as retrying,
        artimeta.AsyncClient(target, retry=None, timeout=15) as bare,
    ):
        load = Load(unique_name())
        await retrying.create_namespace(load.namespace)
        load.start(retrying, "r", WRITERS_RETRYING)
        load.start(bare, "b", WRITERS_BARE)
        try:
            await load.until(BEFORE_KILL, deadline)
            killed_at = time.monotonic()
            pair.primary.crash()
            acked_at_kill = len(load.acked)
            await asyncio.sleep(DETECT_S)
            await asyncio.to_thread(pair.standby.promote)
            promoted_at = time.monotonic()
            await load.until(acked_at_kill + AFTER_FAILOVER, deadline)
        finally:
            load.stop.set()
            await asyncio.gather(*load.tasks, return_exceptions=False)

    assert not pair.standby.in_recovery()
    # Every acknowledged write is on the new primary, read there directly.
    rows = pair.standby.psql(
        "SELECT t.entity_id FROM tags t JOIN namespaces n ON n.id = t.namespace_id "
        f"WHERE n.name = '{load.namespace}' AND t.key = 'n'",
        database="artimeta",
    ).split()
    lost = set(load.acked) - set(rows)
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {sorted(lost)[:5]}"
    # The client without retries saw the failover as UNAVAILABLE (never INTERNAL or a hang).
    bare_unavailable = sum(n for (kind, _), n in load.unavailable.items() if kind == "b")
    assert bare_unavailable > 0
    assert {reason for _, reason in load.unavailable} <= {"DATABASE_UNAVAILABLE", "DATABASE_READ_ONLY"}
    first_after = min(acked for sent, acked in load.acked.values() if sent > killed_at)
    print(
        json.dumps(
            {
                "pair_start_s": round(pair.start_s, 2),
                "acknowledged": len(load.acked),
                "acknowledged_before_kill": acked_at_kill,
                "rows_on_new_primary": len(rows),
                "lost": len(lost),
                "unavailable": {f"{k}:{r}": n for (k, r), n in load.unavailable.items()},
                "dsn_target_session_attrs": ha_server.settings.database_url.rpartition("=")[2],
                "detect_s": DETECT_S,
                "promoted_s": round(promoted_at - killed_at, 3),
                "serving_again_s": round(first_after - killed_at, 3),
            }
        )
    )
