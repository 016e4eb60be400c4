"""Checks on request fields shared by every service."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?$")
MAX_DESCRIPTION = 4096
MAX_LABELS = 64
MAX_LABEL_KEY = 63
MAX_LABEL_VALUE = 256


def namespace_name(name: str) -> str:
    if not name:
        raise InvalidArgument("namespace name is empty", reason=Reason.INVALID_NAME, metadata={"field": "name"})
    if len(name) > 63:
        raise InvalidArgument(
            f"namespace name is {len(name)} characters long; at most 63 are allowed",
            reason=Reason.INVALID_NAME,
            metadata={"field": "name"},
        )
    if not _NAME.match(name):
        raise InvalidArgument(
            "namespace name must be lower-case letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit",
            reason=Reason.INVALID_NAME,
            metadata={"field": "name"},
        )
    return name


def text(value: str, *, field: str, max_len: int, required: bool = False) -> str:
    if required and not value:
        raise InvalidArgument(f"{field} is empty", reason=Reason.EMPTY_FIELD, metadata={"field": field})
    if len(value) > max_len:
        raise InvalidArgument(
            f"{field} is {len(value)} characters long; at most {max_len} are allowed",
            reason=Reason.FIELD_TOO_LONG,
            metadata={"field": field},
        )
    if "\x00" in value:
        raise InvalidArgument(
            f"{field} contains a NUL character", reason=Reason.INVALID_CHARACTER, metadata={"field": field}
        )
    return value


def labels(values: Mapping[str, str]) -> dict[str, str]:
    if len(values) > MAX_LABELS:
        raise InvalidArgument(
            f"{len(values)} labels; at most {MAX_LABELS} are allowed",
            reason=Reason.INVALID_LABELS,
            metadata={"field": "labels"},
        )
    for key, value in values.items():
        if not key or len(key) > MAX_LABEL_KEY or len(value) > MAX_LABEL_VALUE or "\x00" in key + value:
            raise InvalidArgument(
                f"label {key[:64]!r} is empty, too long or holds a NUL character",
                reason=Reason.INVALID_LABELS,
                metadata={"field": "labels"},
            )
    return dict(values)


MAX_JSON_DEPTH = 64
BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def clean_text(value: str, *, field: str) -> str:
    """`value` if Postgres text can hold it: no NUL, no lone surrogate."""
    bad = BAD_CHAR.search(value)
    if bad is not None:
        what = "a NUL character" if bad.group() == "\x00" else "a lone surrogate (not valid Unicode)"
        raise InvalidArgument(f"{field} contains {what}", reason=Reason.INVALID_CHARACTER, metadata={"field": field})
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range")
    return value


def _json_tree(value: Any, field: str, depth: int) -> None:
    """`depth`: how many arrays and objects hold `value`."""
    if isinstance(value, str):
        clean_text(value, field=field)
        return
    if not isinstance(value, (list, dict)):
        return
    if depth >= MAX_JSON_DEPTH:
        raise InvalidArgument(
            f"{field} nests arrays and objects deeper than {MAX_JSON_DEPTH} levels",
            reason=Reason.INVALID_JSON,
            metadata={"field": field},
        )
    if isinstance(value, list):
        for item in value:
            _json_tree(item, field, depth + 1)
    else:
        for key, item in value.items():
            clean_text(key, field=field)
            _json_tree(item, field, depth + 1)


def json_value(text: str, *, field: str) -> Any:
    """The value of a JSON text that Postgres jsonb (and every client's JSON parser) can hold: no
    NaN or infinities, no NUL or lone surrogate in any string or key, at most MAX_JSON_DEPTH deep."""
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise InvalidArgument(
            f"{field} is not valid JSON", reason=Reason.INVALID_JSON, metadata={"field": field}
        ) from None
    _json_tree(value, field, 0)
    return value


def int64(value: int, *, field: str) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgument(
            f"{field} is beyond a signed 64-bit integer", reason=Reason.OUT_OF_RANGE, metadata={"field": field}
        )
    return value
