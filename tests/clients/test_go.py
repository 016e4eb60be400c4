"""The Go client's tests (client/go) against the live server, exchanging data with Python."""

from __future__ import annotations

import pytest

import artimeta
from tests.clients.conformance import exchange
from tests.clients.harness import ROOT, go_env, require, run


@pytest.mark.timeout(900)
async def test_go_client(target: str, aclient: artimeta.AsyncClient) -> None:
    go = require("go")
    async with exchange(aclient, "go") as ex:
        out = await run(
            [go, "test", "-count=1", "-v", "./..."], cwd=ROOT / "client" / "go", env={**go_env(), **ex.env(target)}
        )
    assert "--- SKIP" not in out, out
