"""Paged lists of redun executions (newest first) and chariots ops (by name, under a prefix)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from artimeta_server.domain import validation
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.listings.models import ExecutionSummary, OpSummary
from artimeta_server.domain.listings.ports import ListingRepository
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.opstore.models import MAX_NAME
from artimeta_server.domain.pagination import Page, decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(t: datetime) -> int:
    # Integer microseconds: Postgres keeps timestamps to the microsecond, so the keyset is exact.
    return (t - _EPOCH) // timedelta(microseconds=1)


def _bad_token() -> InvalidArgument:
    return InvalidArgument(
        "page_token is not one this list returned", reason=Reason.INVALID_PAGE_TOKEN, metadata={"field": "page_token"}
    )


def _position(kind: str, token: str, types: tuple[type, ...]) -> list[Any] | None:
    return decode_token(kind, token, types)


class Listings:
    def __init__(self, repo: ListingRepository, namespaces: Namespaces) -> None:
        self._repo = repo
        self._ns = namespaces

    async def executions(self, namespace: str, requested_size: int, token: str) -> Page[ExecutionSummary]:
        limit = page_size(requested_size)
        after = _position("executions", token, (int, str))
        position = None
        if after is not None:
            try:
                position = (_EPOCH + timedelta(microseconds=after[0]), str(after[1]))
            except OverflowError:
                raise _bad_token() from None
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.executions(ns, position, limit + 1)
        nxt = ""
        if len(rows) > limit:
            last = rows[limit - 1]
            nxt = encode_token("executions", [_micros(last.create_time), last.id])
        return Page(rows[:limit], nxt)

    async def ops(self, namespace: str, prefix: str, requested_size: int, token: str) -> Page[OpSummary]:
        validation.text(prefix, field="name_prefix", max_len=MAX_NAME)
        limit = page_size(requested_size)
        after = _position("ops", token, (str,))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.ops(ns, prefix, None if after is None else str(after[0]), limit + 1)
        nxt = encode_token("ops", [rows[limit - 1].name]) if len(rows) > limit else ""
        return Page(rows[:limit], nxt)
