from __future__ import annotations

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
    assert decode_token("ns", token) == ["team-a"]
    assert decode_token("ns", "") is None
    for bad in ["!!!", "bm90IGpzb24", encode_token("other", ["x"])]:
        with pytest.raises(InvalidArgument) as err:
            decode_token("ns", bad)
        assert err.value.reason == "INVALID_PAGE_TOKEN"


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
