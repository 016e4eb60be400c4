"""redun's adapter suite: runs in .venvs/redun against the server named by ARTIMETA_TARGET."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from artimeta import Client


@pytest.fixture(scope="session")
def target() -> str:
    value = os.environ.get("ARTIMETA_TARGET")
    if not value:
        pytest.skip("ARTIMETA_TARGET is not set")
    return value


@pytest.fixture
def namespace(target: str) -> Iterator[str]:
    name = f"redun-{uuid.uuid4().hex[:16]}"
    yield name
    with Client(target) as client:
        client.delete_namespace(name, allow_missing=True)
