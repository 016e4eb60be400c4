"""Limits and checks of the fields of Connection's requests."""

from __future__ import annotations

from collections.abc import Sequence

from artimeta_server.domain import validation
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

MAX_NAME = 1024
MAX_TAG = 255
MAX_FORMAT = 255
MAX_ACTOR = 255
MAX_CODE_REF = 1024
MAX_CODE_REFS = 10_000


def graph_name(name: str, field: str = "name") -> str:
    return validation.text(name, field=field, max_len=MAX_NAME, required=True)


def tag_name(tag: str) -> str:
    return validation.text(tag, field="tag", max_len=MAX_TAG, required=True)


def artifact_key(key: str) -> str:
    return validation.text(key, field="artifact_key", max_len=MAX_NAME, required=True)


def code_refs(refs: Sequence[str]) -> tuple[str, ...]:
    if len(refs) > MAX_CODE_REFS:
        raise InvalidArgument(
            f"{len(refs)} code_refs; at most {MAX_CODE_REFS} are allowed",
            reason=Reason.FIELD_TOO_LONG,
            metadata={"field": "code_refs"},
        )
    for ref in refs:
        validation.text(ref, field="code_refs", max_len=MAX_CODE_REF, required=True)
    return tuple(refs)
