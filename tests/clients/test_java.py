"""The Java client's tests (client/java, Maven) against the live server, exchanging data with Python."""

from __future__ import annotations

import re

import pytest

import artimeta
from tests.clients.conformance import exchange
from tests.clients.harness import ROOT, require, run

JAVA = ROOT / "client" / "java"


@pytest.mark.timeout(1200)
async def test_java_client(target: str, aclient: artimeta.AsyncClient) -> None:
    require("java")
    mvn = require("mvn")
    async with exchange(aclient, "java") as ex:
        await run([mvn, "-B", "-q", "-Dstyle.color=never", "test"], cwd=JAVA, env=ex.env(target), timeout_s=1200)
    reports = list((JAVA / "target" / "surefire-reports").glob("TEST-*.xml"))
    ran = {p.name: re.search(r'tests="(\d+)"[^>]*skipped="(\d+)"', p.read_text()) for p in reports}
    assert ran and all(m and m[2] == "0" and int(m[1]) > 0 for m in ran.values()), ran
