"""Postgres + S3 started together, with the ARTIMETA_* settings that point a server at them."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from artimeta_server.devstack.postgres import PostgresServer
from artimeta_server.devstack.procs import free_port, port_free
from artimeta_server.devstack.s3 import MinioServer, S3Credentials, S3Server, SeaweedServer


@dataclass
class Stack:
    home: Path
    s3_kind: str = "seaweedfs"
    durable: bool = True
    postgres: PostgresServer | None = None
    s3: S3Server | None = None
    _state: dict[str, object] = field(default_factory=dict)

    def _load_state(self) -> dict[str, object]:
        path = self.home / "stack.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _save_state(self, state: dict[str, object]) -> None:
        path = self.home / "stack.json"
        path.write_text(json.dumps(state, indent=2))
        path.chmod(0o600)

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        state = self._load_state()
        # A reused state folder keeps its ports and credentials while they are free, so data
        # written by an earlier `make run` is found again.
        pg_port = int(str(state.get("pg_port", 0))) or free_port()
        if not port_free(pg_port):
            pg_port = free_port()
        creds_raw = state.get("s3_credentials")
        creds = S3Credentials(**creds_raw) if isinstance(creds_raw, dict) else S3Credentials.generate()
        self.postgres = PostgresServer(self.home / "postgres", pg_port, durable=self.durable)
        self.postgres.start()
        try:
            s3_cls: type[S3Server] = MinioServer if self.s3_kind == "minio" else SeaweedServer
            self.s3 = s3_cls(self.home / self.s3_kind, creds)
            self.s3.start()
        except BaseException:
            self.postgres.stop()
            raise
        self._save_state(
            {"pg_port": pg_port, "s3_credentials": {"access_key": creds.access_key, "secret_key": creds.secret_key}}
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
        if self.s3 is not None:
            self.s3.stop()
        if self.postgres is not None:
            self.postgres.stop()

    def remove(self) -> None:
        self.stop()
        if self.postgres is not None:
            self.postgres.remove()
        shutil.rmtree(self.home, ignore_errors=True)
