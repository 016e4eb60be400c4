"""The Go client's tests (client/go) against the live server, exchanging data with Python."""

from __future__ import annotations

from pathlib import Path

import pytest

import artimeta
from tests.clients.conformance import exchange
from tests.clients.harness import ROOT, go_env, require, run
from tests.faultproxy import FaultProxy


@pytest.mark.timeout(900)
async def test_go_client(target: str, aclient: artimeta.AsyncClient, tls_dir: Path | None) -> None:
    go = require("go")
    gofmt = await run([str(Path(go).with_name("gofmt")), "-l", "."], cwd=ROOT / "client" / "go")
    assert gofmt.strip() == "", f"not gofmt-formatted: {gofmt}"
    await run([go, "vet", "./..."], cwd=ROOT / "client" / "go", env=go_env())
    with FaultProxy(target) as proxy:
        proxy.drop_every_other_reply()  # only TestRetriesThroughLostReplies calls through it
        async with exchange(aclient, "go") as ex:
            out = await run(
                [go, "test", "-count=1", "-v", "./..."],
                cwd=ROOT / "client" / "go",
                env={**go_env(), **ex.env(target, tls_dir), "ARTIMETA_FAULT_TARGET": proxy.target},
            )
    # Every test ran (only the TLS one may skip, when openssl is missing).
    assert out.count("--- SKIP") == (tls_dir is None), out
    assert "--- PASS: TestRetriesThroughLostReplies" in out and "--- PASS: TestRetryClassesMatchTheTable" in out
    assert proxy.dropped >= 4, f"the proxy lost {proxy.dropped} replies"  # create, record, history, delete
