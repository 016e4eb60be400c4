"""An artimeta server with its HTTP port on (Connect, gRPC-Web, health, console), shared by the
HTTP and browser tests; small helpers to speak plain HTTP to it; the system Chromium, driven by
Playwright, for the console's tests."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import artimeta
from artimeta_server.config import Settings
from artimeta_server.server import Server
from tests.serving import serving


@pytest.fixture(scope="session")
async def http_server(settings: Settings) -> AsyncIterator[Server]:
    async with serving(dataclasses.replace(settings, http_listen="127.0.0.1:0")) as srv:
        yield srv


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


# --- the browser -----------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-output" / "console"
# As root Chromium needs --no-sandbox; the rest keeps it from reaching out (updates, sync, QUIC).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("ARTIMETA_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    pytest.importorskip("playwright.async_api")
    path = chromium_path()
    if path is None:
        pytest.skip("no system Chromium (scripts/ensure-chromium.sh installs Debian's package as root)")
    async with _async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        await b.close()


class Console:
    """One browser page on the console, collecting what must never happen."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        self.foreign: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", lambda msg: self.problems.append(f"console: {msg.text}") if msg.type == "error" else None)
        page.on("request", self._request)

    def _request(self, req: Any) -> None:
        if not req.url.startswith(self.base_url) and not req.url.startswith("data:"):
            self.foreign.append(req.url)

    async def open(self, path: str) -> None:
        await self.page.goto(self.base_url + path)
        await self.settled()

    async def settled(self) -> str:
        # Locators, not evaluated strings: the console's CSP forbids eval, and the tests keep it on.
        body = self.page.locator("body:not([data-state=loading])")
        await body.wait_for(timeout=15_000)
        return str(await body.get_attribute("data-state"))

    async def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


def _async_playwright() -> Any:
    from playwright.async_api import async_playwright

    return async_playwright()
