"""The README's client quickstarts are the files the suites run, and its grpcurl example works."""

from __future__ import annotations

import re
import shlex

import pytest

import artimeta
from tests.clients.harness import ROOT, run

README = (ROOT / "README.md").read_text()


def test_quickstarts_are_the_files_the_suites_run() -> None:
    blocks = re.findall(r"<!-- quickstart: (\S+) -->\n```\w+\n(.*?)```\n", README, flags=re.S)
    assert {path for path, _ in blocks} == {
        "client/go/examples/quickstart/main.go",
        "client/typescript/examples/quickstart.ts",
        "client/java/src/test/java/dev/artimeta/examples/Quickstart.java",
    }
    for path, code in blocks:
        assert code == (ROOT / path).read_text(), f"README's quickstart differs from {path}: copy the file into README"


async def test_grpcurl_example(target: str, aclient: artimeta.AsyncClient) -> None:
    block = re.search(r"<!-- grpcurl: [^>]*-->\n```sh\n(.*?)```\n", README, flags=re.S)
    assert block is not None
    grpcurl = ROOT / ".venv" / "bin" / "grpcurl"
    if not grpcurl.exists():
        pytest.skip("grpcurl is not installed in .venv")
    commands = block[1].replace("\\\n", " ").replace("127.0.0.1:50051", target).strip().splitlines()
    name = f"demo-{target.rsplit(':', 1)[1]}"
    outputs = []
    try:
        for line in commands:
            argv = [
                str(grpcurl) if a == ".venv/bin/grpcurl" else a
                for a in shlex.split(line.replace('"demo"', f'"{name}"'))
            ]
            outputs.append(await run(argv, cwd=ROOT, timeout_s=60))
    finally:
        await aclient.delete_namespace(name, allow_missing=True)
    assert "artimeta.v1.NamespaceService" in outputs[0]
    assert "rpc GetNamespace" in outputs[1]
    assert '"SERVING"' in outputs[2]
    assert f'"name": "{name}"' in outputs[-1]
