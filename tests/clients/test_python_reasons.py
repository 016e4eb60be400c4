"""The Python client's typed reasons: a known error's wire reason parses to the generated
ErrorReason value (the Go, TypeScript and Java suites check the same on their side)."""

from __future__ import annotations

import pytest

import artimeta
from artimeta.errors import typed_reason
from artimeta.v1 import error_reason_pb2
from tests.conftest import unique_name


async def test_a_known_error_has_its_typed_reason(aclient: artimeta.AsyncClient) -> None:
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.get_namespace(unique_name("missing"))
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    assert err.value.typed_reason == error_reason_pb2.ERROR_REASON_NAMESPACE_NOT_FOUND


def test_reasons_only_grpc_raises_are_unspecified() -> None:
    assert typed_reason("UNIMPLEMENTED") == error_reason_pb2.ERROR_REASON_UNSPECIFIED
    assert typed_reason("") == error_reason_pb2.ERROR_REASON_UNSPECIFIED
    assert typed_reason("TAG_MOVED") == error_reason_pb2.ERROR_REASON_TAG_MOVED
