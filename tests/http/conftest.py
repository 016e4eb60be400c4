"""An artimeta server with its HTTP port on (Connect, gRPC-Web, health, console), shared by the
HTTP and browser tests; and small helpers to speak plain HTTP to it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest

import artimeta
from artimeta_server.app import Server
from artimeta_server.config import Settings


@pytest.fixture(scope="session")
async def http_server(settings: Settings) -> AsyncIterator[Server]:
    srv = Server(dataclasses.replace(settings, http_listen="127.0.0.1:0"))
    await srv.start(migrate_schema=True)
    yield srv
    await srv.stop(0.5)


@pytest.fixture(scope="session")
def base_url(http_server: Server) -> str:
    return f"http://127.0.0.1:{http_server.http_port}"


@pytest.fixture(scope="session")
async def hclient(http_server: Server) -> AsyncIterator[artimeta.AsyncClient]:
    """A gRPC client of the same server process, to compare both transports."""
    async with artimeta.AsyncClient(f"127.0.0.1:{http_server.port}", timeout=20) as client:
        yield client


def _post(url: str, body: bytes, content_type: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


async def post(
    url: str, body: bytes | dict[str, Any], content_type: str = "application/json", **headers: str
) -> tuple[int, Any]:
    """POSTs in a thread (the server runs in this test's event loop); JSON bodies are decoded."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    status, resp_headers, data = await asyncio.to_thread(_post, url, raw, content_type, headers)
    if resp_headers.get("Content-Type", resp_headers.get("content-type", "")).startswith("application/json") and data:
        return status, json.loads(data)
    return status, data
