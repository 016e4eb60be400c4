"""The per-system suites below run in their own virtualenvs (see runner.py), never in this session."""

from pathlib import Path

collect_ignore = [p.name for p in Path(__file__).parent.iterdir() if p.is_dir() and not p.name.startswith("__")]
