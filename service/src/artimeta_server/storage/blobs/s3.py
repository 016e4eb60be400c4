"""The minio client and what its answers mean: clients built to fail fast, presigning for a
public endpoint, and S3 errors mapped onto domain errors."""

from __future__ import annotations

import urllib3
from minio import Minio
from minio.error import S3Error, ServerError

from artimeta_server.config import Settings
from artimeta_server.domain.errors import NotFound, Unavailable
from artimeta_server.domain.reasons import Reason

MISSING = {"NoSuchKey", "NoSuchObject", "NotFound"}
# Answers of a store that is there but cannot serve right now: MinIO below its write quorum
# (nodes down) says SlowDownWrite; S3 throttles with SlowDown. All pass once capacity is back.
_BUSY = {"SlowDown", "SlowDownRead", "SlowDownWrite", "ServiceUnavailable", "RequestTimeout"}


def is_unreachable(exc: BaseException) -> bool:
    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError, ServerError))


def s3_error(exc: S3Error) -> BaseException:
    """The domain error an S3 error answer stands for, or the error itself."""
    if exc.code in MISSING:
        return NotFound("blob not found", reason=Reason.BLOB_NOT_FOUND)
    status = getattr(exc.response, "status", 0) or 0
    if exc.code in _BUSY or status >= 500:
        return Unavailable(
            f"the blob store cannot serve the request now ({exc.code}); retry the call",
            reason=Reason.BLOB_STORE_UNAVAILABLE,
        )
    return exc


def make_client(
    endpoint: str,
    access_key: str,
    secret_key: str,
    *,
    secure: bool,
    region: str | None,
    max_connections: int,
    timeout_s: float,
) -> Minio:
    # minio's default http client retries for ~10 s on a dead server; fail fast instead and let
    # the caller's gRPC retry policy (UNAVAILABLE) decide.
    http = urllib3.PoolManager(
        maxsize=max_connections,
        timeout=urllib3.Timeout(connect=min(timeout_s, 3.0), read=timeout_s),
        retries=urllib3.Retry(total=1, backoff_factor=0.1, status_forcelist=(502, 503, 504)),
        cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
    )
    return Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=http)


def presigner_for(settings: Settings) -> Minio | None:
    """A client that only signs URLs, for ARTIMETA_S3_PUBLIC_ENDPOINT (`host[:port]` or
    `http(s)://host[:port]`); None when unset. It never talks to S3: with the region given,
    presigning is pure computation, and the signature covers the host outside clients send."""
    if not settings.s3_public_endpoint:
        return None
    scheme, sep, host = settings.s3_public_endpoint.partition("://")
    secure = scheme == "https" if sep else settings.s3_secure
    return Minio(
        host if sep else scheme,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=secure,
        region=settings.s3_region or "us-east-1",
    )
