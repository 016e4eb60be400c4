"""The upper bound of a name-prefix range in byte (COLLATE "C") order."""

from __future__ import annotations

import random

import pytest

from artimeta_server.storage.listings import prefix_end


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
