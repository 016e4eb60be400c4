"""Request ids (AIP-155): a mutation that is not naturally idempotent runs at most once per
(namespace, method, request_id), however often its caller retries it.

The first attempt runs the work and, in the same transaction, remembers what it answered (the
reply, or the error it failed with) with a hash of the request body. A repeat within the retention
window gets that answer back without running anything; the same id with another body is refused
(REQUEST_ID_REUSED). Errors that say "try again" (UNAVAILABLE, a transaction conflict, a spent
budget) are not remembered: the retry runs the work for real.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from artimeta_server.domain import errors
from artimeta_server.domain.errors import DomainError, InvalidArgument
from artimeta_server.domain.reasons import Reason

T = TypeVar("T")

# NamespaceService's own mutations (create and delete a namespace) are remembered here: the
# namespace they name does not exist yet, or no longer does.
GLOBAL_NAMESPACE_ID = 0

DEFAULT_RETENTION_S = 24 * 3600.0

# The errors a repeat gets back as they were; any other one is not remembered.
_REMEMBERED: dict[str, type[DomainError]] = {
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
_TRANSIENT_REASONS = frozenset({Reason.TRANSACTION_CONFLICT})


@dataclass(frozen=True, slots=True)
class RememberedError:
    kind: str  # a DomainError class name
    reason: str
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    def rebuild(self) -> DomainError:
        return _REMEMBERED[self.kind](self.message, reason=Reason(self.reason), metadata=self.metadata)


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


class RequestLedger(Protocol):
    """Where outcomes are kept; storage/ implements it."""

    def pinned(self) -> AbstractAsyncContextManager[None]:
        """One database session for everything the block does (reads, units of work)."""
        ...

    def unit_of_work(self) -> AbstractAsyncContextManager[None]:
        """One transaction that every repository call made inside the block joins."""
        ...

    async def recall(self, key: RequestKey, max_age_s: float) -> Outcome | None:
        """The outcome remembered for key within the last max_age_s seconds."""
        ...

    async def remember(self, key: RequestKey, outcome: Outcome, max_age_s: float) -> bool:
        """Stores the outcome (in the current unit of work, if any) unless one younger than
        max_age_s is already there; False then. One statement."""
        ...

    async def forget_older_than(self, max_age_s: float) -> int:
        """Deletes outcomes older than max_age_s; how many."""
        ...


class NamespaceIds(Protocol):
    async def resolve(self, name: str) -> int: ...


class _Lost(Exception):
    """Another attempt with the same id committed first: undo this one's work."""


def parse_request_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidArgument(
            f"request_id must be a UUID, not {value[:64]!r}",
            reason=Reason.INVALID_REQUEST_ID,
            metadata={"field": "request_id"},
        ) from None


def _rememberable(exc: DomainError) -> bool:
    return type(exc).__name__ in _REMEMBERED and exc.reason not in _TRANSIENT_REASONS


class RequestIds:
    def __init__(self, ledger: RequestLedger, namespaces: NamespaceIds, *, retention_s: float) -> None:
        self._ledger = ledger
        self._namespaces = namespaces
        self.retention_s = retention_s

    async def once(
        self,
        namespace: str | None,
        method: str,
        request_id: str,
        body_hash: bytes,
        work: Callable[[], Awaitable[T]],
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
    ) -> T:
        """work(), at most once per (namespace, method, request_id) in the retention window.
        `namespace` None is the global scope (NamespaceService)."""
        rid = parse_request_id(request_id)
        if namespace is None:
            ns = GLOBAL_NAMESPACE_ID
        else:
            try:
                ns = await self._namespaces.resolve(namespace)
            except DomainError:
                # No such namespace, or a malformed name: the work fails the same way, with its own
                # reason, and there is nowhere to remember it.
                return await work()
        async with self._ledger.pinned():
            return await self._once(RequestKey(ns, method, rid), body_hash, work, encode, decode)

    async def _once(
        self,
        key: RequestKey,
        body_hash: bytes,
        work: Callable[[], Awaitable[T]],
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
    ) -> T:
        seen = await self._ledger.recall(key, self.retention_s)
        if seen is not None:
            return self._answer(seen, body_hash, decode)
        try:
            async with self._ledger.unit_of_work():
                result = await work()
                if not await self._ledger.remember(key, Outcome(body_hash, reply=encode(result)), self.retention_s):
                    raise _Lost
            return result
        except _Lost:
            pass
        except DomainError as exc:
            if not _rememberable(exc):
                raise
            failed = Outcome(
                body_hash, error=RememberedError(type(exc).__name__, exc.reason, exc.message, exc.metadata)
            )
            if await self._ledger.remember(key, failed, self.retention_s):
                raise
        # A concurrent attempt with the same id won the race; answer as it did.
        seen = await self._ledger.recall(key, self.retention_s)
        if seen is None:  # it expired meanwhile: vanishingly rare, and retrying is safe
            raise errors.Aborted(
                "a concurrent call with the same request_id expired; retry", reason=Reason.TRANSACTION_CONFLICT
            )
        return self._answer(seen, body_hash, decode)

    @staticmethod
    def _answer(seen: Outcome, body_hash: bytes, decode: Callable[[bytes], T]) -> T:
        if seen.body_hash != body_hash:
            raise InvalidArgument(
                "request_id was already used for a different request",
                reason=Reason.REQUEST_ID_REUSED,
                metadata={"field": "request_id"},
            )
        if seen.error is not None:
            raise seen.error.rebuild()
        assert seen.reply is not None
        return decode(seen.reply)

    async def forget_expired(self) -> int:
        return await self._ledger.forget_older_than(self.retention_s)
