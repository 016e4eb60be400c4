"""An artimeta-server in its own process, so that its resident memory is its own: the memory
plateau tests read it from /proc before and after an attack."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from artimeta_server.devstack.procs import free_port, terminate, wait_for
from artimeta_server.devstack.stack import Stack
from tests.conftest import unique_name


@dataclass(frozen=True)
class ServerProcess:
    proc: subprocess.Popen[bytes]
    target: str
    log: Path

    def rss_bytes(self) -> int:
        """Resident set size now (VmRSS), in bytes."""
        return self._status("VmRSS")

    def peak_rss_bytes(self) -> int:
        """The highest resident set size since the process started (VmHWM), in bytes."""
        return self._status("VmHWM")

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no {field} for pid {self.proc.pid}")


def _ready(target: str) -> bool:
    with grpc.insecure_channel(target) as ch:
        grpc.channel_ready_future(ch).result(timeout=1)
    return True


@contextmanager
def server_process(stack: Stack, venv_bin: Path, log_dir: Path, **settings: str) -> Iterator[ServerProcess]:
    """`artimeta-server serve` on a free loopback port of the test run's stack; `settings` are
    ARTIMETA_* variables without the prefix (e.g. auth="tokens")."""
    port = free_port()
    env = {**os.environ, **stack.env(), "ARTIMETA_LISTEN": f"127.0.0.1:{port}", "ARTIMETA_LOG_REQUESTS": "false"}
    env.update({f"ARTIMETA_{k.upper()}": v for k, v in settings.items()})
    log = log_dir / f"hostile-{unique_name()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(venv_bin / "artimeta-server"), "serve", "--migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        target = f"127.0.0.1:{port}"
        wait_for(lambda: _ready(target), timeout_s=60, what=f"server {target}", proc=proc, log=log)
        yield ServerProcess(proc, target, log)
    finally:
        terminate(proc, grace_s=10)


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
