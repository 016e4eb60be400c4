"""An in-process artimeta server for a fixture's lifetime: migrated, started on the settings'
ports, and stopped with a short grace even when the fixture's body fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from artimeta_server.config import Settings
from artimeta_server.server import Server


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Server]:
    srv = Server(settings)
    await srv.start(migrate_schema=True)
    try:
        yield srv
    finally:
        await srv.stop(0.5)
