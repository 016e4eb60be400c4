"""The TypeScript client's tests (client/typescript) against the live server, exchanging data with Python."""

from __future__ import annotations

from pathlib import Path

import pytest

import artimeta
from tests.clients.conformance import exchange
from tests.clients.harness import ROOT, ensure_node_modules, require, run


@pytest.mark.timeout(900)
async def test_typescript_client(target: str, aclient: artimeta.AsyncClient, tls_dir: Path | None) -> None:
    npm = require("npm")
    await ensure_node_modules(npm)
    async with exchange(aclient, "typescript") as ex:
        out = await run([npm, "test", "--silent"], cwd=ROOT / "client" / "typescript", env=ex.env(target, tls_dir))
    # Every test ran (only the TLS one may skip, when openssl is missing).
    assert f"# skipped {int(tls_dir is None)}" in out and "# fail 0" in out, out
