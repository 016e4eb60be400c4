"""Runs another language's client test suite against the live test server.

The server is served by the session's event loop, so the suite runs as an asyncio subprocess (a
blocking subprocess call would stall the very server it talks to). A language whose toolchain is
missing is skipped with the reason shown; a failing suite fails the test with its output.

Every suite shares one contract with Python (conformance.py): it reads the namespace named by
ARTIMETA_PY_NAMESPACE and checks its contents, and writes ARTIMETA_WRITE_PREFIX for Python to read.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("ARTIMETA_CACHE", Path.home() / ".cache" / "artimeta"))


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not found on PATH: this language's client tests are skipped")
    return path


def go_env() -> dict[str, str]:
    """Go's module and build caches live outside the clone, shared with the other Go builds."""
    return {
        "GOPATH": str(CACHE / "go" / "path"),
        "GOMODCACHE": str(CACHE / "go" / "mod"),
        "GOCACHE": str(CACHE / "go" / "build"),
        "GOFLAGS": "-modcacherw",
    }


async def run(cmd: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout_s: float = 900) -> str:
    """Runs cmd, failing the test with its output unless it exits 0; returns its output."""
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"{' '.join(cmd)} timed out after {timeout_s:.0f} s")
    text = out.decode(errors="replace")
    sys.stdout.write(text[-20000:])
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} (in {cwd.relative_to(ROOT)}) exited {proc.returncode}:\n{text[-8000:]}")
    return text


async def ensure_node_modules(npm: str) -> None:
    """`npm ci` when node_modules is missing or older than the lockfile (npm's cache is in ~/.npm)."""
    pkg = ROOT / "client" / "typescript"
    digest = hashlib.sha256((pkg / "package-lock.json").read_bytes()).hexdigest()[:16]
    stamp = pkg / "node_modules" / f".artimeta-{digest}"
    if stamp.exists():
        return
    await run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=pkg)
    stamp.touch()
