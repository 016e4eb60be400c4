"""arti itself, in its own virtualenv, against the session's server through the adapter."""

from __future__ import annotations

import asyncio

from tests.adapters.runner import run_suite


async def test_arti_suite(target: str) -> None:
    # The suite runs in a thread so this session's event loop keeps serving it.
    await asyncio.to_thread(run_suite, "arti", target)
