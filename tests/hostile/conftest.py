"""The hostile layer's shared fixtures: one auth-enabled server (tokens, HTTP port on) on the
test run's Postgres and S3, and a way to mint tokens on it. Tests that need other limits start
their own server with `settings_for(stack, ...)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from artimeta_server.devstack.stack import Stack
from artimeta_server.domain.auth.models import Role
from artimeta_server.server import Server
from tests.conftest import settings_for
from tests.serving import serving


async def mint(server: Server, namespace: str, role: Role, **kw: Any) -> str:
    """A fresh bearer token of `role` on `namespace` ("*" = every namespace)."""
    assert server.domain is not None
    return (await server.domain.tokens.create(namespace, role, **kw)).token


async def make_namespace(server: Server, name: str) -> None:
    assert server.domain is not None
    await server.domain.namespaces.create(name, "", {})


@pytest.fixture(scope="module")
async def auth_server(stack: Stack) -> AsyncIterator[Server]:
    async with serving(settings_for(stack, auth="tokens", http_listen="127.0.0.1:0")) as srv:
        yield srv


@pytest.fixture(scope="module")
def auth_target(auth_server: Server) -> str:
    return f"127.0.0.1:{auth_server.port}"


@pytest.fixture(scope="module")
async def root_token(auth_server: Server) -> str:
    return await mint(auth_server, "*", Role.ADMIN)
