"""`python -m bench [name ...]`: runs bench/<name>.py (every module with a main() when no name is given)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")
    )
    status = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        runner = getattr(module, "main", None)
        if runner is None:
            continue
        status |= int(runner([]) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
