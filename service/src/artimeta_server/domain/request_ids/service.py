"""Running a mutation at most once per request id.

The first attempt runs the work and, in the same transaction, remembers what it answered (the
reply, or the error it failed with) with a hash of the request body. A repeat within the retention
window gets that answer back without running anything; the same id with another body is refused
(REQUEST_ID_REUSED). Errors that say "try again" (UNAVAILABLE, a transaction conflict, a spent
budget) are not remembered: the retry runs the work for real.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from artimeta_server.domain import errors
from artimeta_server.domain.errors import DomainError, InvalidArgument
from artimeta_server.domain.namespaces.ports import NamespaceIds
from artimeta_server.domain.reasons import Reason
from artimeta_server.domain.request_ids.models import (
    GLOBAL_NAMESPACE_ID,
    Outcome,
    RememberedError,
    RequestKey,
    rememberable,
)
from artimeta_server.domain.request_ids.ports import RequestLedger

T = TypeVar("T")


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
            if not rememberable(exc):
                raise
            if await self._ledger.remember(key, Outcome(body_hash, error=RememberedError.of(exc)), self.retention_s):
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
