"""Runs one seed system's adapter suite (tests/adapters/<system>/) in that system's own
virtualenv (.venvs/<system>, made by scripts/adapter-venv.sh), against a live server started by
the main test session. The suite sees the server through ARTIMETA_TARGET."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import adapter_python

ROOT = Path(__file__).resolve().parents[2]


def run_suite(system: str, target: str, *extra: str, files: tuple[str, ...] = (), timeout_s: float = 900) -> None:
    """Runs tests/adapters/<system>/ (or only `files` in it) in .venvs/<system>."""
    python = adapter_python(system)
    suite = ROOT / "tests" / "adapters" / system
    cmd = [
        python,
        "-m",
        "pytest",
        "-q",
        "-ra",
        "-p",
        "no:cacheprovider",
        "-c",
        str(suite / "pytest.ini"),
        "--rootdir",
        str(suite),
        "--confcutdir",
        str(suite),
        *extra,
        *([str(suite / f) for f in files] or [str(suite)]),
    ]
    env = {**os.environ, "ARTIMETA_TARGET": target, "PYTHONPATH": str(suite)}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
    sys.stdout.write(proc.stdout[-20000:])
    sys.stderr.write(proc.stderr[-5000:])
    assert proc.returncode == 0, f"{system} adapter suite failed (exit {proc.returncode}):\n{proc.stdout[-6000:]}"
