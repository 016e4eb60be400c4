"""Reading records back: get, contains, delete, search and the relation walk."""

from __future__ import annotations

import pytest

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from artimeta_server.domain.records import limits
from artimeta_server.domain.records.models import FILE, Entry, Relation
from artimeta_server.domain.records.service import Records
from tests.unit.domain.records.fakes import NS, FakeBlobPresence, FakeRecordRepository


async def commit(records: Records, uuid: str, related: tuple[str, ...] | list[str] = (), **meta: str) -> None:
    await records.commit(NS, uuid, [], meta or None, [Relation(r) for r in related], replace=False)


async def test_contains_says_whether_every_blob_is_there(records: Records, presence: FakeBlobPresence) -> None:
    a, b = Digest.of(b"a"), Digest.of(b"b")
    presence.present.update({a, b})
    await records.commit(NS, "r", [Entry("a", FILE, digest=a), Entry("b", FILE, digest=b)], None, [], replace=False)
    found = await records.contains(NS, "r")
    assert (found.indexed, found.missing_blobs, found.contains) == (True, 0, True)
    presence.present.discard(b)  # gc or a forced delete took a blob
    found = await records.contains(NS, "r")
    assert (found.indexed, found.missing_blobs, found.contains) == (True, 1, False)
    absent = await records.contains(NS, "other")
    assert (absent.indexed, absent.missing_blobs, absent.contains) == (False, 0, False)


async def test_get_and_delete_of_a_missing_record(records: Records) -> None:
    await commit(records, "r")
    assert (await records.get(NS, "r")).uuid == "r"
    assert await records.delete(NS, "r", allow_missing=False) is True
    with pytest.raises(NotFound) as err:
        await records.get(NS, "r")
    assert err.value.reason == "RECORD_NOT_FOUND"
    assert await records.delete(NS, "r", allow_missing=True) is False
    with pytest.raises(NotFound):
        await records.delete(NS, "r", allow_missing=False)
    with pytest.raises(NotFound) as ns:
        await records.get("elsewhere", "r")
    assert ns.value.reason == "NAMESPACE_NOT_FOUND"


async def test_search_pages_by_prefix_and_metadata(records: Records) -> None:
    for i in range(5):
        await commit(records, f"run-{i}", stage="train" if i % 2 == 0 else "eval")
    await commit(records, "other", stage="train")
    first = await records.search(NS, "run-", {"stage": "train"}, 2, "")
    assert [r.uuid for r in first.records] == ["run-0", "run-2"] and first.next_page_token
    rest = await records.search(NS, "run-", {"stage": "train"}, 2, first.next_page_token)
    assert [r.uuid for r in rest.records] == ["run-4"] and rest.next_page_token == ""
    with pytest.raises(InvalidArgument):
        await records.search(NS, "run-", {}, 2, "garbage")


async def test_related_follows_relations_both_ways(records: Records, repo: FakeRecordRepository) -> None:
    # a -> b -> c -> a (a cycle), d -> b
    await commit(records, "a", ["b"])
    await commit(records, "b", ["c"])
    await commit(records, "c", ["a"])
    await commit(records, "d", ["b"])
    await commit(records, "lonely")
    assert await records.related(NS, "b", deep=False) == ["a", "c", "d"]
    assert await records.related(NS, "a", deep=True) == ["b", "c", "d"]
    assert await records.related(NS, "lonely", deep=True) == []
    with pytest.raises(NotFound):
        await records.related(NS, "nobody", deep=True)


async def test_the_relation_walk_is_bounded(
    records: Records, repo: FakeRecordRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_RELATION_DEPTH", 2)
    monkeypatch.setattr(limits, "MAX_RELATED", 3)
    await commit(records, "c0", ["c1"])
    await commit(records, "c1", ["c2"])
    assert await records.related(NS, "c0", deep=True) == ["c1", "c2"]  # two levels: at the limit
    await commit(records, "c2", ["c3"])
    with pytest.raises(FailedPrecondition) as err:
        await records.related(NS, "c0", deep=True)
    assert err.value.reason == "RELATION_WALK_TOO_LARGE"
    assert err.value.metadata == {"max_records": "3", "max_depth": "2"}
    await commit(records, "hub", ["s1", "s2", "s3", "s4"])
    with pytest.raises(FailedPrecondition):
        await records.related(NS, "hub", deep=False)
