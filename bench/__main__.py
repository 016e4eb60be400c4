"""`python -m bench [name ...]`: runs bench/<name>.py (every benchmark module by default); each
prints its JSON and the runner also writes it to bench/results/<name>.json."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    names = argv or sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        report = module.main()
        text = json.dumps(report, indent=2, sort_keys=True)
        print(text, flush=True)
        (results / f"{name}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
