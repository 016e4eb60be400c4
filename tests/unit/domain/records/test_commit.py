"""CommitRecord: a manifest is checked whole before anything is written, and never names a
blob that is not there."""

from __future__ import annotations

import pytest

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import FailedPrecondition, InvalidArgument
from artimeta_server.domain.records import limits
from artimeta_server.domain.records.models import DIRECTORY, FILE, SYMLINK, Entry, Relation
from artimeta_server.domain.records.service import Records
from tests.unit.domain.records.fakes import NS, NS_ID, FakeBlobPresence, FakeRecordRepository


def file(path: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(path, FILE, mode, Digest.of(data))


async def test_a_commit_naming_absent_blobs_is_refused(
    records: Records, repo: FakeRecordRepository, presence: FakeBlobPresence
) -> None:
    a, b, c = file("a", b"a"), file("d/b", b"b"), file("d/c", b"c")
    presence.present.add(a.digest)  # type: ignore[arg-type]
    with pytest.raises(FailedPrecondition) as err:
        await records.commit(NS, "r1", [a, Entry("d", DIRECTORY), b, c], None, [], replace=False)
    assert err.value.reason == "MISSING_BLOBS"
    assert err.value.metadata == {"count": "2", "first": str(b.digest)}
    assert repo.records == {}
    presence.present.update({b.digest, c.digest})  # type: ignore[arg-type]
    record, created = await records.commit(NS, "r1", [a, Entry("d", DIRECTORY), b, c], {"k": "v"}, [], replace=False)
    assert created and record.file_count == 3 and record.total_size == 3 and record.metadata == {"k": "v"}
    _, created = await records.commit(NS, "r1", [], None, [], replace=False)
    assert not created
    assert repo.records[(NS_ID, "r1")].metadata == {"k": "v"}, "metadata None keeps what was set"


async def test_directories_and_symlinks_need_no_blob(records: Records, presence: FakeBlobPresence) -> None:
    entries = [Entry("d", DIRECTORY, 0o755), Entry("d/l", SYMLINK, link_target="sub/x")]
    record, _ = await records.commit(NS, "r", entries, None, [], replace=True)
    assert record.file_count == 0
    assert presence.asked == [[]]


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([Entry("a", DIRECTORY), Entry("a", DIRECTORY)], "DUPLICATE_PATH"),
        ([Entry("/abs", DIRECTORY)], "INVALID_PATH"),
        ([Entry("a/../b", DIRECTORY)], "INVALID_PATH"),
        ([Entry("a//b", DIRECTORY)], "INVALID_PATH"),
        ([Entry("a\\b", DIRECTORY)], "INVALID_PATH"),
        ([Entry("f", FILE)], "INVALID_ENTRY"),
        ([Entry("d", DIRECTORY, digest=Digest.of(b""))], "INVALID_ENTRY"),
        ([Entry("x", 9)], "INVALID_ENTRY"),
        ([Entry("d", DIRECTORY, mode=0o10000)], "INVALID_MODE"),
        ([Entry("l", SYMLINK, link_target="/etc/passwd")], "UNSAFE_LINK_TARGET"),
        ([Entry("l", SYMLINK, link_target="a/../../x")], "UNSAFE_LINK_TARGET"),
        ([Entry("l", SYMLINK, link_target="C:\\x")], "UNSAFE_LINK_TARGET"),
        ([Entry("l", SYMLINK, link_target="d"), Entry("l/under", DIRECTORY)], "PATH_CONFLICT"),
        ([file("f", b"f"), file("f/under", b"u")], "PATH_CONFLICT"),
    ],
)
async def test_invalid_manifests_write_nothing(
    records: Records, repo: FakeRecordRepository, presence: FakeBlobPresence, entries: list[Entry], reason: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        await records.commit(NS, "r", entries, None, [], replace=False)
    assert err.value.reason == reason
    assert repo.records == {} and presence.asked == [], "refused before any blob is looked up"


async def test_the_uuid_relations_and_size_are_checked(records: Records, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("", "-leading-dash", "has space", "x" * 129):
        with pytest.raises(InvalidArgument) as err:
            await records.commit(NS, bad, [], None, [], replace=False)
        assert err.value.reason == "INVALID_UUID"
    with pytest.raises(InvalidArgument) as rel:
        await records.commit(NS, "r", [], None, [Relation("no/slash")], replace=False)
    assert rel.value.metadata == {"field": "relations.related_uuid"}
    monkeypatch.setattr(limits, "MAX_ENTRIES", 2)
    with pytest.raises(InvalidArgument) as big:
        await records.commit(NS, "r", [Entry(p, DIRECTORY) for p in "abc"], None, [], replace=False)
    assert big.value.reason == "MANIFEST_TOO_LARGE"


async def test_replace_drops_entries_a_merge_keeps(records: Records, repo: FakeRecordRepository) -> None:
    await records.commit(NS, "r", [Entry("a", DIRECTORY), Entry("b", DIRECTORY)], None, [], replace=False)
    await records.commit(NS, "r", [Entry("c", DIRECTORY)], None, [], replace=False)
    assert [e.path for e in (await records.get(NS, "r")).entries] == ["a", "b", "c"]
    await records.commit(NS, "r", [Entry("c", DIRECTORY)], None, [], replace=True)
    assert [e.path for e in (await records.get(NS, "r")).entries] == ["c"]
