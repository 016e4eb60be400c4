"""TagService's use cases over in-memory ports: supersession through edit edges, deletion as a
Null tag, history, search pages, and validation before any write."""

from __future__ import annotations

from typing import cast

import pytest

from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.tags.service import Tags
from tests.unit.domain.connection.fakes import FakeNamespaces
from tests.unit.domain.tags.fakes import FakeTagRepository


def _tags() -> tuple[Tags, FakeTagRepository]:
    repo = FakeTagRepository()
    return Tags(repo, cast(Namespaces, FakeNamespaces("ns"))), repo


async def test_recording_the_same_tag_twice_is_one_tag() -> None:
    tags, repo = _tags()
    first = await tags.record("ns", "Execution", "e1", [("env", '{"b": 1, "a": 2}')])
    again = await tags.record("ns", "Execution", "e1", [("env", '{"a":2,"b":1}')])
    assert [t.tag_hash for t in first] == [t.tag_hash for t in again]
    assert first[0].value_json == '{"a":2,"b":1}' and first[0].is_current
    assert len(repo.store.tags) == 1


async def test_an_update_supersedes_the_current_tag_of_its_key() -> None:
    tags, _ = _tags()
    (old,) = await tags.record("ns", "Execution", "e1", [("env", '"dev"')])
    (new,) = await tags.update("ns", "Execution", "e1", ["env"], [("env", '"prod"')])
    assert new.parents == [old.tag_hash] and new.is_current
    history = await tags.history("ns", "e1", "env")
    assert [(t.value_json, t.is_current) for t in history] == [('"dev"', False), ('"prod"', True)]
    current = await tags.get("ns", ["e1", "e1", "nobody"])
    assert [t.value_json for t in current["e1"]] == ['"prod"'] and "nobody" not in current


async def test_record_with_update_supersedes_like_update() -> None:
    tags, _ = _tags()
    (old,) = await tags.record("ns", "Job", "j", [("k", "1")])
    (new,) = await tags.record("ns", "Job", "j", [("k", "2")], update=True)
    assert new.parents == [old.tag_hash]
    assert [t.value_json for t in (await tags.get("ns", ["j"]))["j"]] == ["2"]


async def test_a_new_tag_equal_to_a_superseded_one_comes_back_current() -> None:
    tags, _ = _tags()
    (dev,) = await tags.record("ns", "Task", "t", [("env", '"dev"')])
    await tags.update("ns", "Task", "t", ["env"], [("env", '"prod"')])
    # "dev" again: the same hash is superseded already, so an edit chain leads to a current leaf.
    await tags.record("ns", "Task", "t", [("env", '"dev"')], parents=[], new=True)
    current = (await tags.get("ns", ["t"]))["t"]
    assert [t.value_json for t in current] == ['"prod"', '"dev"']
    assert all(t.tag_hash != dev.tag_hash for t in current)
    assert any(dev.tag_hash in t.parents for t in current)


async def test_delete_supersedes_with_a_null_tag() -> None:
    tags, _ = _tags()
    rows = await tags.record("ns", "Value", "v", [("a", "1"), ("b", "2"), ("c", "3")])
    (null,) = await tags.delete("ns", "v", [("a", "1")], ["b"])
    assert null.entity_type == "Null" and null.entity_id == "" and null.key == ""
    assert null.parents == sorted(t.tag_hash for t in rows[:2])
    assert [t.key for t in (await tags.get("ns", ["v"]))["v"]] == ["c"]


async def test_search_pages_through_current_tags() -> None:
    tags, _ = _tags()
    for i in range(5):
        await tags.record("ns", "Execution", f"e{i}", [("team", '"ml"')])
    await tags.record("ns", "Job", "j", [("team", '"ml"')])
    first = await tags.search("ns", "team", '"ml"', "Execution", 3, "")
    rest = await tags.search("ns", "team", '"ml"', "Execution", 3, first.next_page_token)
    assert [t.entity_id for t in first.items + rest.items] == [f"e{i}" for i in range(5)]
    assert rest.next_page_token == ""


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda t: t.record("ns", "Planet", "e", [("k", "1")]), "INVALID_ENTITY_TYPE"),
        (lambda t: t.record("ns", "Execution", "e", [("k", "{not json")]), None),
        (lambda t: t.record("ns", "Execution", "", [("k", "1")]), None),
        (lambda t: t.get("ns", ["e"] * 10_001), "TOO_MANY_ITEMS"),
    ],
)
async def test_bad_input_is_refused_before_any_write(call, reason: str | None) -> None:
    tags, repo = _tags()
    with pytest.raises(InvalidArgument) as err:
        await call(tags)
    assert reason is None or err.value.reason == reason
    assert repo.store.tags == {}


async def test_nothing_to_record_writes_nothing() -> None:
    tags, repo = _tags()
    assert await tags.record("ns", "Execution", "e", []) == []
    assert repo.store.tags == {}
