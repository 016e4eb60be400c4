"""The domain's failures. Each carries a stable machine-readable reason; rpc/ maps the class to a
gRPC status code through one table, so the reason, not the message, is the contract."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base of every failure the service reports on purpose."""

    reason: str = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(DomainError):
    reason = "INVALID_ARGUMENT"


class NotFound(DomainError):
    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    reason = "ALREADY_EXISTS"


class Aborted(DomainError):
    """Compare-and-swap mismatch or a serialization failure: retrying the whole operation may work."""

    reason = "ABORTED"


class FailedPrecondition(DomainError):
    reason = "FAILED_PRECONDITION"


class Unavailable(DomainError):
    """A backing store (Postgres, S3) cannot be reached; the call can be retried as it is."""

    reason = "UNAVAILABLE"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after_s: float = 1.0,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_s = retry_after_s


class DeadlineExceeded(DomainError):
    """The work ran past the time the server allows it (a statement timeout): retrying the same
    call would take as long again, so clients must not retry it as they retry UNAVAILABLE."""

    reason = "DEADLINE_EXCEEDED"


class ResourceExhausted(DomainError):
    """The caller spent a budget (e.g. failed authentications); it may try again after the delay."""

    reason = "RESOURCE_EXHAUSTED"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after_s: float = 1.0,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_s = retry_after_s


class DataLoss(DomainError):
    """Stored bytes no longer match their digest."""

    reason = "DATA_LOSS"


class PermissionDenied(DomainError):
    reason = "PERMISSION_DENIED"


class Unauthenticated(DomainError):
    reason = "UNAUTHENTICATED"
