"""redun's backend adapter folding a replay's writes: every job and call node written by the time
`scheduler.run` returns, in redun's own virtualenv against the test run's server."""

from __future__ import annotations

import asyncio

from tests.adapters.runner import run_suite


async def test_redun_replay_writes_land_before_run_returns(target: str) -> None:
    await asyncio.to_thread(run_suite, "redun", target, files=("test_backend_round_trips.py",), timeout_s=600)
