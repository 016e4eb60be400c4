"""The one asyncpg pool, and the translation of driver failures into domain errors."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import asyncpg

from artimeta_server import metrics, tracing
from artimeta_server.domain.errors import Aborted, DeadlineExceeded, NotFound, Unavailable
from artimeta_server.domain.reasons import Reason

# Postgres could not be reached, refused the session, or the session died: another attempt, on
# another connection, may succeed. PostgresConnectionError is SQLSTATE class 08 (its subclasses
# include ConnectionDoesNotExistError, a session closed in the middle of a statement).
_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)
# SQLSTATE class 40: the transaction lost to a concurrent one; running it again may succeed.
_CONFLICTS: tuple[type[BaseException], ...] = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)
# Citus relays a worker's error from a distributed COPY as XX000 (internal error), its SQLSTATE
# lost, keeping only the worker's message: for that class alone, these two are told by text. (A
# worker in another lc_messages language falls through to INTERNAL, as before.)
_RELAYED_DEADLOCK = "deadlock detected"
_RELAYED_UNIQUE = "duplicate key value violates unique constraint"


def _relayed(exc: BaseException, message: str) -> bool:
    return isinstance(exc, asyncpg.InternalServerError) and str(exc).startswith(message)


def is_unique_violation(exc: BaseException) -> bool:
    """A unique key refused a row, as Postgres says it, or as Citus relays it."""
    return isinstance(exc, asyncpg.UniqueViolationError) or _relayed(exc, _RELAYED_UNIQUE)


# The foreign keys from a table's namespace_id to namespaces(id), as Postgres names a column's
# REFERENCES clause (the composite keys to other tables are named after all their columns); on
# Citus a shard's key carries the shard id.
_NAMESPACE_KEY = re.compile(r"_namespace_id_fkey(_\d+)?$")
# Citus relays a worker's error without its constraint name: its detail names the placement of
# the referenced table instead, "namespaces_102009".
_NAMESPACES_TABLE = re.compile(r'table "namespaces(_\d+)?"')


def _names_namespaces(exc: asyncpg.ForeignKeyViolationError) -> bool:
    if exc.constraint_name:
        return _NAMESPACE_KEY.search(exc.constraint_name) is not None
    return _NAMESPACES_TABLE.search(exc.detail or "") is not None


async def _reset(conn: asyncpg.Connection) -> None:
    # Handlers change no session state, so the default RESET ALL round trip on every release
    # is pure cost; only a connection left inside a transaction needs the real reset.
    if conn.is_in_transaction():
        query = conn.get_reset_query()
        if query:
            await conn.execute(query)


def _usable(conn: asyncpg.Connection) -> bool:
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # a pool's proxy whose connection the pool took back
        return False


def translate(exc: BaseException) -> BaseException:
    """The domain error a driver failure stands for, or the exception itself. By class: asyncpg
    raises one class per SQLSTATE, and the messages are the server's, in its lc_messages."""
    if isinstance(exc, (TimeoutError, asyncpg.QueryCanceledError)):
        # A statement ran past the command timeout (asyncpg cancels it and raises TimeoutError)
        # or the server's statement_timeout; it would time out again if retried. Waiting for a
        # pool connection is told apart in Database._acquire. Tested before OSError below, of
        # which TimeoutError is a subclass.
        return DeadlineExceeded(
            "a database statement ran past the server's statement timeout", reason=Reason.STATEMENT_TIMEOUT
        )
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        # The connection reached a standby: the DSN lets it (no target_session_attrs=read-write),
        # or a Service still points there mid-failover. Transient once the standby is promoted.
        return Unavailable(
            "the database refused the write as read-only (a standby, or a failover in progress); retry the call",
            reason=Reason.DATABASE_READ_ONLY,
        )
    if isinstance(exc, _CONFLICTS) or _relayed(exc, _RELAYED_DEADLOCK):
        return Aborted(
            f"transaction conflict: {type(exc).__name__}; retry the call", reason=Reason.TRANSACTION_CONFLICT
        )
    if isinstance(exc, _UNREACHABLE):
        return _unreachable()
    if isinstance(exc, asyncpg.InternalClientError):
        # The driver's protocol state broke, e.g. a backend terminated (admin shutdown, failover)
        # between statements is used before the driver noticed: the statement was never run.
        return Unavailable("the database connection broke; retry the call", reason=Reason.DATABASE_UNAVAILABLE)
    if isinstance(exc, asyncpg.ForeignKeyViolationError) and _names_namespaces(exc):
        # A write raced the deletion of its namespace (resolved just before, gone by commit).
        return NotFound("the namespace was deleted", reason=Reason.NAMESPACE_NOT_FOUND)
    return exc


def translate_on(conn: asyncpg.Connection, exc: BaseException) -> BaseException:
    """translate(), knowing the connection the failure came from: an InterfaceError (the driver
    refusing a call, a class without SQLSTATE) on a connection that has closed means the session
    died under it; on an open one it is a misuse, and stays what it is."""
    if isinstance(exc, asyncpg.InterfaceError) and not _usable(conn):
        return _unreachable()
    return translate(exc)


def _unreachable() -> Unavailable:
    return Unavailable("the database is unreachable", reason=Reason.DATABASE_UNAVAILABLE)


@dataclass(slots=True)
class _Pinned:
    """The connection a task pinned (Database.pinned), and whether a unit of work's transaction is
    open on it. Only the task that pinned it joins it: tasks it spawns (a batcher's, a gather's)
    inherit the context variable but must not share one connection with it."""

    task: asyncio.Task[object] | None
    conn: asyncpg.Connection
    in_unit: bool = False


_pinned: ContextVar[_Pinned | None] = ContextVar("artimeta_pinned_connection", default=None)


def _joined() -> _Pinned | None:
    pin = _pinned.get()
    if pin is None or pin.task is not asyncio.current_task():
        return None
    return pin


@asynccontextmanager
async def _translated(conn: asyncpg.Connection) -> AsyncIterator[None]:
    try:
        yield
    except BaseException as exc:
        mapped = translate_on(conn, exc)
        if mapped is exc:
            raise
        raise mapped from exc


@contextlib.contextmanager
def _dropped_if_read_only(conn: asyncpg.Connection) -> Iterator[None]:
    """A connection that landed on a standby is closed, so the pool's next connect goes through
    the DSN again (and target_session_attrs, or the Service, finds the primary) instead of
    reusing it."""
    try:
        yield
    except asyncpg.ReadOnlySQLTransactionError:
        conn.terminate()
        raise


class Database:
    def __init__(
        self,
        dsn: str,
        *,
        min_size: int,
        max_size: int,
        acquire_timeout_s: float,
        statement_timeout_s: float,
    ) -> None:
        self._dsn = dsn
        self._min = min_size
        self._max = max_size
        self._acquire_timeout = acquire_timeout_s
        self._statement_timeout = statement_timeout_s
        self._pool: asyncpg.Pool | None = None
        # Connections kept out of the pool for serial hot reads (kept_connection); a quarter of
        # the pool at most, so the rest of the server never waits on them.
        self._kept: list[asyncpg.Connection] = []
        self._keep_max = min(2, max_size // 4)

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._min,
            max_size=self._max,
            reset=_reset,
            command_timeout=self._statement_timeout,
            server_settings={"application_name": "artimeta-server"},
        )

    async def close(self) -> None:
        kept, self._kept = self._kept, []
        for conn in kept:
            await self._give_back(conn)
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), timeout=5)
            except TimeoutError:
                self._pool.terminate()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    async def _acquire(self) -> asyncpg.Connection:
        try:
            conn: asyncpg.Connection = await self.pool.acquire(timeout=self._acquire_timeout)
        except TimeoutError:
            # The pool is exhausted: another attempt may find a free connection.
            raise Unavailable(
                "timed out waiting for a database connection", reason=Reason.DATABASE_UNAVAILABLE
            ) from None
        return conn

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        joined = _joined()
        if joined is not None:
            async with _translated(joined.conn):
                yield joined.conn
            return
        try:
            started = time.perf_counter()
            conn = await self._acquire()
            try:
                metrics.DB_POOL_WAIT.observe(time.perf_counter() - started)
                # Translated while the connection is still ours: whether it closed tells a dead
                # session from a misuse (translate_on).
                async with _translated(conn):
                    with tracing.span("postgres"), _dropped_if_read_only(conn):
                        yield conn
            finally:
                await self.pool.release(conn)
        except BaseException as exc:
            mapped = translate(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    @asynccontextmanager
    async def kept_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for a hot read path that runs one statement at a time (storage/batcher.py):
        it stays checked out between uses, since a pool checkout and release cost about as much
        CPU as the statement. Outside a transaction only. A failure hands the connection back to
        the pool, which replaces it if it broke."""
        joined = _joined()
        if joined is not None:
            async with _translated(joined.conn):
                yield joined.conn
            return
        conn = None
        while self._kept and conn is None:
            conn = self._kept.pop()
            if not _usable(conn):
                conn = None  # it broke while kept, and the pool has taken it back
        try:
            if conn is None:
                conn = await self._acquire()
            async with _translated(conn):
                with tracing.span("postgres"), _dropped_if_read_only(conn):
                    yield conn
        except BaseException as exc:
            if conn is not None:
                await self._give_back(conn)
            mapped = translate(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        reusable = _usable(conn) and not conn.is_in_transaction()
        if self._pool is not None and len(self._kept) < self._keep_max and reusable:
            self._kept.append(conn)
            return
        await self._give_back(conn)

    async def _give_back(self, conn: asyncpg.Connection) -> None:
        try:
            if self._pool is not None:
                await self._pool.release(conn)
                return
        except Exception:  # noqa: BLE001 - a connection the pool cannot take back is dropped below
            pass
        with contextlib.suppress(asyncpg.InterfaceError):  # the pool took it back already
            conn.terminate()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        joined = _joined()
        if joined is not None and joined.in_unit:  # part of a unit of work: its transaction is this one
            async with _translated(joined.conn):
                yield joined.conn
            return
        if joined is not None:
            async with _translated(joined.conn), joined.conn.transaction():
                yield joined.conn
            return
        async with self.connection() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def pinned(self) -> AsyncIterator[None]:
        """One connection for every connection(), transaction(), kept_connection() and
        unit_of_work() the calling task opens in the block: a read before a unit of work costs a
        round trip, not a second pool checkout."""
        if _joined() is not None:
            yield
            return
        async with self.connection() as conn:
            token = _pinned.set(_Pinned(asyncio.current_task(), conn))
            try:
                yield
            finally:
                _pinned.reset(token)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[None]:
        """One transaction that every connection(), transaction() and kept_connection() of the
        calling task joins until the block ends: repositories written for their own transactions
        commit together, or not at all (a request ledger row with the mutation it remembers)."""
        joined = _joined()
        if joined is not None and joined.in_unit:
            yield
            return
        if joined is None:
            async with self.pinned(), self.unit_of_work():
                yield
            return
        async with _translated(joined.conn), joined.conn.transaction():
            joined.in_unit = True
            try:
                yield
            finally:
                joined.in_unit = False

    def pool_stats(self) -> tuple[int, int, int]:
        """(open connections, lent out now, limit)."""
        pool = self._pool
        if pool is None:
            return 0, 0, self._max
        size = pool.get_size()
        return size, size - pool.get_idle_size(), pool.get_max_size()

    async def ping(self) -> None:
        async with self.connection() as conn:
            await conn.execute("SELECT 1")
