from __future__ import annotations

import pytest

from artimeta_server.domain.blobs.service import Blobs
from tests.unit.domain.blobs.fakes import PART, FakeBlobIndex, FakeNamespaces, FakeObjectStore


@pytest.fixture
def store() -> FakeObjectStore:
    return FakeObjectStore()


@pytest.fixture
def index() -> FakeBlobIndex:
    return FakeBlobIndex()


@pytest.fixture
def blobs(store: FakeObjectStore, index: FakeBlobIndex) -> Blobs:
    return Blobs(store, index, FakeNamespaces(), max_message_bytes=1024 * 1024, part_bytes=PART, store_fanout=2)
