"""Frozen settings read once from ARTIMETA_* environment variables and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class ConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    """Each field is read from ARTIMETA_<FIELD NAME IN UPPER CASE>."""

    listen: str = "127.0.0.1:50051"
    # Connect/gRPC-Web + health + console; empty turns the HTTP port off.
    http_listen: str = ""
    database_url: str = "postgresql://postgres@127.0.0.1:5432/artimeta"
    db_pool_min: int = 2
    db_pool_max: int = 16
    db_acquire_timeout_s: float = 5.0
    db_statement_timeout_s: float = 60.0
    s3_endpoint: str = "127.0.0.1:8333"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "artimeta"
    s3_secure: bool = False
    s3_region: str = ""
    s3_timeout_s: float = 30.0
    blob_threads: int = 16
    inline_document_limit: int = 256 * 1024
    max_document_bytes: int = 1 << 30
    max_message_bytes: int = 64 * 1024 * 1024
    keepalive_time_s: float = 60.0
    keepalive_timeout_s: float = 20.0
    shutdown_grace_s: float = 10.0
    namespace_cache_ttl_s: float = 2.0
    janitor_interval_s: float = 60.0
    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"ARTIMETA_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw, f.default)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.db_pool_min < 0 or self.db_pool_max < 1 or self.db_pool_min > self.db_pool_max:
            raise ConfigError("need 0 <= ARTIMETA_DB_POOL_MIN <= ARTIMETA_DB_POOL_MAX and a max of at least 1")
        if len(self.s3_bucket) < 3:
            raise ConfigError("ARTIMETA_S3_BUCKET needs at least 3 characters")
        if self.inline_document_limit < 0 or self.max_message_bytes < 1024:
            raise ConfigError("ARTIMETA_INLINE_DOCUMENT_LIMIT must be >= 0 and ARTIMETA_MAX_MESSAGE_BYTES >= 1024")
        if self.http_listen and (":" not in self.http_listen or not self.http_listen.rpartition(":")[2].isdigit()):
            raise ConfigError(f"ARTIMETA_HTTP_LISTEN must be host:port, got {self.http_listen!r}")
        if self.blob_threads < 1:
            raise ConfigError("ARTIMETA_BLOB_THREADS must be at least 1")

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict fit for logs: secrets and the DSN's password masked."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in {"s3_secret_key", "s3_access_key"} and value:
                value = "***"
            elif f.name == "database_url":
                value = _mask_dsn(str(value))
            out[f.name] = value
        return out


def _mask_dsn(dsn: str) -> str:
    scheme, sep, rest = dsn.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return dsn
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"


def _parse(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"ARTIMETA_{name.upper()}={raw!r} is not a valid {type(default).__name__}") from None
    return raw
