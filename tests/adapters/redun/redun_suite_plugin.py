"""A pytest plugin that runs redun's own test-suite with ArtimetaBackend in place of redun's
default in-memory SQLite backend: every Scheduler built without an explicit backend gets one,
in a fresh namespace per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redun.scheduler

from artimeta import Client
from artimeta.adapters.redun import ArtimetaBackend

_current: dict[str, str] = {}


def _backend_from_config(backend_config: Any = None) -> ArtimetaBackend:
    if backend_config is not None and backend_config.get("db_uri"):
        # A test that names its own database keeps redun's database backend.
        return _original(backend_config)
    backend = ArtimetaBackend(target=os.environ["ARTIMETA_TARGET"], namespace=_current["namespace"])
    backend.load()
    return backend


_original = redun.scheduler.get_backend_from_config
redun.scheduler.get_backend_from_config = _backend_from_config


@pytest.fixture(autouse=True)
def _artimeta_namespace() -> Iterator[None]:
    name = f"redun-suite-{uuid.uuid4().hex[:12]}"
    _current["namespace"] = name
    yield
    with Client(os.environ["ARTIMETA_TARGET"]) as client:
        client.delete_namespace(name, allow_missing=True)
