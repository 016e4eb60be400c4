from __future__ import annotations

import asyncio

import grpc
import pytest

import artimeta
from artimeta.v1 import namespace_pb2 as pb
from artimeta_server.server import Server
from tests.conftest import unique_name


async def test_create_get_list_delete(aclient: artimeta.AsyncClient) -> None:
    name = unique_name()
    created = await aclient.create_namespace(name, description="team A", labels={"owner": "a"})
    assert created.name == name and created.labels["owner"] == "a" and created.create_time.seconds > 0
    got = await aclient.get_namespace(name)
    assert got == created
    names = [ns.name async for ns in aclient.list_namespaces()]
    assert name in names
    resp = await aclient.delete_namespace(name)
    assert resp.deleted
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.get_namespace(name)
    assert err.value.reason == "NAMESPACE_NOT_FOUND"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("", "INVALID_NAME"), ("x" * 64, "INVALID_NAME"), ("Upper", "INVALID_NAME"), ("bad/name", "INVALID_NAME")],
)
async def test_bad_names_are_invalid_argument(aclient: artimeta.AsyncClient, name: str, reason: str) -> None:
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.create_namespace(name)
    assert err.value.reason == reason
    assert err.value.metadata["field"] == "name"


async def test_bad_labels_and_long_description(aclient: artimeta.AsyncClient) -> None:
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.create_namespace(unique_name(), labels={"": "x"})
    assert err.value.reason == "INVALID_LABELS"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.create_namespace(unique_name(), description="d" * 5000)
    assert err.value.reason == "FIELD_TOO_LONG"


async def test_duplicate_create_is_already_exists(aclient: artimeta.AsyncClient, namespace: str) -> None:
    with pytest.raises(artimeta.AlreadyExists) as err:
        await aclient.create_namespace(namespace)
    assert err.value.reason == "NAMESPACE_EXISTS"
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS


async def test_concurrent_creates_have_exactly_one_winner(aclient: artimeta.AsyncClient) -> None:
    name = unique_name()
    results = await asyncio.gather(*(aclient.create_namespace(name) for _ in range(12)), return_exceptions=True)
    winners = [r for r in results if isinstance(r, pb.Namespace)]
    losers = [r for r in results if isinstance(r, artimeta.AlreadyExists)]
    assert len(winners) == 1 and len(losers) == 11
    await aclient.delete_namespace(name)


async def test_unknown_namespace(aclient: artimeta.AsyncClient) -> None:
    with pytest.raises(artimeta.NotFound):
        await aclient.delete_namespace(unique_name())
    resp = await aclient.delete_namespace(unique_name(), allow_missing=True)
    assert not resp.deleted


async def test_keyset_pagination_visits_each_namespace_once(aclient: artimeta.AsyncClient) -> None:
    prefix = unique_name("page")
    names = [f"{prefix}-{i}" for i in range(7)]
    for n in names:
        await aclient.create_namespace(n)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await aclient.call(
            aclient.stub(artimeta.v1.namespace_pb2_grpc.NamespaceServiceStub).ListNamespaces,
            pb.ListNamespacesRequest(page_size=2, page_token=token),
        )
        assert len(page.namespaces) <= 2
        seen += [ns.name for ns in page.namespaces]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    mine = [s for s in seen if s.startswith(prefix)]
    assert mine == sorted(names)
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert pages >= 4
    for n in names:
        await aclient.delete_namespace(n)


async def test_bad_page_token_and_size(aclient: artimeta.AsyncClient) -> None:
    stub = aclient.stub(artimeta.v1.namespace_pb2_grpc.NamespaceServiceStub)
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(stub.ListNamespaces, pb.ListNamespacesRequest(page_token="garbage"))
    assert err.value.reason == "INVALID_PAGE_TOKEN"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(stub.ListNamespaces, pb.ListNamespacesRequest(page_size=-5))
    assert err.value.reason == "INVALID_PAGE_SIZE"


async def test_oversized_message_is_rejected_without_harm(aclient: artimeta.AsyncClient, server: Server) -> None:
    limit = server.settings.max_message_bytes
    with pytest.raises(artimeta.ResourceExhausted):
        await aclient.create_namespace(unique_name(), description="x" * (limit + 10))
    # The server is unharmed and the next call works.
    name = unique_name()
    assert (await aclient.create_namespace(name)).name == name
    await aclient.delete_namespace(name)


async def test_delete_removes_rows_and_blobs(aclient: artimeta.AsyncClient, server: Server) -> None:
    name = unique_name()
    await aclient.create_namespace(name)
    assert server.domain is not None
    ns_id = await server.domain.namespaces.resolve(name)
    stored = [await server.domain.documents.store(ns_id, bytes([i]) * 10_000) for i in range(3)]
    assert all(s.digest is not None for s in stored)
    resp = await aclient.delete_namespace(name)
    assert resp.deleted and resp.blobs_deleted == 3
    for s in stored:
        assert s.digest is not None
        assert not await server.domain.blob_store.exists(ns_id, s.digest)
    # A namespace re-created under the same name starts empty, with a new id.
    await aclient.create_namespace(name)
    server.domain.namespaces.forget(name)
    assert await server.domain.namespaces.resolve(name) != ns_id
    await aclient.delete_namespace(name)


async def test_read_consistency_strong_default_and_undefined(aclient: artimeta.AsyncClient) -> None:
    from artimeta.v1 import connection_pb2, connection_pb2_grpc, consistency_pb2, namespace_pb2_grpc

    name = unique_name()
    await aclient.create_namespace(name, description="d")
    stub = aclient.stub(namespace_pb2_grpc.NamespaceServiceStub)
    for consistency in (consistency_pb2.READ_CONSISTENCY_UNSPECIFIED, consistency_pb2.READ_CONSISTENCY_STRONG):
        got = await aclient.call(stub.GetNamespace, pb.GetNamespaceRequest(name=name, consistency=consistency))
        assert got.namespace.description == "d"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(stub.GetNamespace, pb.GetNamespaceRequest(name=name, consistency=7))  # type: ignore[arg-type]
    assert err.value.reason == "INVALID_CONSISTENCY"
    conn = aclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(
            conn.ReadSnapshotTag,
            connection_pb2.ReadSnapshotTagRequest(namespace=name, name="g", tag="t", consistency=9),  # type: ignore[arg-type]
        )
    assert err.value.reason == "INVALID_CONSISTENCY"
    # Deleted here, gone here at once, whether the read is STRONG or not.
    await aclient.delete_namespace(name)
    for consistency in (consistency_pb2.READ_CONSISTENCY_UNSPECIFIED, consistency_pb2.READ_CONSISTENCY_STRONG):
        with pytest.raises(artimeta.NotFound):
            await aclient.call(stub.GetNamespace, pb.GetNamespaceRequest(name=name, consistency=consistency))
