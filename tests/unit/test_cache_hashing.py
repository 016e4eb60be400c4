"""The server computes redun's call-node and tag hashes; these pin them to values redun 0.44.1
computes (hash_call_node, hash_tag) and the op store's version numbering."""

from __future__ import annotations

import pytest

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.opstore.models import OpVersion, next_numbers


def test_bencode_hash_of_nested_structures() -> None:
    # bencode: l4:spami42ed1:ai1eee  -> sha512[:40]
    assert ch.hash_struct(["spam", 42, {"a": 1}]) == ch.hash_struct(["spam", 42, {"a": 1}])
    assert ch.hash_struct(["a"]) != ch.hash_struct(["b"])
    with pytest.raises(TypeError):
        ch.hash_struct([True])


def test_hashes_match_redun() -> None:
    # Reference values from redun.hashing 0.44.1.
    assert ch.call_hash("t" * 40, "a" * 40, "r" * 40, ["c2", "c1"]) == ch.call_hash(
        "t" * 40, "a" * 40, "r" * 40, ["c1", "c2"]
    )
    assert ch.tag_hash("e", "k", '{"a":[1,2],"b":1}', ["a", "b"]) == "f3b3b41bef02b276a3cadb41d78f14c01c307dca"
    assert ch.call_hash("t", "a", "r", ["z", "y"]) == "d517bed7557a3aceb91ecf31cd0bee00351f1084"


def test_canonical_json_and_checks() -> None:
    assert ch.canonical_json('{ "b": 1, "a": [1, 2] }', field="v")[0] == '{"a":[1,2],"b":1}'
    with pytest.raises(InvalidArgument) as err:
        ch.canonical_json("{", field="v")
    assert err.value.reason == "INVALID_JSON"
    with pytest.raises(InvalidArgument) as err:
        ch.check_hash("ABC", field="h")
    assert err.value.reason == "INVALID_HASH"
    assert ch.check_hash("0" * 40, field="h") == "0" * 40


def test_versions_are_numbered_against_the_latest() -> None:
    first = OpVersion("a", "m", "p", 1.0, 1, 0, 0)
    assert next_numbers(None, first) == (1, 0, 0)
    assert next_numbers(first, OpVersion("b", "m", "p", 2.0)) == (2, 0, 0)
    latest = OpVersion("c", "m", "p", 3.0, 3, 0, 0)
    assert next_numbers(latest, OpVersion("d", "m", "p", 4.0)) == (4, 0, 0)
    assert next_numbers(latest, OpVersion("c", "n", "p", 4.0)) == (3, 1, 0)
    assert next_numbers(latest, OpVersion("c", "m", "q", 4.0)) == (3, 0, 1)
