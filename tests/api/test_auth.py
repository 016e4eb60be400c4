"""Every auth outcome through real gRPC with the real token store: the exact status code and
ErrorInfo reason of each refusal, readers that cannot write, admin-only calls, open health and
reflection, JWTs verified against a JWKS file, and no token in the logs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc_health.v1 import health_pb2, health_pb2_grpc

import artimeta
from artimeta_server import logs
from artimeta_server.devstack.stack import Stack
from artimeta_server.domain.auth.models import Role
from artimeta_server.rpc.auth import AuthInterceptor
from artimeta_server.rpc.errors import ErrorInterceptor
from artimeta_server.rpc.observe import ObserveInterceptor
from artimeta_server.server import Server
from tests.conftest import settings_for, unique_name
from tests.serving import serving

KID = "test-key"


def _jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": KID, "use": "sig", "alg": "RS256"}


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_file(tmp_root: Path, signing_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_root / f"jwks-{unique_name()}.json"
    path.write_text(json.dumps({"keys": [_jwk(signing_key)]}))
    return path


@pytest.fixture(scope="module")
async def auth_server(stack: Stack, jwks_file: Path) -> AsyncIterator[Server]:
    settings = settings_for(
        stack,
        auth="tokens",
        auth_cache_ttl_s=0.0,
        jwt_jwks_file=str(jwks_file),
        jwt_issuer="https://issuer.test",
        jwt_audience="artimeta",
    )
    async with serving(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def auth_target(auth_server: Server) -> str:
    return f"127.0.0.1:{auth_server.port}"


async def _token(server: Server, namespace: str, role: Role, **kw: Any) -> str:
    assert server.domain is not None
    return (await server.domain.tokens.create(namespace, role, **kw)).token


@pytest.fixture(scope="module")
async def root_token(auth_server: Server) -> str:
    return await _token(auth_server, "*", Role.ADMIN)


@pytest.fixture
async def ns(auth_server: Server, auth_target: str, root_token: str) -> AsyncIterator[str]:
    name = unique_name()
    async with artimeta.AsyncClient(auth_target, token=root_token) as c:
        await c.create_namespace(name)
        yield name
        await c.delete_namespace(name, allow_missing=True)


async def _get(target: str, name: str, token: str | None) -> Any:
    async with artimeta.AsyncClient(target, token=token, retry=None) as c:
        return await c.get_namespace(name)


async def test_no_token_is_unauthenticated(auth_target: str, ns: str) -> None:
    with pytest.raises(artimeta.Unauthenticated) as err:
        await _get(auth_target, ns, None)
    assert err.value.reason == "TOKEN_MISSING"


@pytest.mark.parametrize("bad", ["garbage", "amt_0123456789abcdef_nope", "Bearer", "a.b.c"])
async def test_bad_token_is_unauthenticated(auth_target: str, ns: str, bad: str) -> None:
    with pytest.raises(artimeta.Unauthenticated) as err:
        await _get(auth_target, ns, bad)
    assert err.value.reason == "TOKEN_INVALID"


async def test_right_id_wrong_secret_is_unauthenticated(auth_server: Server, auth_target: str, ns: str) -> None:
    good = await _token(auth_server, ns, Role.READER)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    with pytest.raises(artimeta.Unauthenticated) as err:
        await _get(auth_target, ns, forged)
    assert err.value.reason == "TOKEN_INVALID"
    assert (await _get(auth_target, ns, good)).name == ns


async def test_expired_token(auth_server: Server, auth_target: str, ns: str) -> None:
    token = await _token(auth_server, ns, Role.READER, expire_time=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(artimeta.Unauthenticated) as err:
        await _get(auth_target, ns, token)
    assert err.value.reason == "TOKEN_EXPIRED"


async def test_revoked_token(auth_server: Server, auth_target: str, ns: str) -> None:
    assert auth_server.domain is not None
    issued = await auth_server.domain.tokens.create(ns, Role.READER)
    assert (await _get(auth_target, ns, issued.token)).name == ns
    await auth_server.domain.tokens.revoke(issued.stored.id)
    with pytest.raises(artimeta.Unauthenticated) as err:
        await _get(auth_target, ns, issued.token)
    assert err.value.reason == "TOKEN_REVOKED"


async def test_wrong_namespace_is_permission_denied(auth_server: Server, auth_target: str, ns: str) -> None:
    other = await _token(auth_server, ns, Role.ADMIN)
    async with artimeta.AsyncClient(auth_target, token=await _token(auth_server, "*", Role.ADMIN)) as root:
        second = unique_name()
        await root.create_namespace(second)
    with pytest.raises(artimeta.PermissionDenied) as err:
        await _get(auth_target, second, other)
    assert err.value.reason == "PERMISSION_DENIED"
    assert err.value.metadata["namespace"] == second


async def test_namespace_and_token_admin_only_calls(auth_server: Server, auth_target: str, ns: str) -> None:
    writer = await _token(auth_server, ns, Role.WRITER)
    ns_admin = await _token(auth_server, ns, Role.ADMIN)
    async with artimeta.AsyncClient(auth_target, token=writer, retry=None) as c:
        with pytest.raises(artimeta.PermissionDenied):
            await c.delete_namespace(ns)
        with pytest.raises(artimeta.PermissionDenied):
            await c.create_namespace(unique_name())
        with pytest.raises(artimeta.PermissionDenied):
            [n async for n in c.list_namespaces()]
        assert (await c.get_namespace(ns)).name == ns
    async with artimeta.AsyncClient(auth_target, token=ns_admin, retry=None) as c:
        # A namespace admin manages its own namespace, but only "*" admins create namespaces.
        with pytest.raises(artimeta.PermissionDenied):
            await c.create_namespace(unique_name())
        assert (await c.delete_namespace(ns)).deleted


async def test_health_and_reflection_stay_open(auth_target: str) -> None:
    async with grpc.aio.insecure_channel(auth_target) as ch:
        resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


async def test_token_file_is_read_again_when_it_changes(
    auth_server: Server, auth_target: str, ns: str, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text("amt_0123456789abcdef_wrong\n")
    async with artimeta.AsyncClient(auth_target, token_file=str(path), retry=None) as c:
        with pytest.raises(artimeta.Unauthenticated):
            await c.get_namespace(ns)
        path.write_text(await _token(auth_server, ns, Role.READER) + "\n")
        assert (await c.get_namespace(ns)).name == ns


def _jwt(key: rsa.RSAPrivateKey, roles: list[str], *, exp_in: float = 300, kid: str = KID, **claims: Any) -> str:
    payload = {
        "sub": "system:serviceaccount:team:worker",
        "iss": "https://issuer.test",
        "aud": "artimeta",
        "exp": int(time.time() + exp_in),
        "artimeta_roles": roles,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


async def test_jwt_roles(auth_target: str, ns: str, signing_key: rsa.RSAPrivateKey) -> None:
    assert (await _get(auth_target, ns, _jwt(signing_key, [f"{ns}:reader"]))).name == ns
    with pytest.raises(artimeta.PermissionDenied):
        await _get(auth_target, ns, _jwt(signing_key, ["someone-else:admin"]))
    with pytest.raises(artimeta.Unauthenticated) as err:
        await _get(auth_target, ns, _jwt(signing_key, [f"{ns}:reader"], exp_in=-60))
    assert err.value.reason == "TOKEN_EXPIRED"
    with pytest.raises(artimeta.Unauthenticated) as err:
        await _get(auth_target, ns, _jwt(signing_key, [f"{ns}:reader"], aud="another-service"))
    assert err.value.reason == "TOKEN_INVALID"
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(artimeta.Unauthenticated) as err:
        await _get(auth_target, ns, _jwt(stranger, [f"{ns}:admin"]))
    assert err.value.reason == "TOKEN_INVALID"


# An RPC nobody declared needs the writer role on its request's `namespace`: served here by a
# bare grpc.aio server with the real interceptors and a handler that reads a raw namespace.
class _Echo:
    @staticmethod
    def deserialize(data: bytes) -> SimpleNamespace:
        return SimpleNamespace(namespace=data.decode())


@pytest.fixture(scope="module")
async def probe_target(auth_server: Server) -> AsyncIterator[str]:
    assert auth_server.domain is not None

    async def put(request: SimpleNamespace, context: Any) -> bytes:
        return b"ok"

    async def upload(requests: Any, context: Any) -> bytes:
        return str(len([r async for r in requests])).encode()

    handler = grpc.method_handlers_generic_handler(
        "artimeta.v1.ProbeService",
        {
            "Put": grpc.unary_unary_rpc_method_handler(put, request_deserializer=_Echo.deserialize),
            "Upload": grpc.stream_unary_rpc_method_handler(upload, request_deserializer=_Echo.deserialize),
        },
    )
    server = grpc.aio.server(
        interceptors=[
            ObserveInterceptor(),
            ErrorInterceptor(),
            AuthInterceptor(auth_server.domain.tokens, frozenset()),
        ]
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(0.2)


async def test_undeclared_method_needs_writer(auth_server: Server, probe_target: str, ns: str) -> None:
    reader = await _token(auth_server, ns, Role.READER)
    writer = await _token(auth_server, ns, Role.WRITER)
    async with grpc.aio.insecure_channel(probe_target) as ch:
        put: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = ch.unary_unary("/artimeta.v1.ProbeService/Put")
        upload: grpc.aio.StreamUnaryMultiCallable[bytes, bytes] = ch.stream_unary("/artimeta.v1.ProbeService/Upload")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await put(ns.encode(), metadata=(("authorization", f"Bearer {reader}"),))
        assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert await put(ns.encode(), metadata=(("authorization", f"Bearer {writer}"),)) == b"ok"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await put(b"another-namespace", metadata=(("authorization", f"Bearer {writer}"),))
        assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await put(ns.encode())
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
        # Client streams are bound to the first message's namespace: a later one naming another
        # is a malformed stream.
        md = (("authorization", f"Bearer {writer}"),)
        assert await upload(iter([ns.encode(), ns.encode()]), metadata=md) == b"2"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await upload(iter([ns.encode(), b"another-namespace"]), metadata=md)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await upload(iter([b"another-namespace", ns.encode()]), metadata=md)
        assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await upload(iter([ns.encode()]), metadata=(("authorization", f"Bearer {reader}"),))
        assert err.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_logs_name_the_call_and_never_the_token(
    auth_server: Server, auth_target: str, ns: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = await _token(auth_server, ns, Role.READER)
    caplog.set_level(logging.INFO, logger="artimeta")
    async with artimeta.AsyncClient(auth_target, token=token, retry=None) as c:
        await c.get_namespace(ns)
        with pytest.raises(artimeta.PermissionDenied):
            await c.delete_namespace(ns)
    async with artimeta.AsyncClient(auth_target, token=token + "x", retry=None) as c:
        with pytest.raises(artimeta.Unauthenticated):
            await c.get_namespace(ns)
    formatter = logs.JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name == "artimeta.access"]
    secret = token.rsplit("_", 1)[1]
    assert all(secret not in json.dumps(line) for line in lines)
    assert all(secret not in r.getMessage() for r in caplog.records)
    codes = {(line["rpc"].rsplit("/", 1)[1], line["code"]) for line in lines if line["namespace"] == ns}
    assert {
        ("GetNamespace", "OK"),
        ("DeleteNamespace", "PERMISSION_DENIED"),
        ("GetNamespace", "UNAUTHENTICATED"),
    } <= codes
    for line in lines:
        assert line["request_id"] and line["duration_ms"] >= 0
