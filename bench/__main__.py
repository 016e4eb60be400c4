"""`python -m bench [--pin] [name ...]`: runs the benchmark modules of this package (each has
`main()` returning a JSON-able dict), prints their JSON and writes it under bench/results/.
`--pin` puts servers on CPU 0 and load generators on CPU 1 (bench/cpu.py)."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"__main__", "ceilings", "closed_loop", "load", "harness", "cpu"}


def available() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name not in NOT_BENCHMARKS and not m.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    if "--pin" in argv:
        argv = [a for a in argv if a != "--pin"]
        if len(os.sched_getaffinity(0)) < 2:
            print("--pin needs two CPUs", file=sys.stderr)
            return 2
        os.environ["BENCH_PIN"] = "1"  # read by bench/cpu.py here and in load generator processes
    names = argv or available()
    unknown = set(names) - set(available())
    if unknown:
        print(f"unknown benchmarks {sorted(unknown)}; available: {available()}", file=sys.stderr)
        return 2
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started = time.time()
        result = module.main()
        result = {"benchmark": name, "started": started, "seconds": round(time.time() - started, 1), **result}
        text = json.dumps(result, indent=2)
        print(text, flush=True)
        (out_dir / f"{name}.json").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
