"""Checks on request fields shared by every service."""

from __future__ import annotations

import re
from collections.abc import Mapping

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
