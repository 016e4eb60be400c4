"""redun runs made through ArtimetaBackend, as ListExecutions lists them (in redun's own
virtualenv against the test run's server)."""

from __future__ import annotations

import asyncio

from tests.adapters.runner import run_suite


async def test_redun_runs_are_listed(target: str) -> None:
    await asyncio.to_thread(run_suite, "redun", target, files=("test_backend_lists.py",), timeout_s=600)
