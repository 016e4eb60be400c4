"""Server CPU per RPC, the unit that stays comparable when the load generator shares the cores,
and the pinned mode (`python -m bench --pin ...`): servers on CPU 0, load generators on CPU 1,
the stack (Postgres, S3) unpinned.

A process's CPU time is read from /proc/<pid>/stat (user + system, every thread of it), at the
start and the end of a measured window."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

SERVER_CPUS = {0}
LOAD_CPUS = {1}
_TICK = os.sysconf("SC_CLK_TCK")


def pinned() -> bool:
    return os.environ.get("BENCH_PIN") == "1"


def _own_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def cpu_s(pid: int) -> float:
    """CPU seconds `pid` and its live child processes (`serve --workers`) have used so far."""
    return _own_s(pid) + sum(_own_s(c) for c in _children(pid))


def us_per_call(cpu_seconds: float, calls: int) -> float:
    return round(cpu_seconds * 1e6 / calls, 1) if calls else 0.0


def server_preexec() -> Callable[[], None] | None:
    """For Popen(preexec_fn=...): a server process starts on SERVER_CPUS in the pinned mode."""
    if not pinned():
        return None
    return lambda: os.sched_setaffinity(0, SERVER_CPUS)


def load_preexec() -> Callable[[], None] | None:
    """For Popen(preexec_fn=...): a load generator process starts on LOAD_CPUS in the pinned mode."""
    if not pinned():
        return None
    return lambda: os.sched_setaffinity(0, LOAD_CPUS)


def window_cpu_s(samples: list[tuple[float, float]], seconds: float, eps_s: float = 0.02) -> float:
    """Server CPU seconds in the last `seconds` of its activity, from (time, cpu_s) samples taken
    while an external load generator ran: its measured window ends where the server's CPU stops
    rising (the generator stopped calling) and began `seconds` before. For generators that report
    only their own counts (Go, Java)."""
    if len(samples) < 2:
        return 0.0
    final = samples[-1][1]
    end_t, end_c = next((t, c) for t, c in samples if c >= final - eps_s)
    start_t = end_t - seconds
    start_c = samples[0][1]
    for (t0, c0), (t1, c1) in itertools.pairwise(samples):
        if t0 <= start_t <= t1:
            start_c = c0 + (c1 - c0) * ((start_t - t0) / (t1 - t0) if t1 > t0 else 0.0)
            break
    return max(0.0, end_c - start_c)


def pin_load() -> None:
    """The calling thread (a load generator) moves to LOAD_CPUS in the pinned mode. Call it once
    the stack is up: what starts afterwards from this thread inherits the affinity."""
    if pinned() and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, LOAD_CPUS)


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "loadavg": os.getloadavg(), "pinned": pinned()}
