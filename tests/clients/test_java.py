"""The Java client's tests (client/java, Maven) against the live server, exchanging data with Python."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import artimeta
from tests.clients.conformance import exchange
from tests.clients.harness import ROOT, require, run

JAVA = ROOT / "client" / "java"


@pytest.mark.timeout(1200)
async def test_java_client(target: str, aclient: artimeta.AsyncClient, tls_dir: Path | None) -> None:
    require("java")
    mvn = require("mvn")
    async with exchange(aclient, "java") as ex:
        await run(
            [mvn, "-B", "-q", "-Dstyle.color=never", "test"], cwd=JAVA, env=ex.env(target, tls_dir), timeout_s=1200
        )
    reports = list((JAVA / "target" / "surefire-reports").glob("TEST-*.xml"))
    ran = {p.name: re.search(r'tests="(\d+)"[^>]*skipped="(\d+)"', p.read_text()) for p in reports}
    # Every test ran (only the TLS one may skip, when openssl is missing).
    assert ran and all(m and int(m[1]) > 0 for m in ran.values()), ran
    assert sum(int(m[2]) for m in ran.values() if m) == (tls_dir is None), ran
