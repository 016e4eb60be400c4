"""Frozen settings read once from ARTIMETA_* environment variables and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class ConfigError(ValueError):
    pass


AUTH_MODES = frozenset({"tokens", "disabled"})


@dataclass(frozen=True, slots=True)
class Settings:
    """Each field is read from ARTIMETA_<FIELD NAME IN UPPER CASE>."""

    listen: str = "127.0.0.1:50051"
    # Connect/gRPC-Web + health + console; empty turns the HTTP port off.
    http_listen: str = ""
    # What one HTTP client may hold (rpc/http_limits.py).
    http_max_connections: int = 1024
    http_header_timeout_s: float = 10.0
    http_body_timeout_s: float = 120.0
    http_max_header_bytes: int = 64 * 1024
    http_keepalive_s: float = 15.0
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
    # Where clients outside reach S3 (`https://s3.example.com` or host:port): presigned URLs are
    # signed for this host instead of s3_endpoint. Empty: the server's own endpoint.
    s3_public_endpoint: str = ""
    blob_threads: int = 16
    # Bounds that keep large transfers from crowding out small calls: threads hashing large
    # messages off the event loop, streaming uploads receiving at once (more wait for a slot),
    # how long an upload stream may stay silent before it gives its slot back, and object-store
    # calls in the air for FindMissing and batches across all requests.
    hash_threads: int = 2
    upload_slots: int = 4
    upload_idle_timeout_s: float = 300.0
    store_fanout: int = 8
    inline_document_limit: int = 256 * 1024
    max_document_bytes: int = 1 << 30
    max_message_bytes: int = 64 * 1024 * 1024
    # In-process caches, bounded by bytes: immutable graph and snapshot documents, and the
    # replies built from them (a document over a quarter of its cache is never kept).
    document_cache_bytes: int = 64 * 1024 * 1024
    reply_cache_bytes: int = 64 * 1024 * 1024
    keepalive_time_s: float = 60.0
    keepalive_timeout_s: float = 20.0
    shutdown_grace_s: float = 10.0
    # Mutable rows (snapshot tags, namespaces) in memory, evicted by every replica's writes;
    # the TTL is the hard bound on how stale a default read may be (proto: ReadConsistency).
    read_cache_bytes: int = 16 * 1024 * 1024
    read_cache_ttl_s: float = 2.0
    janitor_interval_s: float = 60.0
    # How long a mutation's outcome is remembered under its request_id (domain/request_ids/).
    request_id_retention_s: float = 24 * 3600.0
    log_level: str = "INFO"
    log_json: bool = True
    log_requests: bool = True
    # Transport security: TLS unless plaintext is asked for by name (the local `make run` does).
    plaintext: bool = False
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_client_ca_file: str = ""
    # Authentication: bearer tokens (and JWTs when a JWKS file is set); "disabled" only by name.
    auth: str = "tokens"
    auth_cache_ttl_s: float = 5.0
    # A refused token is remembered this long (no second lookup); each client address may fail
    # AUTH_FAILURE_BURST times, refilled at AUTH_FAILURES_PER_S, before RESOURCE_EXHAUSTED (0 = off).
    auth_negative_cache_ttl_s: float = 2.0
    auth_failures_per_s: float = 10.0
    auth_failure_burst: int = 50
    auth_open_services: str = (
        "grpc.health.v1.Health,grpc.reflection.v1alpha.ServerReflection,grpc.reflection.v1.ServerReflection"
    )
    jwt_jwks_file: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_roles_claim: str = "artimeta_roles"
    # Observability: Prometheus on its own port (empty = off); OTLP traces (empty = off).
    metrics_listen: str = ""
    # A plaintext port serving only grpc.health.v1 (Kubernetes' native gRPC probes speak no TLS).
    health_listen: str = ""
    otlp_endpoint: str = ""
    otlp_insecure: bool = False
    service_name: str = "artimeta"
    workers: int = 1

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
        if self.s3_public_endpoint:
            scheme, sep, host = self.s3_public_endpoint.partition("://")
            if (
                (sep and scheme not in {"http", "https"})
                or not (host if sep else scheme)
                or "/" in (host if sep else scheme)
            ):
                raise ConfigError(
                    "ARTIMETA_S3_PUBLIC_ENDPOINT must be host[:port] or http(s)://host[:port], "
                    f"not {self.s3_public_endpoint!r}"
                )
        if self.document_cache_bytes < 0 or self.reply_cache_bytes < 0:
            raise ConfigError("ARTIMETA_DOCUMENT_CACHE_BYTES and ARTIMETA_REPLY_CACHE_BYTES must be >= 0")
        if self.read_cache_bytes < 0 or self.read_cache_ttl_s < 0:
            raise ConfigError("ARTIMETA_READ_CACHE_BYTES and ARTIMETA_READ_CACHE_TTL_S must be >= 0")
        if self.http_max_connections < 1 or self.http_max_header_bytes < 1024:
            raise ConfigError("ARTIMETA_HTTP_MAX_CONNECTIONS must be >= 1 and ARTIMETA_HTTP_MAX_HEADER_BYTES >= 1024")
        if min(self.http_header_timeout_s, self.http_body_timeout_s, self.http_keepalive_s) <= 0:
            raise ConfigError("ARTIMETA_HTTP_HEADER_TIMEOUT_S, _BODY_TIMEOUT_S and _KEEPALIVE_S must be > 0")
        if self.blob_threads < 1:
            raise ConfigError("ARTIMETA_BLOB_THREADS must be at least 1")
        if min(self.hash_threads, self.upload_slots, self.store_fanout) < 1 or self.upload_idle_timeout_s <= 0:
            raise ConfigError(
                "ARTIMETA_HASH_THREADS, ARTIMETA_UPLOAD_SLOTS and ARTIMETA_STORE_FANOUT must be at least 1, "
                "ARTIMETA_UPLOAD_IDLE_TIMEOUT_S above 0"
            )
        if self.auth not in AUTH_MODES:
            raise ConfigError(f"ARTIMETA_AUTH must be one of {sorted(AUTH_MODES)}, not {self.auth!r}")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ConfigError("ARTIMETA_TLS_CERT_FILE and ARTIMETA_TLS_KEY_FILE go together")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ConfigError("ARTIMETA_TLS_CLIENT_CA_FILE (mutual TLS) needs ARTIMETA_TLS_CERT_FILE/_KEY_FILE")
        if self.plaintext and self.tls_cert_file:
            raise ConfigError("ARTIMETA_PLAINTEXT=true contradicts ARTIMETA_TLS_CERT_FILE: choose one")
        if self.workers < 1:
            raise ConfigError("ARTIMETA_WORKERS must be at least 1")
        if self.auth_cache_ttl_s < 0 or self.auth_negative_cache_ttl_s < 0:
            raise ConfigError("ARTIMETA_AUTH_CACHE_TTL_S and ARTIMETA_AUTH_NEGATIVE_CACHE_TTL_S must be >= 0")
        if self.auth_failures_per_s < 0 or (self.auth_failures_per_s > 0 and self.auth_failure_burst < 1):
            raise ConfigError("ARTIMETA_AUTH_FAILURES_PER_S must be >= 0, and ARTIMETA_AUTH_FAILURE_BURST >= 1")
        if self.jwt_jwks_file and not (self.jwt_issuer.strip() and self.jwt_audience.strip()):
            raise ConfigError(
                "ARTIMETA_JWT_JWKS_FILE turns JWT auth on, which needs ARTIMETA_JWT_ISSUER and ARTIMETA_JWT_AUDIENCE: "
                "without them any JWT signed by those keys, for any service, would be accepted"
            )

    def validate_serving(self) -> None:
        """What only a serving process needs: a transport chosen on purpose."""
        if not self.plaintext and not self.tls_cert_file:
            raise ConfigError(
                "no TLS certificate: set ARTIMETA_TLS_CERT_FILE and ARTIMETA_TLS_KEY_FILE, "
                "or ARTIMETA_PLAINTEXT=true to serve without TLS (local development only)"
            )

    @property
    def open_services(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.auth_open_services.split(",") if s.strip())

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
