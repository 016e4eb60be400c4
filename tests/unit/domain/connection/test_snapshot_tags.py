"""Snapshot tag writes over in-memory ports: the overwrite and compare-and-swap rules, the race of
two creators, the history of moves and read-your-writes of the tag cache."""

from __future__ import annotations

import pytest

from artimeta_server.domain.connection.models import Snapshot, SnapshotTag
from artimeta_server.domain.connection.snapshot_tags import check_write
from artimeta_server.domain.errors import Aborted, AlreadyExists, NotFound
from artimeta_server.domain.fresh import tag_key
from tests.unit.domain.connection.fakes import NOW, connections


async def _with_snapshots(*fingerprints: int):
    conns, repo, _blobs, fresh = connections()
    for fp in fingerprints:
        await conns.write_snapshot("ns", Snapshot("g", fp, fp, 1, b"doc", "json", ()))
    return conns, repo, fresh


async def test_a_new_tag_is_created_without_overwrite() -> None:
    conns, repo, _ = await _with_snapshots(10)
    written = await conns.write_snapshot_tag("ns", "g", "prod", 10, overwrite=False, expected=None, actor="ci")
    assert written.previous_snapshot_fingerprint is None
    assert written.tag == SnapshotTag("g", "prod", 10, "ci", NOW)
    assert repo.tags[(1, "g", "prod")].snapshot_fingerprint == 10


async def test_an_existing_tag_is_not_moved_without_overwrite() -> None:
    conns, repo, _ = await _with_snapshots(10, 11)
    await conns.write_snapshot_tag("ns", "g", "prod", 10, overwrite=False, expected=None, actor="")
    with pytest.raises(AlreadyExists) as err:
        await conns.write_snapshot_tag("ns", "g", "prod", 11, overwrite=False, expected=None, actor="")
    assert err.value.reason == "TAG_EXISTS"
    assert err.value.metadata == {"name": "g", "tag": "prod", "snapshot_fingerprint": "10"}
    assert repo.tags[(1, "g", "prod")].snapshot_fingerprint == 10
    assert len(repo.moves) == 1


async def test_overwrite_moves_the_tag_and_returns_where_it_was() -> None:
    conns, _repo, _ = await _with_snapshots(10, 11)
    await conns.write_snapshot_tag("ns", "g", "prod", 10, overwrite=False, expected=None, actor="a")
    moved = await conns.write_snapshot_tag("ns", "g", "prod", 11, overwrite=True, expected=None, actor="b")
    assert moved.previous_snapshot_fingerprint == 10 and moved.tag.snapshot_fingerprint == 11
    assert moved.tag.actor == "b"


async def test_compare_and_swap_moves_only_from_the_expected_snapshot() -> None:
    conns, repo, _ = await _with_snapshots(10, 11, 12)
    await conns.write_snapshot_tag("ns", "g", "prod", 10, overwrite=False, expected=None, actor="")
    # An expected value implies overwrite.
    swapped = await conns.write_snapshot_tag("ns", "g", "prod", 11, overwrite=False, expected=10, actor="")
    assert swapped.previous_snapshot_fingerprint == 10
    with pytest.raises(Aborted) as err:
        await conns.write_snapshot_tag("ns", "g", "prod", 12, overwrite=False, expected=10, actor="")
    assert err.value.reason == "TAG_MOVED"
    assert err.value.metadata["snapshot_fingerprint"] == "11"
    assert err.value.metadata["expected_snapshot_fingerprint"] == "10"
    assert repo.tags[(1, "g", "prod")].snapshot_fingerprint == 11


async def test_compare_and_swap_of_a_missing_tag_is_aborted_and_creates_nothing() -> None:
    conns, repo, _ = await _with_snapshots(10)
    with pytest.raises(Aborted) as err:
        await conns.write_snapshot_tag("ns", "g", "prod", 10, overwrite=True, expected=3, actor="")
    assert err.value.reason == "TAG_MOVED" and "snapshot_fingerprint" not in err.value.metadata
    assert repo.tags == {} and repo.moves == []


async def test_a_creator_that_loses_the_race_sees_the_winners_tag() -> None:
    conns, repo, _ = await _with_snapshots(10, 11)
    repo.race = SnapshotTag("g", "prod", 11, "other", NOW)
    with pytest.raises(AlreadyExists) as err:
        await conns.write_snapshot_tag("ns", "g", "prod", 10, overwrite=False, expected=None, actor="me")
    assert err.value.metadata["snapshot_fingerprint"] == "11"


async def test_an_overwriting_creator_that_loses_the_race_moves_the_winners_tag() -> None:
    conns, repo, _ = await _with_snapshots(10, 11)
    repo.race = SnapshotTag("g", "prod", 11, "other", NOW)
    written = await conns.write_snapshot_tag("ns", "g", "prod", 10, overwrite=True, expected=None, actor="me")
    assert written.previous_snapshot_fingerprint == 11 and written.tag.snapshot_fingerprint == 10


async def test_a_tag_on_a_snapshot_never_written_is_not_found() -> None:
    conns, repo, _ = await _with_snapshots()
    with pytest.raises(NotFound) as err:
        await conns.write_snapshot_tag("ns", "g", "prod", 99, overwrite=False, expected=None, actor="")
    assert err.value.reason == "SNAPSHOT_NOT_FOUND"
    assert repo.tags == {} and repo.moves == []


async def test_every_move_is_in_the_history_newest_first() -> None:
    conns, _, _ = await _with_snapshots(10, 11, 12)
    for fp in (10, 11, 12):
        await conns.write_snapshot_tag("ns", "g", "prod", fp, overwrite=True, expected=None, actor=str(fp))
    first = await conns.tag_history("ns", "g", "prod", 2, "")
    assert [(m.from_snapshot_fingerprint, m.to_snapshot_fingerprint) for m in first.items] == [(11, 12), (10, 11)]
    rest = await conns.tag_history("ns", "g", "prod", 2, first.next_page_token)
    assert [(m.from_snapshot_fingerprint, m.to_snapshot_fingerprint) for m in rest.items] == [(None, 10)]
    assert rest.next_page_token == ""


async def test_a_write_evicts_the_cached_tag_even_when_it_fails() -> None:
    conns, _repo, fresh = await _with_snapshots(10, 11)
    await conns.write_snapshot_tag("ns", "g", "prod", 10, overwrite=False, expected=None, actor="")
    tag, snap = await conns.read_snapshot_tag("ns", "g", "prod")
    assert fresh.get(tag_key(1, "g", "prod")) == tag and snap.fingerprint == 10
    with pytest.raises(AlreadyExists):
        await conns.write_snapshot_tag("ns", "g", "prod", 11, overwrite=False, expected=None, actor="")
    assert fresh.get(tag_key(1, "g", "prod")) is None
    await conns.write_snapshot_tag("ns", "g", "prod", 11, overwrite=True, expected=None, actor="")
    tag, snap = await conns.read_snapshot_tag("ns", "g", "prod")
    assert tag.snapshot_fingerprint == 11 and snap.fingerprint == 11


async def test_a_missing_tag_is_not_found_and_not_cached() -> None:
    conns, _repo, fresh = await _with_snapshots(10)
    with pytest.raises(NotFound) as err:
        await conns.read_snapshot_tag("ns", "g", "prod")
    assert err.value.reason == "TAG_NOT_FOUND"
    assert fresh.get(tag_key(1, "g", "prod")) is None


@pytest.mark.parametrize(
    ("current", "overwrite", "expected", "error"),
    [
        (None, False, None, None),
        (None, True, None, None),
        (None, False, 5, Aborted),
        (5, False, None, AlreadyExists),
        (5, True, None, None),
        (5, False, 5, None),
        (5, True, 6, Aborted),
    ],
)
def test_the_rule_table(current: int | None, overwrite: bool, expected: int | None, error: type | None) -> None:
    if error is None:
        check_write("g", "t", current, overwrite=overwrite, expected=expected)
    else:
        with pytest.raises(error):
            check_write("g", "t", current, overwrite=overwrite, expected=expected)
