"""Partition canonicalization and validation, the response framing, the bounded cache and page
tokens of ConnectionService (no I/O)."""

from __future__ import annotations

import pytest

from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import partition_pb2 as ppb
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.pagination import decode_token, encode_token
from artimeta_server.rpc.partitions import batch, framed, input_filter


def _p(**keys: int) -> ppb.StoragePartition:
    p = ppb.StoragePartition(type="m:P", fields=b"{}", input_fingerprint=3)
    for name, v in keys.items():
        p.keys.keys[name].int64_key = v
    return p


def test_the_canonical_form_ignores_map_order_and_empty_keys() -> None:
    a, b = _p(x=1, y=2), _p(y=2, x=1)
    empty = ppb.StoragePartition(type="m:P")
    empty.keys.SetInParent()
    plain = ppb.StoragePartition(type="m:P")
    got = batch([a, b, empty, plain])
    assert got.idents[0] == got.idents[1] and got.bodies[0] == got.bodies[1]
    assert got.idents[2] == got.idents[3] and got.keys[2] == got.keys[3] == b""
    assert got.input_fingerprints == [3, 3, None, None]
    assert len(set(got.idents)) == 2


@pytest.mark.parametrize("names", [1, 3, 40, 2000])
def test_canonical_keys_and_identity_are_those_of_the_deterministic_encoding(names: int) -> None:
    # Composite keys of 1 to 3 length bytes in the body (the keys' bytes are sliced from it).
    import hashlib

    p = _p(**{f"key_{i}": i - 7 for i in range(names)})
    p.keys.keys["day"].date_key.year, p.keys.keys["day"].date_key.month, p.keys.keys["day"].date_key.day = 2024, 2, 29
    want_keys = p.keys.SerializeToString(deterministic=True)
    want_body = p.SerializeToString(deterministic=True)
    got = batch([p])
    assert got.keys == [want_keys] and got.bodies == [want_body]
    assert got.idents == [hashlib.blake2b(want_body, digest_size=16).digest()]


def test_zero_and_unset_fingerprints_differ() -> None:
    zero = ppb.StoragePartition(type="m:P", input_fingerprint=0)
    unset = ppb.StoragePartition(type="m:P")
    got = batch([zero, unset])
    assert got.input_fingerprints == [0, None] and got.idents[0] != got.idents[1]


@pytest.mark.parametrize(
    "kind, value",
    [("int8_key", 128), ("int8_key", -129), ("int16_key", 40000)],
)
def test_out_of_range_keys(kind: str, value: int) -> None:
    p = ppb.StoragePartition(type="m:P")
    setattr(p.keys.keys["k"], kind, value)
    with pytest.raises(InvalidArgument) as err:
        batch([p])
    assert err.value.reason == "INVALID_PARTITION_KEY"


def test_filter_entries() -> None:
    a, b = ppb.InputFingerprint(fingerprint=1), ppb.InputFingerprint()
    a.keys.keys["x"].int64_key = 1
    got = input_filter([a, b])
    assert got is not None and got.fingerprints == [1, None]
    assert got.keys == [a.keys.SerializeToString(deterministic=True), b""]
    dup = ppb.InputFingerprint()
    dup.keys.keys["a"].int32_key = 1
    with pytest.raises(InvalidArgument):
        input_filter([dup, dup])
    assert input_filter([]) is None


def test_framing_is_the_wire_encoding_of_repeated_partitions() -> None:
    parts = [_p(x=i) for i in range(3)] + [ppb.StoragePartition(type="m:P", fields=b"v" * 20_000)]
    bodies = [p.SerializeToString(deterministic=True) for p in parts]
    msg = pb.ReadArtifactPartitionsResponse.FromString(framed(bodies))
    assert list(msg.partitions) == parts


def test_page_tokens_are_checked() -> None:
    assert decode_token("graphs", "", (str, int)) is None
    assert decode_token("graphs", encode_token("graphs", ["g", 3]), (str, int)) == ["g", 3]
    for bad in (encode_token("graphs", ["g"]), encode_token("graphs", [1, 3]), encode_token("tags", ["g", 3])):
        with pytest.raises(InvalidArgument):
            decode_token("graphs", bad, (str, int))
