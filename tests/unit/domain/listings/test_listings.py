"""The list views over an in-memory repository: keyset pages of executions (newest first, exact
to the microsecond) and of ops under a prefix, and tokens that were never handed out refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.listings.models import ExecutionSummary, OpSummary
from artimeta_server.domain.listings.service import Listings
from artimeta_server.domain.pagination import encode_token
from tests.unit.domain.namespaces.fakes import namespaces

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _execution(i: int, t: datetime) -> ExecutionSummary:
    return ExecutionSummary(f"e{i}", [], t, t, None, None, None, None, None, None, 0, 0)


class FakeListingRepository:
    def __init__(self, executions: list[ExecutionSummary], ops: list[str]) -> None:
        self._executions = executions
        self._ops = sorted(ops)
        self.positions: list[object] = []

    async def executions(self, ns: int, after: tuple[datetime, str] | None, limit: int) -> list[ExecutionSummary]:
        self.positions.append(after)
        rows = sorted(self._executions, key=lambda e: (e.create_time, e.id), reverse=True)
        return [e for e in rows if after is None or (e.create_time, e.id) < after][:limit]

    async def ops(self, ns: int, prefix: str, after: str | None, limit: int) -> list[OpSummary]:
        names = [n for n in self._ops if n.startswith(prefix) and (after is None or n > after)]
        return [OpSummary(n, 0, None) for n in names[:limit]]


async def _listings(repo: FakeListingRepository) -> Listings:
    svc, _, _ = namespaces()
    await svc.create("team-a", "", {})
    return Listings(repo, svc)


async def test_executions_page_newest_first_with_microsecond_ties_kept_apart() -> None:
    # Two executions a microsecond apart and two at the same instant.
    times = [T0, T0 + timedelta(microseconds=1), T0 + timedelta(seconds=5), T0 + timedelta(seconds=5)]
    repo = FakeListingRepository([_execution(i, t) for i, t in enumerate(times)], [])
    listings = await _listings(repo)
    seen: list[str] = []
    token = ""
    while True:
        page = await listings.executions("team-a", 1, token)
        seen += [e.id for e in page.items]
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert seen == ["e3", "e2", "e1", "e0"]
    # The last position handed back is exact to the microsecond.
    assert repo.positions[-1] == (T0 + timedelta(microseconds=1), "e1")


async def test_ops_page_by_name_under_a_prefix() -> None:
    repo = FakeListingRepository([], ["train.a", "train.b", "train.c", "eval.a"])
    listings = await _listings(repo)
    first = await listings.ops("team-a", "train.", 2, "")
    assert [o.name for o in first.items] == ["train.a", "train.b"]
    rest = await listings.ops("team-a", "train.", 2, first.next_page_token)
    assert ([o.name for o in rest.items], rest.next_page_token) == (["train.c"], "")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        encode_token("ops", ["train.a"]),  # another list's token
        encode_token("executions", [10**30, "e1"]),  # past any representable time
    ],
)
async def test_an_execution_token_this_list_did_not_hand_out_is_refused(token: str) -> None:
    listings = await _listings(FakeListingRepository([], []))
    with pytest.raises(InvalidArgument) as err:
        await listings.executions("team-a", 1, token)
    assert err.value.reason == "INVALID_PAGE_TOKEN"


async def test_an_overlong_prefix_is_refused() -> None:
    listings = await _listings(FakeListingRepository([], []))
    with pytest.raises(InvalidArgument):
        await listings.ops("team-a", "x" * 513, 1, "")
