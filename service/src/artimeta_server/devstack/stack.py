"""Postgres + S3 started together, with the ARTIMETA_* settings that point a server at them.

A state folder belongs to one running stack at a time (a lock held while it runs, released by
the kernel however the process ends). Its servers die with the process that started them; what
an earlier run still left running there (one that predates that, or a postmaster still shutting
down) is stopped before the new servers start on the same data, ports and credentials.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from artimeta_server.devstack import procs
from artimeta_server.devstack.postgres import PostgresServer
from artimeta_server.devstack.procs import free_port, port_free
from artimeta_server.devstack.s3 import MinioServer, S3Credentials, S3Server, SeaweedServer

S3_PROGRAMS = frozenset({"weed", "minio"})


class StackError(RuntimeError):
    """A state the local stack cannot start from, said in one line."""


@dataclass
class Stack:
    home: Path
    s3_kind: str = "seaweedfs"
    durable: bool = True
    postgres: PostgresServer | None = None
    s3: S3Server | None = None
    # What start() found left running by an earlier run and stopped, for the banner.
    stopped_leftovers: list[str] = field(default_factory=list)
    _lock_fd: int | None = field(default=None, init=False, repr=False)

    def _load_state(self) -> dict[str, object]:
        path = self.home / "stack.json"
        try:
            state = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            return {}
        return state if isinstance(state, dict) else {}

    def _save_state(self, state: dict[str, object]) -> None:
        path = self.home / "stack.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.home / "stack.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StackError(
                f"{self.home} is in use by another running stack (pid {holder}); stop that one first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _stop_leftover_s3(self) -> None:
        pids = procs.servers_in([self.home], S3_PROGRAMS)
        if pids:
            names = ", ".join(f"{Path(procs.cmdline(p)[0]).name} pid {p}" for p in pids if procs.cmdline(p))
            procs.stop_pids(dict.fromkeys(pids, signal.SIGTERM), grace_s=10)
            self.stopped_leftovers.append(names)

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        state = self._load_state()
        # A reused state folder keeps its ports and credentials while they are free, so data
        # written by an earlier `make run` is found again at the same addresses.
        creds_raw = state.get("s3_credentials")
        creds = S3Credentials(**creds_raw) if isinstance(creds_raw, dict) else S3Credentials.generate()
        self._stop_leftover_s3()
        recorded_pg = int(str(state.get("pg_port", 0)))
        self.postgres = PostgresServer(self.home / "postgres", recorded_pg or free_port(), durable=self.durable)
        leftover = self.postgres.stop_leftover()
        if leftover is not None:
            self.stopped_leftovers.append(f"postgres pid {leftover}")
        if not port_free(self.postgres.port):
            self.postgres.port = free_port()
        _started("postgres", self.postgres.log, self.postgres.start)
        s3_cls: type[SeaweedServer | MinioServer] = MinioServer if self.s3_kind == "minio" else SeaweedServer
        reuse = state.get("s3_ports") if state.get("s3_kind") == self.s3_kind else None
        self.s3 = s3_cls(self.home / self.s3_kind, creds, reuse=reuse if isinstance(reuse, dict) else None)
        _started(self.s3_kind, self.s3.log, self.s3.start)
        self._save_state(
            {
                "pg_port": self.postgres.port,
                "s3_kind": self.s3_kind,
                "s3_ports": self.s3.ports(),
                "s3_credentials": {"access_key": creds.access_key, "secret_key": creds.secret_key},
            }
        )

    def env(self, bucket: str = "artimeta") -> dict[str, str]:
        assert self.postgres is not None and self.s3 is not None
        return {
            "ARTIMETA_DATABASE_URL": self.postgres.dsn(),
            "ARTIMETA_S3_ENDPOINT": self.s3.endpoint,
            "ARTIMETA_S3_ACCESS_KEY": self.s3.creds.access_key,
            "ARTIMETA_S3_SECRET_KEY": self.s3.creds.secret_key,
            "ARTIMETA_S3_BUCKET": bucket,
            # A local stack on loopback: no TLS and no tokens, chosen here by name.
            "ARTIMETA_PLAINTEXT": "true",
            "ARTIMETA_AUTH": "disabled",
        }

    def stop(self) -> None:
        try:
            if self.s3 is not None:
                self.s3.stop()
            if self.postgres is not None:
                self.postgres.stop()
        finally:
            self._unlock()

    def remove(self) -> None:
        self.stop()
        if self.postgres is not None:
            self.postgres.remove()
        shutil.rmtree(self.home, ignore_errors=True)


def _started(what: str, log: Path, start: Callable[[], None]) -> None:
    """Runs a server's start(), turning a failure one can foresee into a one-line StackError."""
    try:
        start()
    except (TimeoutError, RuntimeError, subprocess.CalledProcessError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StackError(f"{what} did not start: {first} (its log: {log})") from exc
    except FileNotFoundError as exc:
        raise StackError(str(exc)) from exc
