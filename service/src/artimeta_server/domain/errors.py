"""The domain's failures. Each carries a stable machine-readable reason; rpc/ maps the class to a
gRPC status code through one table, so the reason, not the message, is the contract."""

from __future__ import annotations

from collections.abc import Mapping

from artimeta_server.domain.reasons import Reason


class DomainError(Exception):
    """Base of every failure the service reports on purpose; `reason` is always a member of Reason."""

    reason: Reason = Reason.INTERNAL

    def __init__(
        self, message: str, *, reason: Reason | None = None, metadata: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(DomainError):
    reason = Reason.INVALID_ARGUMENT


class NotFound(DomainError):
    reason = Reason.NOT_FOUND


class AlreadyExists(DomainError):
    reason = Reason.ALREADY_EXISTS


class Aborted(DomainError):
    """Compare-and-swap mismatch or a serialization failure: retrying the whole operation may work."""

    reason = Reason.ABORTED


class FailedPrecondition(DomainError):
    reason = Reason.FAILED_PRECONDITION


class RetryLater(DomainError):
    """A failure the caller may retry after `retry_after_s` (sent as RetryInfo)."""

    def __init__(
        self,
        message: str,
        *,
        reason: Reason | None = None,
        metadata: Mapping[str, str] | None = None,
        retry_after_s: float = 1.0,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.retry_after_s = retry_after_s


class Unavailable(RetryLater):
    """A backing store (Postgres, S3) cannot be reached; the call can be retried as it is."""

    reason = Reason.UNAVAILABLE


class DeadlineExceeded(DomainError):
    """The work ran past the time the server allows it (a statement timeout): retrying the same
    call would take as long again, so clients must not retry it as they retry UNAVAILABLE."""

    reason = Reason.DEADLINE_EXCEEDED


class ResourceExhausted(RetryLater):
    """The caller spent a budget (e.g. failed authentications); it may try again after the delay."""

    reason = Reason.RESOURCE_EXHAUSTED


class DataLoss(DomainError):
    """Stored bytes no longer match their digest."""

    reason = Reason.DATA_LOSS


class PermissionDenied(DomainError):
    reason = Reason.PERMISSION_DENIED


class Unauthenticated(DomainError):
    reason = Reason.UNAUTHENTICATED
