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


# Tests of redun's suite that read redun's SQL database directly (its SQLAlchemy `session` or
# fixture, or `isinstance(scheduler.backend, RedunBackendDb)`): they test the
# database backend itself, not the backend interface, so they cannot apply to another backend.
_SQL_FIXTURES = {"session"}
SQL_ONLY: dict[str, str] = {
    "test_handle_edges": "asserts isinstance(scheduler.backend, RedunBackendDb) and queries its tables",
    "test_handle_tasks_simple": "queries RedunBackendDb's Handle table",
    "test_handle_tasks": "queries RedunBackendDb's Handle table",
    "test_handle_merge": "queries RedunBackendDb's Handle table",
    "test_handle_merge3": "queries RedunBackendDb's Handle table",
    "test_multiple_forks": "queries RedunBackendDb's Handle table",
    "test_scheduler_backend": "asserts the default backend is RedunBackendDb with a db_uri",
    "test_common_expression": "asserts isinstance(scheduler.backend, RedunBackendDb) and queries its Job table",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        name = getattr(item, "originalname", item.name)
        if fixtures & _SQL_FIXTURES:
            item.add_marker(pytest.mark.skip(reason="reads redun's SQLAlchemy database session (RedunBackendDb only)"))
        elif name in SQL_ONLY:
            item.add_marker(pytest.mark.skip(reason=f"RedunBackendDb only: {SQL_ONLY[name]}"))
