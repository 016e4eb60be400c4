"""redun's record sync: JSON in, typed records to storage, the same JSON out; what is refused and
what is left out."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from artimeta_server.domain.cache.models import StoredValue, ValueIn
from artimeta_server.domain.cache.sync_codec import dump_record, parse_record
from artimeta_server.domain.cache.sync_models import CallNodeRecord, TagRecord
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason
from tests.unit.domain.cache.fakes import Fakes, fakes, h

T = "2026-01-02T03:04:05+00:00"


def execution(eid: str = "e1", job: str | None = "j1") -> dict[str, Any]:
    return {"_type": "Execution", "id": eid, "args": ["run", "x"], "job_id": job, "updated_time": T}


def job(jid: str = "j1") -> dict[str, Any]:
    return {
        "_type": "Job",
        "id": jid,
        "task_hash": h("task"),
        "execution_id": "e1",
        "parent_id": None,
        "call_hash": h("call"),
        "cached": False,
        "status": "DONE",
        "start_time": T,
        "end_time": T,
        "children": [],
    }


def call_node() -> dict[str, Any]:
    return {
        "_type": "CallNode",
        "call_hash": h("call"),
        "task_name": "t",
        "task_hash": h("task"),
        "args_hash": h("args"),
        "value_hash": h("v"),
        "timestamp": T,
        "children": [h("child")],
        "subtree_tasks": [h("task")],
        "arguments": [
            {"arg_hash": h("arg"), "value_hash": h("x"), "arg_position": 0, "arg_key": None, "upstream": [h("up")]}
        ],
    }


def value(label: str, data: bytes) -> dict[str, Any]:
    return {
        "_type": "Value",
        "value_hash": h(label),
        "type": "builtins.bytes",
        "format": "",
        "value": base64.b64encode(data).decode(),
    }


def tag() -> dict[str, Any]:
    return {
        "_type": "Tag",
        "tag_hash": h("tag"),
        "entity_type": "Call",
        "entity_id": h("call"),
        "key": "env",
        "value": {"b": 1, "a": [True, None]},
        "parents": [h("old-tag")],
        "timestamp": T,
    }


_ID_FIELD = {"Execution": "id", "Job": "id", "CallNode": "call_hash", "Value": "value_hash", "Tag": "tag_hash"}


def ident(rec: dict[str, Any]) -> str:
    return str(rec[_ID_FIELD[rec["_type"]]])


def wire(*recs: dict[str, Any]) -> list[tuple[str, str]]:
    return [(ident(r), json.dumps(r)) for r in recs]


@pytest.fixture
def f() -> Fakes:
    return fakes()


@pytest.mark.parametrize("rec", [execution(), job(), call_node(), tag()], ids=lambda r: r["_type"])
def test_the_codec_gives_back_the_json_it_took(rec: dict[str, Any]) -> None:
    parsed = parse_record(0, ident(rec), json.dumps(rec))
    assert not isinstance(parsed, ValueIn)
    assert json.loads(dump_record(parsed)) == rec


def test_a_value_record_is_its_bytes_in_and_its_row_out() -> None:
    parsed = parse_record(0, h("v"), json.dumps(value("v", b"\x00\x01")))
    assert parsed == ValueIn(h("v"), "builtins.bytes", "", b"\x00\x01")
    row = StoredValue(h("v"), "builtins.bytes", "", b"\x00\x01", None, 2)
    assert json.loads(dump_record(row, b"\x00\x01")) == value("v", b"\x00\x01")


def test_a_tag_value_is_kept_as_canonical_json() -> None:
    parsed = parse_record(0, h("tag"), json.dumps(tag()))
    assert isinstance(parsed, TagRecord) and parsed.value_json == '{"a":[true,null],"b":1}'


def test_a_call_node_lists_its_subtree_once_sorted_and_its_upstream_once() -> None:
    rec = call_node() | {"subtree_tasks": [h("b"), h("a"), h("b")]}
    rec["arguments"][0]["upstream"] = [h("up"), h("up")]
    parsed = parse_record(0, h("call"), json.dumps(rec))
    assert isinstance(parsed, CallNodeRecord)
    assert parsed.subtree_tasks == tuple(sorted([h("a"), h("b")]))
    assert parsed.arguments[0].upstream == (h("up"),)


async def test_records_round_trip_through_put_and_get(f: Fakes) -> None:
    sync = f.cache(blob_threshold=16).records
    recs = [execution(), job(), call_node(), value("small", b"s"), value("large", b"L" * 40), tag()]
    assert await sync.put_records("ns", wire(*recs)) == 6
    assert f.blobs.puts == 1  # the large value's bytes, before its row
    (batch,) = f.records.batches
    assert [len(batch.executions), len(batch.jobs), len(batch.call_nodes), len(batch.values), len(batch.tags)] == [
        1,
        1,
        1,
        2,
        1,
    ]
    got = await sync.get_records("ns", [ident(r) for r in reversed(recs)] + ["unknown"])
    assert [i for i, _ in got] == [ident(r) for r in reversed(recs)]
    assert [json.loads(text) for _, text in got] == list(reversed(recs))


async def test_records_the_namespace_has_are_not_written_again(f: Fakes) -> None:
    sync = f.cache().records
    assert await sync.put_records("ns", wire(execution(), job())) == 2
    assert await sync.put_records("ns", wire(execution(), job("j2"), job("j2"))) == 1
    assert [j.id for j in f.records.batches[1].jobs] == ["j2"]
    assert f.records.batches[1].executions == ()
    assert await sync.put_records("other", wire(execution())) == 1  # another namespace lacks it


async def test_a_value_whose_blob_is_gone_is_left_out_of_get(f: Fakes) -> None:
    sync = f.cache(blob_threshold=16).records
    await sync.put_records("ns", wire(value("large", b"L" * 40), value("small", b"s")))
    f.blobs.objects.clear()
    assert [i for i, _ in await sync.get_records("ns", [h("large"), h("small")])] == [h("small")]


@pytest.mark.parametrize(
    ("text", "rid"),
    [
        ("{not json", "e1"),
        (json.dumps(["Execution"]), "e1"),
        (json.dumps({"_type": "Unknown", "id": "e1"}), "e1"),
        (json.dumps(execution()), "e2"),  # the id differs from the record's
        (json.dumps({"_type": "Job", "id": "j1"}), "j1"),  # required fields missing
        (json.dumps(job() | {"cached": "yes"}), "j1"),
        (json.dumps(job() | {"start_time": "yesterday"}), "j1"),
        (json.dumps(value("v", b"1") | {"value": "abc"}), h("v")),
        (json.dumps(call_node() | {"arguments": [{"arg_hash": h("a")}]}), h("call")),
        (json.dumps(call_node() | {"arguments": [call_node()["arguments"][0] | {"arg_position": 2**31}]}), h("call")),
        (json.dumps(tag() | {"tag_hash": "short"}), "short"),
    ],
)
async def test_a_malformed_record_is_refused_naming_its_index(f: Fakes, text: str, rid: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await f.cache().records.put_records("ns", [*wire(execution("e0")), (rid, text)])
    assert exc.value.reason == Reason.INVALID_RECORD and exc.value.metadata == {"index": "1"}
    assert f.records.batches == []


async def test_a_new_call_node_with_a_bad_argument_hash_writes_nothing(f: Fakes) -> None:
    rec = call_node()
    rec["arguments"][0]["arg_hash"] = "not-a-hash"
    with pytest.raises(InvalidArgument) as exc:
        await f.cache(blob_threshold=16).records.put_records("ns", wire(value("large", b"L" * 40), rec))
    assert exc.value.reason == Reason.INVALID_HASH and exc.value.metadata == {"field": "arguments.arg_hash"}
    assert f.records.batches == [] and f.blobs.puts == 0


async def test_too_many_records_are_refused(f: Fakes) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await f.cache().records.put_records("ns", wire(execution()) * 10_001)
    assert exc.value.reason == Reason.TOO_MANY_ITEMS and exc.value.metadata == {"field": "records"}


async def test_record_ids_are_walked_breadth_first_once_each(f: Fakes) -> None:
    sync = f.cache().records
    node = call_node() | {"children": [], "value_hash": h("v"), "arguments": []}
    await sync.put_records("ns", wire(execution(), job(), node, value("v", b"1")))
    layers = [layer async for layer in sync.iter_record_ids("ns", ["e1", "e1", "unknown"])]
    assert layers == [["e1"], ["j1"], [h("call")], [h("v")]]
    assert [layer async for layer in sync.iter_record_ids("ns", ["unknown"])] == []
