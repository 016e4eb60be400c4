"""The change feed on Postgres LISTEN/NOTIFY: writers announce keys with pg_notify inside their
transaction (Postgres delivers it at commit, never for a rollback), and each replica listens on
one connection of its own, outside the pool. Not triggers: Citus refuses them on distributed
tables, while NOTIFY between coordinator sessions works there as here.

The listening connection is checked every `check_s` (a round trip on it); when it is closed or
does not answer, the sink is told the feed is lost, and reconnecting starts after `retry_s`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import asyncpg

from artimeta_server.domain.fresh import ChangeSink, Key, key_from_text, key_text

log = logging.getLogger(__name__)

CHANNEL = "artimeta_changes"
# pg_stat_activity shows the listener under this name and the server's process id.
APPLICATION_NAME = "artimeta-listen"


async def announce(conn: asyncpg.Connection, key: Key) -> None:
    """Tells every replica, when this transaction commits, that `key` changed."""
    await conn.execute("SELECT pg_notify('artimeta_changes', $1)", key_text(key))


class PostgresChangeFeed:
    def __init__(self, dsn: str, *, check_s: float = 1.0, retry_s: float = 0.5) -> None:
        self._dsn = dsn
        self._check_s = check_s
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self.connects = 0

    async def start(self, sink: ChangeSink) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(sink))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, sink: ChangeSink) -> None:
        while True:
            try:
                await self._listen(sink)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: flushed, retried
                log.warning("change feed lost: %s", exc)
            finally:
                sink.lost()
            await asyncio.sleep(self._retry_s)

    async def _listen(self, sink: ChangeSink) -> None:
        conn = await asyncpg.connect(
            self._dsn,
            timeout=max(self._check_s, 5.0),
            server_settings={"application_name": f"{APPLICATION_NAME}-{os.getpid()}"},
        )
        try:
            closed = asyncio.Event()

            def terminated(_c: Any) -> None:
                # At once, not when this coroutine next runs: a read served in between would
                # trust a cache that can no longer hear of changes.
                sink.lost()
                closed.set()

            conn.add_termination_listener(terminated)

            def notified(_c: Any, _pid: int, _channel: str, payload: str) -> None:
                try:
                    key = key_from_text(payload)
                except ValueError:
                    # Not a key this version writes: nothing can tell what it changed.
                    log.warning("unreadable change notification %r; flushing", payload[:200])
                    sink.lost()
                    sink.restored()
                    return
                sink.changed((key,))

            await conn.add_listener(CHANNEL, notified)
            self.connects += 1
            # Listening now: every commit from here on reaches `notified`.
            sink.restored()
            while not closed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), timeout=self._check_s)
                    break
                await conn.execute("SELECT 1", timeout=self._check_s)
            raise ConnectionError("the listening connection closed")
        finally:
            conn.terminate()
