"""The upper bound of a name-prefix range in byte (COLLATE "C") order."""

from __future__ import annotations

import random

import pytest

from artimeta_server.storage.listings.repository import prefix_end


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("", None),
        ("op-", "op."),
        ("a\U0010ffff", "b"),
        ("\U0010ffff\U0010ffff", None),
        ("x\ud7ff", "x\ue000"),
        ("é", "ê"),
    ],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


def _utf8_sorted(names: list[str]) -> list[str]:
    return sorted(names, key=lambda s: s.encode())


def test_the_range_holds_exactly_the_names_with_the_prefix() -> None:
    rng = random.Random(7)
    alphabet = ["a", "b", "z", "-", ".", "é", "\ud7ff", "\ue000", "\U0010ffff", "😀"]
    names = {"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4))) for _ in range(3000)}
    for prefix in ["a", "a\U0010ffff", "é", "\ud7ff", "z-", "😀a"]:
        end = prefix_end(prefix)
        in_range = {n for n in names if n.encode() >= prefix.encode() and (end is None or n.encode() < end.encode())}
        assert in_range == {n for n in names if n.startswith(prefix)}, prefix
    assert _utf8_sorted(list(names)) == sorted(names)  # code point order is UTF-8 byte order


@pytest.mark.parametrize("method", ["/artimeta.v1.CacheService/ListExecutions", "/artimeta.v1.OpStoreService/ListOps"])
def test_readers_may_list(method: str) -> None:
    import artimeta_server.rpc.cache
    import artimeta_server.rpc.opstore  # noqa: F401  (each declares its methods on import)
    from artimeta_server.domain.auth.models import Role
    from artimeta_server.rpc import access

    rule = access.rule_for(method)
    assert (rule.role, rule.field, rule.open) == (Role.READER, "namespace", False)


def test_timestamps_convert_as_from_datetime_does() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from google.protobuf import timestamp_pb2

    from artimeta_server.rpc.convert import timestamp

    rng = random.Random(3)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8)), None]
    for _ in range(2000):
        micros = rng.randint(-(10**16), 10**16)
        value = datetime(1970, 1, 1) + timedelta(microseconds=micros)
        value = value.replace(tzinfo=rng.choice(zones))
        expected = timestamp_pb2.Timestamp()
        expected.FromDatetime(value)
        assert timestamp(value) == expected, value
    assert timestamp(None) is None
