"""Per-shard throughput: the statements artimeta's hot RPCs run (a point read and a single-row
insert, both keyed by namespace_id first), on one plain Postgres and through a Citus coordinator
with two workers on this machine, over 1 and 8 connections. The plain numbers are the ceiling of
one node; the Citus ones show what routing to a shard adds. Skipped (with its reason) where the
Citus extension is not installed."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from artimeta_server.devstack.postgres import PostgresServer, find_bindir
from artimeta_server.devstack.procs import free_port

NAMESPACES = 64
ROWS_PER_NAMESPACE = 200
SECONDS = 3.0

SCHEMA = """
CREATE TABLE kv (namespace_id bigint NOT NULL, id bigint NOT NULL, v text NOT NULL,
                 PRIMARY KEY (namespace_id, id));
"""


def citus_installed() -> bool:
    return (find_bindir().parent / "lib" / "citus.so").exists()


@contextmanager
def node(home: Path, *, citus: bool) -> Iterator[PostgresServer]:
    options = ["-c shared_preload_libraries=citus"] if citus else []
    pg = PostgresServer(home, free_port(), durable=False, extra_options=options)
    try:
        pg.start()
        if citus:
            pg.psql("CREATE EXTENSION citus", database="artimeta")
        yield pg
    finally:
        pg.remove()


async def rate(dsn: str, sql: str, args: Callable[[int, int], tuple[int, int]], connections: int) -> float:
    """Statements per second over `connections` connections, each running them back to back."""
    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    counts = [0] * connections
    stop = time.perf_counter() + SECONDS

    async def run(i: int) -> None:
        stmt = await conns[i].prepare(sql)
        n = 0
        while time.perf_counter() < stop:
            ns, key = args(i, n)
            await stmt.fetch(ns, key)
            n += 1
        counts[i] = n

    try:
        started = time.perf_counter()
        await asyncio.gather(*(run(i) for i in range(connections)))
        return sum(counts) / (time.perf_counter() - started)
    finally:
        for c in conns:
            await c.close()


async def measure(dsn: str, prefix: str) -> dict[str, float]:
    out: dict[str, float] = {}
    read = "SELECT v FROM kv WHERE namespace_id = $1 AND id = $2"
    write = "INSERT INTO kv (namespace_id, id, v) VALUES ($1, $2, 'x') ON CONFLICT DO NOTHING"

    def point(i: int, n: int) -> tuple[int, int]:
        return (n * 7 + i) % NAMESPACES, n % ROWS_PER_NAMESPACE

    def fresh(i: int, n: int) -> tuple[int, int]:
        return (n + i) % NAMESPACES, 1_000_000 + i * 10_000_000 + n

    for conns in (1, 8):
        out[f"{prefix}_point_read_per_s_c{conns}"] = round(await rate(dsn, read, point, conns))
        out[f"{prefix}_insert_per_s_c{conns}"] = round(await rate(dsn, write, fresh, conns))
    return out


async def fill(dsn: str, *, distribute: bool) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
        if distribute:
            await conn.execute("SELECT create_distributed_table('kv', 'namespace_id')")
        await conn.copy_records_to_table(
            "kv",
            records=[(ns, i, "x") for ns in range(NAMESPACES) for i in range(ROWS_PER_NAMESPACE)],
            columns=["namespace_id", "id", "v"],
        )
    finally:
        await conn.close()


def main() -> dict[str, object]:
    result: dict[str, object] = {"namespaces": NAMESPACES, "seconds_per_point": SECONDS}
    with tempfile.TemporaryDirectory(prefix="artimeta-bench-shards-", dir="/tmp") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        with node(root / "plain", citus=False) as pg:
            asyncio.run(fill(pg.dsn(), distribute=False))
            result.update(asyncio.run(measure(pg.dsn(), "plain")))
        if not citus_installed():
            result["citus"] = "skipped: the citus extension is not installed for this Postgres"
            return result
        started = time.perf_counter()
        with (
            node(root / "coordinator", citus=True) as coord,
            node(root / "worker1", citus=True) as w1,
            node(root / "worker2", citus=True) as w2,
        ):
            coord.psql(f"SELECT citus_set_coordinator_host('127.0.0.1', {coord.port})", database="artimeta")
            for w in (w1, w2):
                coord.psql(f"SELECT citus_add_node('127.0.0.1', {w.port})", database="artimeta")
            result["citus_cluster_start_s"] = round(time.perf_counter() - started, 2)
            asyncio.run(fill(coord.dsn(), distribute=True))
            result["citus_shards"] = int(
                coord.psql("SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'kv'::regclass", "artimeta")
            )
            result.update(asyncio.run(measure(coord.dsn(), "citus")))
    return result
