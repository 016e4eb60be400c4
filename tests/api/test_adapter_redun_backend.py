"""redun's backend adapter, in redun's own virtualenv against the test run's server: real
workflows (replay in a second process, a leaf change), the backend contract, and redun's own
tests for tags, handles and scheduler caching with ArtimetaBackend substituted."""

from __future__ import annotations

import asyncio

from tests.adapters.runner import run_suite


async def test_redun_backend_adapter(target: str) -> None:
    await asyncio.to_thread(
        run_suite, "redun", target, files=("test_backend.py", "test_backend_redun_suite.py"), timeout_s=1500
    )
