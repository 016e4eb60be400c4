"""`make run` as a user meets it: the devstack command as a process on a state folder of its own,
killed outright and run again. Nothing of a killed run may be left running, and the next run
serves what the first one stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import artimeta
from artimeta.blobs import Blobs, Digest
from artimeta_server.devstack import procs
from artimeta_server.devstack.procs import free_port, wait_for
from tests.conftest import unique_name

SERVER_PROGRAMS = frozenset({"postgres", "postmaster", "weed", "minio"})


def _start_time(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return raw[raw.rfind(")") + 2 :].split()[19]


def _tree(pid: int) -> dict[int, str]:
    """The process and all its descendants, each with its start time (a pid may be reused)."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        started = _start_time(p)
        if started is not None:
            found[p] = started
            todo += procs.children(p)
    return found


def _still_running(tree: dict[int, str]) -> list[int]:
    return [p for p, started in tree.items() if procs.alive(p) and _start_time(p) == started]


def _servers_on(state: Path) -> list[int]:
    """Postgres and S3 processes that name the state folder, with a postmaster's backends."""
    named = procs.servers_in([state], SERVER_PROGRAMS)
    return sorted({p for n in named for p in _tree(n)})


def _ready(target: str) -> bool:
    with grpc.insecure_channel(target) as ch:
        grpc.channel_ready_future(ch).result(timeout=1)
    return True


class Runs:
    """Starts devstack runs on one state folder; kills whatever is left of them at the end."""

    def __init__(self, state: Path, log_dir: Path) -> None:
        self.state = state
        self.log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *, port: int | None = None) -> tuple[subprocess.Popen[bytes], str, Path]:
        port = port or free_port()
        log = self.log_dir / f"devstack-{unique_name()}.log"
        env = {
            **os.environ,
            "ARTIMETA_LISTEN": f"127.0.0.1:{port}",
            "ARTIMETA_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
            "ARTIMETA_SHUTDOWN_GRACE_S": "1",
        }
        env.pop("MAKELEVEL", None)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "artimeta_server.devstack", "run", "--state", str(self.state)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(proc)
        target = f"127.0.0.1:{port}"
        wait_for(lambda: _ready(target), timeout_s=120, what="make run", proc=proc, log=log)
        return proc, target, log

    def cleanup(self) -> None:
        for proc in self.started:
            procs.kill(proc)
        left = _servers_on(self.state)
        if left:
            procs.stop_pids(dict.fromkeys(left, signal.SIGKILL), grace_s=5)


@pytest.fixture
def runs(tmp_root: Path) -> Iterator[Runs]:
    # Under tmp_root (world-traversable) so that, as root, Postgres keeps its files in the folder.
    state = tmp_root / unique_name("devstack")
    r = Runs(state, tmp_root)
    try:
        yield r
    finally:
        r.cleanup()


def _write(target: str) -> tuple[str, Digest]:
    name = unique_name()
    with artimeta.Client(target, timeout=30) as c:
        c.create_namespace(name)
        digest = Blobs(c, name).put_bytes(b"kept across runs " * 1000)
    return name, digest


def _read(target: str, name: str, digest: Digest) -> bytes:
    with artimeta.Client(target, timeout=30) as c:
        assert c.get_namespace(name).name == name
        return Blobs(c, name).get_bytes(digest)


def _gone_within(tree: dict[int, str], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while _still_running(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _still_running(tree)


def test_sigkill_leaves_nothing_running_and_the_next_run_serves_the_same_data(runs: Runs) -> None:
    first, target, _ = runs.start()
    name, digest = _write(target)
    # Everything of this run: its own descendants and every server working on its folder.
    tree = _tree(first.pid) | {p: started for p in _servers_on(runs.state) if (started := _start_time(p)) is not None}
    assert len(procs.servers_in([runs.state], SERVER_PROGRAMS)) == 2, "a postmaster and an S3 server"

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert _gone_within(tree, 60) == [], "processes of the killed run still running"
    assert _servers_on(runs.state) == []

    second, target, _ = runs.start()
    assert _read(target, name, digest) == b"kept across runs " * 1000
    tree = _tree(second.pid)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=60) == 0
    assert _gone_within(tree, 30) == []
    assert _servers_on(runs.state) == []


# An earlier run whose servers were not bound to it (as pg_ctl's daemon and a detached S3 server
# were): the same stack code, with the parent-death signal switched off, exits and leaves them.
_ABANDON = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from artimeta_server import lifetime
    lifetime.set_parent_death_signal = lambda signum: True
    from artimeta_server.devstack.stack import Stack
    Stack(Path(sys.argv[1])).start()
    os._exit(0)
    """
)


def test_a_run_stops_what_an_earlier_run_left_behind_and_serves_its_data(runs: Runs) -> None:
    first, target, _ = runs.start()
    name, digest = _write(target)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0
    assert _servers_on(runs.state) == []

    subprocess.run([sys.executable, "-c", _ABANDON, str(runs.state)], check=True, timeout=120)
    abandoned = {p: started for p in _servers_on(runs.state) if (started := _start_time(p)) is not None}
    assert len(procs.servers_in([runs.state], SERVER_PROGRAMS)) == 2, "the abandoned postgres and S3 server"

    _, target, log = runs.start()
    assert _read(target, name, digest) == b"kept across runs " * 1000
    assert _still_running(abandoned) == []
    assert "stopped what an earlier run left running there" in log.read_text()
    assert len(procs.servers_in([runs.state], SERVER_PROGRAMS)) == 2, "only this run's postgres and S3 server"


def test_a_state_folder_in_use_is_refused_in_one_line(runs: Runs, tmp_root: Path) -> None:
    first, _, _ = runs.start()
    env = {**os.environ, "ARTIMETA_LISTEN": f"127.0.0.1:{free_port()}", "ARTIMETA_HTTP_LISTEN": ""}
    out = subprocess.run(
        [sys.executable, "-m", "artimeta_server.devstack", "run", "--state", str(runs.state)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert f"in use by another running stack (pid {first.pid})" in out.stderr
    assert first.poll() is None


def test_a_taken_server_port_is_refused_before_anything_starts(runs: Runs, tmp_root: Path) -> None:
    _, target, _ = runs.start()
    port = int(target.rpartition(":")[2])
    other = tmp_root / unique_name("devstack")
    env = {**os.environ, "ARTIMETA_LISTEN": target, "ARTIMETA_HTTP_LISTEN": ""}
    try:
        out = subprocess.run(
            [sys.executable, "-m", "artimeta_server.devstack", "run", "--state", str(other)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        started = _servers_on(other)
        Runs(other, tmp_root).cleanup()
    assert out.returncode == 4
    assert "Traceback" not in out.stderr
    assert f"gRPC port {port} " in out.stderr
    assert started == [], "nothing of the stack starts for a server that cannot serve"
