"""TLS and mutual TLS on the gRPC port: handshakes succeed with the right certificates, fail with
wrong ones, and a certificate replaced on disk is served to the next connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

import artimeta
from artimeta.v1 import namespace_pb2, namespace_pb2_grpc
from artimeta_server.config import ConfigError
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from tests.conftest import settings_for, unique_name


def _write_server_cert(ca: trustme.CA, folder: Path) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    # Written to temporary names and renamed, the way Secret volumes and cert-manager swap files.
    tmp_cert, tmp_key = folder / ".tls.crt", folder / ".tls.key"
    tmp_cert.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    tmp_key.write_bytes(cert.private_key_pem.bytes())
    tmp_key.replace(key_file)
    tmp_cert.replace(cert_file)
    return cert_file, key_file


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_ca() -> trustme.CA:
    return trustme.CA()


async def _start(stack: Stack, **overrides: object) -> Server:
    srv = Server(settings_for(stack, plaintext=False, **overrides))
    await srv.start(migrate_schema=True)
    return srv


@pytest.fixture(scope="module")
async def tls_server(stack: Stack, ca: trustme.CA, tmp_root: Path) -> AsyncIterator[tuple[Server, Path]]:
    folder = tmp_root / unique_name("tls")
    folder.mkdir()
    cert, key = _write_server_cert(ca, folder)
    srv = await _start(stack, tls_cert_file=str(cert), tls_key_file=str(key), health_listen="127.0.0.1:0")
    yield srv, folder
    await srv.stop(0.2)


@pytest.fixture(scope="module")
async def mtls_server(stack: Stack, ca: trustme.CA, client_ca: trustme.CA, tmp_root: Path) -> AsyncIterator[Server]:
    folder = tmp_root / unique_name("mtls")
    folder.mkdir()
    cert, key = _write_server_cert(ca, folder)
    ca_file = folder / "client-ca.crt"
    client_ca.cert_pem.write_to_path(str(ca_file))
    srv = await _start(stack, tls_cert_file=str(cert), tls_key_file=str(key), tls_client_ca_file=str(ca_file))
    yield srv
    await srv.stop(0.2)


async def _list(port: int, **kw: object) -> list[str]:
    async with artimeta.AsyncClient(f"127.0.0.1:{port}", retry=None, timeout=5, **kw) as c:  # type: ignore[arg-type]
        return [ns.name async for ns in c.list_namespaces(page_size=1)][:1]


async def _round_trip(port: int, **kw: object) -> tuple[str, str, list[str]]:
    """Creates a namespace over one connection and reads it back over it: (created, read, listed)."""
    name = unique_name("tls")
    async with artimeta.AsyncClient(f"127.0.0.1:{port}", retry=None, timeout=5, **kw) as c:  # type: ignore[arg-type]
        await c.create_namespace(name)
        try:
            read = (await c.get_namespace(name)).name
            listed = [ns.name async for ns in c.list_namespaces() if ns.name == name]
        finally:
            await c.delete_namespace(name, allow_missing=True)
    return name, read, listed


async def test_tls_with_the_right_root(tls_server: tuple[Server, Path], ca: trustme.CA) -> None:
    srv, _ = tls_server
    assert srv.settings.tls_cert_file and not srv.settings.plaintext
    name, read, listed = await _round_trip(srv.port, root_certificates=ca.cert_pem.bytes())
    assert read == name and listed == [name]


async def test_tls_refuses_an_unknown_root_and_plaintext(tls_server: tuple[Server, Path]) -> None:
    srv, _ = tls_server
    with pytest.raises(artimeta.Unavailable):
        await _list(srv.port, root_certificates=trustme.CA().cert_pem.bytes())
    with pytest.raises(artimeta.Unavailable):
        await _list(srv.port)


async def test_certificate_replaced_on_disk_is_served(tls_server: tuple[Server, Path], ca: trustme.CA) -> None:
    srv, folder = tls_server
    rotated = trustme.CA()
    _write_server_cert(rotated, folder)
    await _list(srv.port, root_certificates=rotated.cert_pem.bytes())
    with pytest.raises(artimeta.Unavailable):
        await _list(srv.port, root_certificates=ca.cert_pem.bytes())
    _write_server_cert(ca, folder)
    await _list(srv.port, root_certificates=ca.cert_pem.bytes())


async def test_mtls_with_a_client_certificate(mtls_server: Server, ca: trustme.CA, client_ca: trustme.CA) -> None:
    leaf = client_ca.issue_cert("worker@team-a")
    name, read, listed = await _round_trip(
        mtls_server.port,
        root_certificates=ca.cert_pem.bytes(),
        certificate_chain=leaf.cert_chain_pems[0].bytes(),
        private_key=leaf.private_key_pem.bytes(),
    )
    assert read == name and listed == [name]


async def test_mtls_refuses_missing_or_foreign_client_certificates(mtls_server: Server, ca: trustme.CA) -> None:
    with pytest.raises(artimeta.Unavailable):
        await _list(mtls_server.port, root_certificates=ca.cert_pem.bytes())
    stranger = trustme.CA().issue_cert("intruder")
    with pytest.raises(artimeta.Unavailable):
        await _list(
            mtls_server.port,
            root_certificates=ca.cert_pem.bytes(),
            certificate_chain=stranger.cert_chain_pems[0].bytes(),
            private_key=stranger.private_key_pem.bytes(),
        )


def test_serving_without_tls_must_be_asked_for(stack: Stack) -> None:
    settings = settings_for(stack, plaintext=False)
    with pytest.raises(ConfigError, match="ARTIMETA_PLAINTEXT"):
        settings.validate_serving()


async def test_probe_port_serves_only_health_in_plaintext(tls_server: tuple[Server, Path]) -> None:
    srv, _ = tls_server
    async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.health_port}") as ch:
        resp = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await namespace_pb2_grpc.NamespaceServiceStub(ch).ListNamespaces(
                namespace_pb2.ListNamespacesRequest(), timeout=5
            )
        assert err.value.code() is grpc.StatusCode.UNIMPLEMENTED
