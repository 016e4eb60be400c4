"""A server per S3 implementation (SeaweedFS always, MinIO when built) over the session's
Postgres, for the blob suites; the sync client runs in a thread beside the in-process server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

import artimeta
from artimeta.blobs import Blobs
from artimeta_server.devstack.s3 import S3Server
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.conftest import settings_for, unique_name

# The smallest part S3 accepts, so multipart paths run with small test data.
TEST_PART_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="session")
async def blob_server(stack: Stack, s3_server: S3Server) -> AsyncIterator[Server]:
    settings = settings_for(
        stack,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.creds.access_key,
        s3_secret_key=s3_server.creds.secret_key,
        s3_bucket=unique_name("blobs"),
        max_message_bytes=4 * 1024 * 1024,
    )
    srv = Server(settings)
    await srv.start(migrate_schema=True)
    assert srv.domain is not None
    srv.domain.blobs.uploads.part_bytes = TEST_PART_BYTES
    yield srv
    await srv.stop(0.5)


@pytest.fixture(scope="session")
def blob_target(blob_server: Server) -> str:
    return f"127.0.0.1:{blob_server.port}"


@pytest.fixture(scope="session")
def sync_client(blob_target: str) -> Iterator[artimeta.Client]:
    with artimeta.Client(blob_target, timeout=30) as client:
        yield client


@pytest.fixture
async def blob_ns(blob_target: str) -> AsyncIterator[str]:
    name = unique_name()
    async with artimeta.AsyncClient(blob_target) as c:
        await c.create_namespace(name)
        yield name
        await c.delete_namespace(name, allow_missing=True)


@pytest.fixture
def blobs(sync_client: artimeta.Client, blob_ns: str) -> Blobs:
    return Blobs(sync_client, blob_ns)
