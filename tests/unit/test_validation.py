from __future__ import annotations

import base64
import json

import pytest

from artimeta_server.domain import validation
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.pagination import decode_token, encode_token, page_size


@pytest.mark.parametrize("name", ["a", "team-a", "x.y_z-1", "a" * 63, "0abc"])
def test_good_namespace_names(name: str) -> None:
    assert validation.namespace_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "-a", "a-", "a" * 64, "a b", "ä", "a/b", "a\x00"])
def test_bad_namespace_names(name: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validation.namespace_name(name)
    assert err.value.reason == "INVALID_NAME"


def test_labels_limits() -> None:
    assert validation.labels({"k": "v"}) == {"k": "v"}
    with pytest.raises(InvalidArgument):
        validation.labels({"": "v"})
    with pytest.raises(InvalidArgument):
        validation.labels({f"k{i}": "v" for i in range(65)})


def test_page_tokens_round_trip_and_reject_forgeries() -> None:
    token = encode_token("ns", ["team-a"])
    assert decode_token("ns", token, (str,)) == ["team-a"]
    assert decode_token("ns", "", (str,)) is None
    for bad in ["!!!", "bm90IGpzb24", encode_token("other", ["x"])]:
        with pytest.raises(InvalidArgument) as err:
            decode_token("ns", bad, (str,))
        assert err.value.reason == "INVALID_PAGE_TOKEN"


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("token", "types"),
    [
        (encode_token("ns", ["a\x00b"]), (str,)),  # NUL: Postgres text cannot hold it
        (_raw('["ns",["\\ud800"]]'), (str,)),  # a lone surrogate, as a JSON escape
        (encode_token("moves", [2**63]), (int,)),  # beyond int64
        (encode_token("moves", [-(2**63) - 1]), (int,)),
        (encode_token("moves", [1.5]), (int,)),
        (encode_token("moves", [True]), (int,)),
        (encode_token("moves", [None]), (int,)),
        (encode_token("ns", [{"a": 1}]), (str,)),
        (encode_token("ns", [["x"]]), (str,)),
        (encode_token("ns", ["x", "y"]), (str,)),
        (encode_token("ns", ["x" * 5000]), (str,)),
        (_raw('["moves",[NaN]]'), (int,)),
        (_raw('["ns",' + "[" * 100_000 + "]" * 100_000 + "]"), (str,)),  # deeper than the parser's stack
        ("A" * 10_000, (str,)),
    ],
)
def test_page_tokens_that_no_list_returned_are_refused(token: str, types: tuple[type, ...]) -> None:
    kind = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))[0] if len(token) < 200 else "ns"
    with pytest.raises(InvalidArgument) as err:
        decode_token(kind, token, types)
    assert err.value.reason == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize(
    "text",
    [
        '"\\u0000"',
        '{"\\ud800":1}',
        '["\\udfff"]',
        "NaN",
        "-Infinity",
        "1e400",
        "[" * 65 + "]" * 65,
        "[" * 50_000 + "]" * 50_000,
        "{",
        "",
    ],
)
def test_json_values_postgres_or_clients_cannot_hold_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validation.json_value(text, field="value_json")
    assert err.value.reason in ("INVALID_JSON", "INVALID_CHARACTER")
    assert err.value.metadata["field"] == "value_json"


def test_json_values_within_the_rules_pass() -> None:
    assert validation.json_value('{"a":[1,"é",null,1e300]}', field="f") == {"a": [1, "é", None, 1e300]}
    assert validation.json_value("[" * 64 + "]" * 64, field="f") is not None


def test_page_size() -> None:
    assert page_size(0) == 100
    assert page_size(5000) == 1000
    with pytest.raises(InvalidArgument):
        page_size(-1)


def test_digest_parse() -> None:
    d = Digest.of(b"abc")
    assert Digest.parse(d.hash, 3) == d
    with pytest.raises(InvalidArgument):
        Digest.parse("XYZ", 3)
    with pytest.raises(InvalidArgument):
        Digest.parse(d.hash, -1)
