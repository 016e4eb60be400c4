"""Citus from the vendored source, and a coordinator with workers on loopback.

No package registry here serves Citus, so it is built from the upstream tarball the project
vendors beside the clone (`../shared/vendor/citus-<version>.tar.gz`, checked against the sha256
below). `make install` would write into the server's own folders (PostgreSQL 15 has no
extension_control_path), so the build installs into a staging folder instead and the installed
files are cached as a tarball keyed by Citus version and `pg_config --version`; a machine that
lacks the extension unpacks that tarball into / (root only).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from artimeta_server.devstack.postgres import PostgresServer, find_bindir
from artimeta_server.devstack.procs import LOOPBACK, free_port

VERSION = "13.2.2"
SHA256 = "8d68dad599e01d98f3aa36a736a3567576492665be5aacdb86ac5dfb10f6b256"
# Debian package names of what the build needs beyond a compiler: the server headers (pinned
# to the installed server's version by .ci/run) and the libraries Citus links.
APT_PACKAGES = ("postgresql-server-dev-15", "libkrb5-dev", "liblz4-dev", "libzstd-dev")


class Unavailable(RuntimeError):
    """Citus cannot be had on this machine; the message says why (a test layer skips with it)."""


def cache_root() -> Path:
    return Path(os.environ.get("ARTIMETA_CACHE", Path.home() / ".cache" / "artimeta"))


def pg_config() -> Path:
    return find_bindir() / "pg_config"


def _pg_config(flag: str) -> str:
    out = subprocess.run([str(pg_config()), flag], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def cached_tarball() -> Path:
    pg_version = re.sub(r"[^A-Za-z0-9.]+", "-", _pg_config("--version")).strip("-")
    return cache_root() / f"citus-{VERSION}-{pg_version}.tar.gz"


def installed() -> bool:
    return (Path(_pg_config("--sharedir")) / "extension" / "citus.control").exists() and (
        Path(_pg_config("--pkglibdir")) / "citus.so"
    ).exists()


def find_source(start: Path) -> Path | None:
    """The vendored tarball: $ARTIMETA_CITUS_SOURCE, else `shared/vendor/` beside the clone or
    beside one of its parent folders (a worktree sits one level deeper than a clone)."""
    explicit = os.environ.get("ARTIMETA_CITUS_SOURCE")
    if explicit:
        return Path(explicit) if Path(explicit).exists() else None
    for folder in [start, *start.parents]:
        candidate = folder.parent / "shared" / "vendor" / f"citus-{VERSION}.tar.gz"
        if candidate.exists():
            return candidate
    return None


def verify(source: Path) -> None:
    digest = hashlib.sha256()
    with source.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != SHA256:
        raise Unavailable(f"{source} has sha256 {digest.hexdigest()}, expected {SHA256}")


def _missing_build_tools() -> list[str]:
    missing = [tool for tool in ("cc", "make") if shutil.which(tool) is None]
    server_headers = Path(_pg_config("--includedir-server"))
    if not (server_headers / "postgres.h").exists():
        missing.append(f"PostgreSQL server headers ({APT_PACKAGES[0]})")
    for header, package in (("gssapi/gssapi.h", "libkrb5-dev"), ("lz4.h", "liblz4-dev"), ("zstd.h", "libzstd-dev")):
        if not (Path("/usr/include") / header).exists():
            missing.append(f"{header} ({package})")
    return missing


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialises builds and installs across concurrent test runs on one machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build(source: Path, dest: Path, *, jobs: int = 2) -> float:
    """Builds Citus from `source` and writes the installed files as a tarball at `dest`;
    returns the seconds it took."""
    verify(source)
    missing = _missing_build_tools()
    if missing:
        raise Unavailable("cannot build Citus, missing: " + ", ".join(missing))
    started = time.monotonic()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="citus-build-", dir=dest.parent) as tmp:
        work = Path(tmp)
        with tarfile.open(source) as tar:
            tar.extractall(work, filter="data")
        tree = next(p for p in work.iterdir() if p.is_dir())
        stage = work / "stage"
        env = {**os.environ, "PG_CONFIG": str(pg_config())}
        log = work / "build.log"

        def run(*cmd: str) -> None:
            with log.open("a") as out:
                done = subprocess.run(cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n" + "\n".join(log.read_text().splitlines()[-30:]))

        # libcurl only serves Citus's anonymous usage statistics; LLVM bitcode only JIT inlining.
        run("./configure", "--without-libcurl")
        run("make", f"-j{jobs}", "with_llvm=no")
        run("make", "install", "with_llvm=no", f"DESTDIR={stage}")
        for lib in stage.rglob("*.so"):
            subprocess.run(["strip", "--strip-debug", str(lib)], check=False, capture_output=True)
        partial = dest.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as tar:
            for entry in sorted(stage.iterdir()):
                tar.add(entry, arcname=entry.name)
        partial.replace(dest)
    return time.monotonic() - started


@dataclass
class Installation:
    tarball: Path
    built_s: float | None = None  # set when this call built it
    unpacked: bool = False


def ensure_installed(repo: Path) -> Installation:
    """Citus's files where the server finds them: built (once per version and server) and
    unpacked into / as needed. Raises Unavailable with the reason when that is not possible."""
    try:
        tarball = cached_tarball()
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        raise Unavailable(f"no pg_config: {exc}") from exc
    with _locked(cache_root() / "citus.lock"):
        result = Installation(tarball)
        if installed():
            return result
        if not tarball.exists():
            source = find_source(repo)
            if source is None:
                raise Unavailable(f"no Citus source: shared/vendor/citus-{VERSION}.tar.gz beside {repo} or its parents")
            result.built_s = build(source, tarball)
        if os.geteuid() != 0:
            raise Unavailable(f"Citus is built ({tarball}) but not installed, and only root can unpack it into /")
        with tarfile.open(tarball) as tar:
            tar.extractall("/", filter="tar")
        result.unpacked = True
        if not installed():
            raise Unavailable(f"{tarball} unpacked but Citus is still missing under {_pg_config('--pkglibdir')}")
        return result


@dataclass
class CitusCluster:
    """A coordinator and `workers` workers on loopback, each a throwaway Postgres with Citus."""

    home: Path
    workers: int = 2
    shard_count: int = 32
    nodes: list[PostgresServer] = field(default_factory=list)

    @property
    def coordinator(self) -> PostgresServer:
        return self.nodes[0]

    def start(self) -> None:
        options = [
            "-c shared_preload_libraries=citus",
            "-c shared_buffers=64MB",
            # Session SETs (statement or lock timeouts) stay on the coordinator unless SET LOCAL
            # inside a transaction; this carries those to the workers' connections.
            "-c citus.propagate_set_commands=local",
            f"-c citus.shard_count={self.shard_count}",
            "-c max_prepared_transactions=100",
        ]
        try:
            for i in range(self.workers + 1):
                node = PostgresServer(
                    self.home / f"node{i}", free_port(), durable=False, max_connections=300, extra_options=options
                )
                self.nodes.append(node)
                node.start()
            self._join("artimeta")
        except BaseException:
            self.remove()
            raise

    def _join(self, database: str) -> None:
        """Citus in `database` on every node, and the workers added to its coordinator."""
        for node in self.nodes:
            node.psql("CREATE EXTENSION IF NOT EXISTS citus", database=database)
        self.coordinator.psql(
            f"SELECT citus_set_coordinator_host('{LOOPBACK}', {self.coordinator.port})", database=database
        )
        for worker in self.nodes[1:]:
            self.coordinator.psql(f"SELECT citus_add_node('{LOOPBACK}', {worker.port})", database=database)

    def create_database(self, name: str) -> str:
        """A new empty database spread over the cluster; returns its coordinator DSN."""
        for node in self.nodes:
            node.psql(f"CREATE DATABASE {name}")
        self._join(name)
        return self.coordinator.dsn(name)

    def dsn(self) -> str:
        return self.coordinator.dsn()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def remove(self) -> None:
        for node in self.nodes:
            node.remove()
