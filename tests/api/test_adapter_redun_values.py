"""redun's value store on artimeta, run in redun's own virtualenv against the session's server."""

from __future__ import annotations

import asyncio

from tests.adapters.runner import run_suite


async def test_redun_value_store(target: str) -> None:
    # The in-process server serves on this event loop: the suite runs in a thread meanwhile.
    await asyncio.to_thread(run_suite, "redun", target, files=("test_value_store.py",))
