"""What the request ledger remembers of one logical call, and under which key."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from artimeta_server.domain import errors
from artimeta_server.domain.errors import DomainError
from artimeta_server.domain.reasons import Reason

# NamespaceService's own mutations (create and delete a namespace) are remembered here: the
# namespace they name does not exist yet, or no longer does.
GLOBAL_NAMESPACE_ID = 0

# The errors a repeat gets back as they were; any other one is not remembered.
REMEMBERED_ERRORS: Mapping[str, type[DomainError]] = {
    cls.__name__: cls
    for cls in (
        errors.InvalidArgument,
        errors.NotFound,
        errors.AlreadyExists,
        errors.Aborted,
        errors.FailedPrecondition,
        errors.DataLoss,
    )
}
# Reasons that say "try again" even on a remembered class: the retry runs the work for real.
TRANSIENT_REASONS = frozenset({Reason.TRANSACTION_CONFLICT})


def rememberable(exc: DomainError) -> bool:
    return type(exc).__name__ in REMEMBERED_ERRORS and exc.reason not in TRANSIENT_REASONS


@dataclass(frozen=True, slots=True)
class RememberedError:
    kind: str  # a DomainError class name
    reason: str
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, exc: DomainError) -> RememberedError:
        return cls(type(exc).__name__, exc.reason, exc.message, exc.metadata)

    def rebuild(self) -> DomainError:
        return REMEMBERED_ERRORS[self.kind](self.message, reason=Reason(self.reason), metadata=self.metadata)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one logical call answered: exactly one of reply and error."""

    body_hash: bytes
    reply: bytes | None = None
    error: RememberedError | None = None


@dataclass(frozen=True, slots=True)
class RequestKey:
    namespace_id: int
    method: str
    request_id: uuid.UUID
