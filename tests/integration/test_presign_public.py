"""Presigned URLs signed for ARTIMETA_S3_PUBLIC_ENDPOINT, the address clients outside reach S3 at."""

from __future__ import annotations

import asyncio
import os
import urllib.parse

import pytest

from artimeta.blobs import http_get, http_put
from artimeta_server.config import ConfigError, Settings
from artimeta_server.devstack.s3 import S3Server
from artimeta_server.storage.blobs.s3 import make_client, presigner_for
from artimeta_server.storage.blobs.store import S3BlobStore
from tests.conftest import unique_name


async def store_for(s3: S3Server, public_endpoint: str) -> S3BlobStore:
    settings = Settings(
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.creds.access_key,
        s3_secret_key=s3.creds.secret_key,
        s3_public_endpoint=public_endpoint,
    )
    settings.validate()
    client = make_client(
        s3.endpoint,
        s3.creds.access_key,
        s3.creds.secret_key,
        secure=False,
        region=None,
        max_connections=4,
        timeout_s=10,
    )
    store = S3BlobStore(client, unique_name("pub"), threads=4, presign_client=presigner_for(settings))
    await store.ensure_bucket()
    return store


async def test_urls_carry_the_public_host_without_reaching_it(s3_server: S3Server) -> None:
    # Nothing listens at this name: signing must not need it.
    store = await store_for(s3_server, "https://s3.public.invalid:9443")
    try:
        for url in (await store.presign_get("1/cas/ab/cd", 60), await store.presign_put("1/staging/x", 60)):
            parts = urllib.parse.urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("https", "s3.public.invalid:9443")
            assert parts.path.startswith(f"/{store.bucket}/1/")
            assert "X-Amz-Signature=" in parts.query
    finally:
        store.close()


@pytest.mark.parametrize("form", ["url", "host"])
async def test_urls_signed_for_the_real_endpoint_work(s3_server: S3Server, form: str) -> None:
    public = f"http://{s3_server.endpoint}" if form == "url" else s3_server.endpoint
    store = await store_for(s3_server, public)
    try:
        data = os.urandom(70_000)
        await asyncio.to_thread(http_put, await store.presign_put("1/staging/up", 60), data)
        assert await store.get_object("1/staging/up") == data
        assert await asyncio.to_thread(http_get, await store.presign_get("1/staging/up", 60)) == data
    finally:
        store.close()


@pytest.mark.parametrize("bad", ["ftp://s3.example.com", "https://", "s3.example.com/path", "http://h/p"])
def test_bad_public_endpoints_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="ARTIMETA_S3_PUBLIC_ENDPOINT"):
        Settings(s3_public_endpoint=bad).validate()
