"""redun's own tests for tags, handles and scheduler caching (shipped in its package), run with
ArtimetaBackend as every Scheduler's default backend (redun_suite_plugin.py). Tests that read
redun's SQL database directly are skipped by the plugin, with the reason."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redun

HERE = Path(__file__).resolve().parent
REDUN_TESTS = Path(redun.__file__).resolve().parent / "tests"
SUITES = ["test_tags.py", "test_handle.py", "test_scheduler.py"]


@pytest.mark.parametrize("suite", SUITES)
def test_redun_suite_passes_on_artimeta(target: str, suite: str) -> None:
    env = {**os.environ, "ARTIMETA_TARGET": target, "PYTHONPATH": str(HERE)}
    proc = subprocess.run(
        # redun's tests live in site-packages under this repository: an empty config keeps the
        # repository's own pytest settings (plugins redun's environment lacks) out of their run.
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "redun_suite_plugin",
         "-c", os.devnull, "--rootdir", str(REDUN_TESTS.parents[1]), "--confcutdir", str(REDUN_TESTS.parents[1]),
         "--timeout=300", str(REDUN_TESTS / suite)],
        cwd=REDUN_TESTS.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    print(proc.stdout[-6000:])
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", summary)) else 0
    assert passed >= 5, summary
