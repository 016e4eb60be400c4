from __future__ import annotations

import pytest

from artimeta_server.domain.records.service import Records
from tests.unit.domain.records.fakes import FakeBlobPresence, FakeNamespaces, FakeRecordRepository


@pytest.fixture
def repo() -> FakeRecordRepository:
    return FakeRecordRepository()


@pytest.fixture
def presence() -> FakeBlobPresence:
    return FakeBlobPresence()


@pytest.fixture
def records(repo: FakeRecordRepository, presence: FakeBlobPresence) -> Records:
    return Records(repo, presence, FakeNamespaces())
