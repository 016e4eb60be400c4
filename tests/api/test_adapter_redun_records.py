"""redun's push/pull record format through ArtimetaBackend, in redun's own virtualenv against
the test run's server: SQLite -> artimeta -> a fresh SQLite repository, record for record, and
the pulled repository replays from its cache."""

from __future__ import annotations

import asyncio

from tests.adapters.runner import run_suite


async def test_redun_records_sync_with_sqlite_repositories(target: str) -> None:
    await asyncio.to_thread(run_suite, "redun", target, files=("test_records_sync.py",), timeout_s=600)
