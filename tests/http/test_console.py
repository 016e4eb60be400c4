"""The web console in a real headless Chromium (Debian's, driven by Playwright): each view renders
what the server holds, URLs are deep links, the back button works, errors show their ErrorInfo
reason, nothing is fetched from anywhere but the server, and no view logs an error."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import artimeta
from tests.conftest import unique_name

playwright_api = pytest.importorskip("playwright.async_api")

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
    path = chromium_path()
    if path is None:
        pytest.skip("no system Chromium (scripts/ensure-chromium.sh installs Debian's package as root)")
    async with playwright_api.async_playwright() as pw:
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
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
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


@pytest.fixture
async def console(browser: Any, base_url: str) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    c = Console(page, base_url)
    yield c
    await context.close()
    assert not c.foreign, f"the console fetched from elsewhere: {c.foreign}"


async def test_namespaces_list_detail_back_and_deep_link(console: Console, hclient: artimeta.AsyncClient) -> None:
    prefix = unique_name("console")
    names = [f"{prefix}-{i}" for i in range(3)]
    for i, name in enumerate(names):
        await hclient.create_namespace(name, description=f"pipeline {i}", labels={"team": "ml", "tier": str(i)})

    await console.open("/console/")
    assert await console.page.title() == "Namespaces · artimeta"
    # Walk the keyset pages to the end: every namespace shows up exactly once, in order.
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        seen += await console.page.locator("[data-testid=namespaces] tbody tr td:first-child").all_inner_texts()
        if pages == 1:
            await console.shot("namespaces")
        nxt = console.page.locator("[data-testid=next-page]")
        if not await nxt.count():
            break
        await nxt.click()
        assert await console.settled() == "ready"
    expected = [ns.name async for ns in hclient.list_namespaces()]
    assert seen == expected and set(names) <= set(seen)
    assert await console.page.locator("[data-testid=schema-version] b").inner_text() != ""

    # Click through to one namespace: its own URL, its details.
    await console.open("/console/")
    if names[1] not in await console.page.locator("[data-testid=namespaces]").inner_text():
        await console.open(f"/console/ns/{names[1]}")
    else:
        await console.page.get_by_role("link", name=names[1], exact=True).click()
        await console.settled()
    assert console.page.url == f"{console.base_url}/console/ns/{names[1]}"
    assert await console.page.locator("[data-testid=namespace-name]").inner_text() == names[1]
    body = await console.page.locator("main").inner_text()
    assert "pipeline 1" in body and "team=ml" in body and "tier=1" in body
    await console.shot("namespace")

    # Back returns to the list; a deep link opens the namespace directly.
    await console.page.go_back()
    assert await console.settled() == "ready"
    assert console.page.url.endswith("/console/")
    await console.open(f"/console/ns/{names[2]}")
    assert await console.page.locator("[data-testid=namespace-name]").inner_text() == names[2]
    assert not console.problems, console.problems


async def test_errors_show_code_and_reason(console: Console) -> None:
    await console.open("/console/ns/no-such-namespace")
    assert await console.settled() == "error"
    box = console.page.locator("[data-testid=error]")
    assert await box.get_attribute("data-code") == "NOT_FOUND"
    assert await box.get_attribute("data-reason") == "NAMESPACE_NOT_FOUND"
    assert "no-such-namespace" in await box.inner_text()
    await console.shot("error")
    await console.open("/console/ns/Bad%20Name")
    assert await console.page.locator("[data-testid=error]").get_attribute("data-reason") == "INVALID_NAME"
    await console.open("/console/no/such/view")
    assert await console.page.locator("[data-testid=not-found]").count() == 1
    # Failed RPCs are shown in the page, not thrown: the browser logs only the HTTP status lines.
    assert all("Failed to load resource" in p for p in console.problems), console.problems


async def test_first_page_renders_quickly(console: Console) -> None:
    start = time.perf_counter()
    await console.open("/console/")
    elapsed = time.perf_counter() - start
    assert await console.page.locator("[data-testid=namespaces] tbody tr").count() > 0
    print(f"console first page rendered in {elapsed * 1000:.0f} ms")  # the figure goes to bench/, not a gate
