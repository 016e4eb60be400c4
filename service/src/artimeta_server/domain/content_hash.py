"""The hashes redun gives call nodes and tags (bencode of a list, sha512 cut to 40 hex), computed
by the server so that clients in any language get the same identities."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from artimeta_server.domain import validation
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
MAX_TEXT = 4096


def _bencode(data: Any, out: list[bytes]) -> None:
    if isinstance(data, bool):
        raise TypeError("booleans are not bencodable")
    if isinstance(data, int):
        out.append(b"i%de" % data)
    elif isinstance(data, (str, bytes)):
        raw = data.encode() if isinstance(data, str) else data
        out.append(b"%d:" % len(raw))
        out.append(raw)
    elif isinstance(data, Mapping):
        out.append(b"d")
        for key, value in sorted(data.items()):
            _bencode(key, out)
            _bencode(value, out)
        out.append(b"e")
    elif isinstance(data, Iterable):
        out.append(b"l")
        for item in data:
            _bencode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"{type(data).__name__} is not bencodable")


def hash_struct(struct: Any) -> str:
    out: list[bytes] = []
    _bencode(struct, out)
    return hashlib.sha512(b"".join(out)).hexdigest()[:40]


def call_hash(task_hash: str, args_hash: str, result_hash: str, child_call_hashes: Iterable[str]) -> str:
    return hash_struct(["CallNode", task_hash, args_hash, result_hash, sorted(child_call_hashes)])


def argument_hash(call_hash_: str, position: int | None, key: str | None, value_hash: str) -> str:
    return hash_struct(["Argument", call_hash_, str(position), str(key), value_hash])


def canonical_json(value_json: str, *, field: str) -> tuple[str, Any]:
    """The canonical text (sorted keys, no spaces, as redun writes it) and the parsed value."""
    value = validation.json_value(value_json, field=field)
    return json.dumps(value, separators=(",", ":"), sort_keys=True), value


def tag_hash(entity_id: str, key: str, canonical_value: str, parents: list[str]) -> str:
    return hash_struct(["Tag", entity_id, key, canonical_value, parents])


def check_hash(value: str, *, field: str, required: bool = True) -> str:
    if not value and not required:
        return value
    if not _HEX40.match(value):
        raise InvalidArgument(
            f"{field} must be 40 lower-case hex characters, got {value[:64]!r}",
            reason=Reason.INVALID_HASH,
            metadata={"field": field},
        )
    return value


def check_hashes(values: Iterable[str], *, field: str) -> list[str]:
    return [check_hash(v, field=field) for v in values]


def check_text(value: str, *, field: str, required: bool = True, max_len: int = MAX_TEXT) -> str:
    return validation.text(value, field=field, max_len=max_len, required=required)
