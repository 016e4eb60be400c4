"""machinable's storage on artimeta, run in machinable's own virtualenv against the session's server."""

from __future__ import annotations

import asyncio

from tests.adapters.runner import run_suite


async def test_machinable_storage(target: str) -> None:
    # The in-process server serves on this event loop: the suite runs in a thread meanwhile.
    await asyncio.to_thread(run_suite, "machinable", target, files=("test_storage.py",))
