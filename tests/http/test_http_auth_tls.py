"""The HTTP port applies exactly the gRPC port's security: the same bearer tokens and roles (same
codes and ErrorInfo reasons), the same TLS certificate (re-read when replaced), health open."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from artimeta_server.devstack.stack import Stack
from artimeta_server.domain.auth.models import Role
from artimeta_server.server import Server
from tests.api.test_tls import _write_server_cert
from tests.conftest import settings_for, unique_name
from tests.http.conftest import post

GET_NS = "/artimeta.v1.NamespaceService/GetNamespace"
CREATE_NS = "/artimeta.v1.NamespaceService/CreateNamespace"


@pytest.fixture(scope="module")
async def auth_http(stack: Stack) -> AsyncIterator[tuple[Server, str]]:
    srv = Server(settings_for(stack, auth="tokens", auth_cache_ttl_s=0.0, http_listen="127.0.0.1:0"))
    await srv.start(migrate_schema=True)
    yield srv, f"http://127.0.0.1:{srv.http_port}"
    await srv.stop(0.5)


async def _token(server: Server, namespace: str, role: Role) -> str:
    assert server.domain is not None
    return (await server.domain.tokens.create(namespace, role)).token


def _reason(body: dict[str, Any]) -> str:
    from google.rpc import error_details_pb2

    from tests.http.test_connect import _b64

    [detail] = [d for d in body["details"] if d["type"] == "google.rpc.ErrorInfo"]
    return error_details_pb2.ErrorInfo.FromString(_b64(detail["value"])).reason


async def test_tokens_and_roles_over_http(auth_http: tuple[Server, str]) -> None:
    srv, base = auth_http
    admin = await _token(srv, "*", Role.ADMIN)
    ns = unique_name()
    status, _ = await post(base + CREATE_NS, {"namespace": {"name": ns}}, authorization=f"Bearer {admin}")
    assert status == 200

    status, body = await post(base + GET_NS, {"name": ns})
    assert (status, body["code"], _reason(body)) == (401, "unauthenticated", "TOKEN_MISSING")
    status, body = await post(base + GET_NS, {"name": ns}, authorization="Bearer garbage")
    assert (status, body["code"], _reason(body)) == (401, "unauthenticated", "TOKEN_INVALID")

    reader = await _token(srv, ns, Role.READER)
    status, body = await post(base + GET_NS, {"name": ns}, authorization=f"Bearer {reader}")
    assert (status, body["namespace"]["name"]) == (200, ns)
    # A reader of this namespace cannot create namespaces: refused before any servicer runs.
    other = unique_name()
    status, body = await post(base + CREATE_NS, {"namespace": {"name": other}}, authorization=f"Bearer {reader}")
    assert (status, body["code"]) == (403, "permission_denied")
    status, _ = await post(base + GET_NS, {"name": other}, authorization=f"Bearer {admin}")
    assert status == 404  # nothing was written

    def health() -> int:
        with urllib.request.urlopen(base + "/healthz", timeout=10) as resp:
            return resp.status

    assert await asyncio.to_thread(health) == 200  # probes need no token


async def test_tls_on_the_http_port(stack: Stack, tmp_root: Path) -> None:
    ca = trustme.CA()
    folder = tmp_root / unique_name("http-tls")
    folder.mkdir()
    cert, key = _write_server_cert(ca, folder)
    srv = Server(
        settings_for(stack, plaintext=False, tls_cert_file=str(cert), tls_key_file=str(key), http_listen="127.0.0.1:0")
    )
    await srv.start(migrate_schema=True)
    try:
        trusted = ssl.create_default_context()
        ca.configure_trust(trusted)

        def call(url: str, ctx: ssl.SSLContext | None) -> tuple[int, Any]:
            req = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
                return resp.status, json.loads(resp.read())

        list_url = f"https://127.0.0.1:{srv.http_port}/artimeta.v1.NamespaceService/ListNamespaces"
        status, body = await asyncio.to_thread(call, list_url, trusted)
        assert status == 200 and isinstance(body, dict)
        # Plain HTTP is not served, and an untrusted client refuses the certificate.
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            await asyncio.to_thread(call, list_url.replace("https://", "http://"), None)
        with pytest.raises(urllib.error.URLError):
            await asyncio.to_thread(call, list_url, ssl.create_default_context())
        # A certificate from another CA replaced on disk is served to the next connection.
        new_ca = trustme.CA()
        _write_server_cert(new_ca, folder)
        retrusted = ssl.create_default_context()
        new_ca.configure_trust(retrusted)
        status, _ = await asyncio.to_thread(call, list_url, retrusted)
        assert status == 200
    finally:
        await srv.stop(0.2)


async def test_console_asks_for_a_token(auth_http: tuple[Server, str], browser: Any) -> None:
    from tests.http.conftest import Console

    srv, base = auth_http
    reader_ns = unique_name()
    admin = await _token(srv, "*", Role.ADMIN)
    await post(base + CREATE_NS, {"namespace": {"name": reader_ns}}, authorization=f"Bearer {admin}")
    context = await browser.new_context()
    try:
        console = Console(await context.new_page(), base)
        await console.open(f"/console/ns/{reader_ns}")
        box = console.page.locator("[data-testid=error]")
        assert await box.get_attribute("data-reason") == "TOKEN_MISSING"
        await console.page.locator("[data-testid=token]").fill(await _token(srv, reader_ns, Role.READER))
        await console.page.get_by_role("button", name="use token").click()
        await console.settled()
        await console.page.locator("[data-testid=namespace-name]").wait_for()
        assert await console.page.locator("[data-testid=namespace-name]").inner_text() == reader_ns
        assert await console.page.locator("[data-testid=schema-version] b").inner_text() != "—"
        assert not console.foreign
    finally:
        await context.close()
