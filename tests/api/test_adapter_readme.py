"""The README's Python snippets are files under docs/snippets/, shown verbatim (as the Go,
TypeScript and Java quickstarts are), and each runs as written against the test server: only the
address a newcomer copies (127.0.0.1:50051) and the namespace (team-a) are replaced, by the
test server's and a namespace that does not exist yet. Each runs in its system's virtualenv."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

import artimeta
from tests.adapters.runner import ROOT
from tests.conftest import adapter_python, unique_name

README = (ROOT / "README.md").read_text()
SNIPPETS = ROOT / "docs" / "snippets"
ADDRESS, NAMESPACE = "127.0.0.1:50051", "team-a"

# snippet -> (virtualenv, text its output must contain); None: the main one.
RUNS: dict[str, tuple[str | None, str]] = {
    "client.py": (None, "NAMESPACE_NOT_FOUND"),
    "redun_scheduler.py": ("redun", "3"),
    "redun_values.py": ("redun", "16384"),
    "chariots.py": (None, "all_versions"),
    "arti_build.py": ("arti", ""),
    "arti_read.py": ("arti", "42"),
    "blobs_records.py": (None, "1048576 1048576"),
    "machinable_storage.py": ("machinable", "True\nhi"),
    "statisfactory_backend.py": (None, "b'weights'"),
    "access_declare.py": (None, ""),
}
# Snippets that run one after another in one folder on one namespace (a second process reads
# what the first wrote).
GROUPS = [["arti_build.py", "arti_read.py"]] + [
    [name] for name in RUNS if name not in {"arti_build.py", "arti_read.py"}
]
MARKED = re.compile(r"<!-- snippet: docs/snippets/(\S+) -->\n```python\n(.*?)```\n", flags=re.S)


def test_readme_shows_every_snippet_verbatim() -> None:
    blocks = MARKED.findall(README)
    assert sorted(name for name, _ in blocks) == sorted(RUNS)
    for name, code in blocks:
        assert code == (SNIPPETS / name).read_text(), f"README differs from docs/snippets/{name}: copy the file in"
    # Every Python block is one of them, or says why it cannot run here.
    for match in re.finditer(r"(<!--[^\n]*-->\n)?```python\n", README):
        marker = match.group(1) or ""
        assert marker.startswith(("<!-- snippet: ", "<!-- not run: ")), f"unmarked python block at {match.start()}"


def python_for(venv: str | None) -> str:
    if venv is None:
        return sys.executable
    return adapter_python(venv)


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: "+".join(g))
async def test_snippet_runs_as_written(
    group: list[str], target: str, aclient: artimeta.AsyncClient, tmp_path: Path
) -> None:
    namespace = unique_name("readme")
    try:
        for name in group:
            venv, expected = RUNS[name]
            source = (SNIPPETS / name).read_text()
            if ADDRESS in source:
                source = source.replace(ADDRESS, target)
            if NAMESPACE in source:
                source = source.replace(NAMESPACE, namespace)
            script = tmp_path / name
            script.write_text(source)
            proc = await asyncio.create_subprocess_exec(
                python_for(venv),
                str(script),
                cwd=tmp_path,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
            assert proc.returncode == 0, f"{name} failed:\n{err.decode()[-4000:]}"
            assert expected in out.decode(), f"{name} printed {out.decode()[-2000:]!r}"
    finally:
        await aclient.delete_namespace(namespace, allow_missing=True)
