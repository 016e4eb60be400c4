"""The one asyncpg pool, and the translation of driver failures into domain errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from artimeta_server import metrics, tracing
from artimeta_server.domain.errors import Aborted, NotFound, Unavailable

_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
)
_RETRYABLE: tuple[type[BaseException], ...] = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


async def _reset(conn: asyncpg.Connection) -> None:
    # Handlers change no session state, so the default RESET ALL round trip on every release
    # is pure cost; only a connection left inside a transaction needs the real reset.
    if conn.is_in_transaction():
        query = conn.get_reset_query()
        if query:
            await conn.execute(query)


def translate(exc: BaseException) -> BaseException:
    """The domain error a driver failure stands for, or the exception itself."""
    if isinstance(exc, _RETRYABLE):
        return Aborted(f"transaction conflict: {type(exc).__name__}; retry the call", reason="TRANSACTION_CONFLICT")
    if isinstance(exc, _UNREACHABLE) or (
        isinstance(exc, asyncpg.InterfaceError) and "connection" in str(exc) and "closed" in str(exc)
    ):
        return Unavailable("the database is unreachable", reason="DATABASE_UNAVAILABLE")
    if isinstance(exc, TimeoutError):
        return Unavailable("timed out waiting for a database connection", reason="DATABASE_UNAVAILABLE")
    if isinstance(exc, asyncpg.ForeignKeyViolationError) and 'table "namespaces"' in (exc.detail or ""):
        # A write raced the deletion of its namespace (resolved just before, gone by commit).
        return NotFound("the namespace was deleted", reason="NAMESPACE_NOT_FOUND")
    return exc


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

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            started = time.perf_counter()
            async with self.pool.acquire(timeout=self._acquire_timeout) as conn:
                metrics.DB_POOL_WAIT.observe(time.perf_counter() - started)
                with tracing.span("postgres"):
                    yield conn
        except BaseException as exc:
            mapped = translate(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

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
