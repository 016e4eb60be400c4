"""The typed Python facade: `client.namespace(name)` covers every RPC of every artimeta.v1
service (compared with the services' descriptors), the blocking and asyncio classes have the
same methods, and each sub-handle round-trips through the real server."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
import json
import pkgutil

import pytest

import artimeta
import artimeta.v1
from artimeta.blobs import AsyncBlobs, Blobs, Digest, http_get
from artimeta.handles import AsyncNamespaceHandle, NamespaceHandle
from artimeta.records import AsyncRecords, Records
from artimeta.rpcs.methods import HANDLE_ATTRIBUTES, METHODS
from artimeta.v1 import cache_pb2, digest_pb2, graph_pb2, opstore_pb2, records_pb2, tags_pb2
from tests.conftest import unique_name

# NamespaceService is the client's own: these methods carry its RPCs.
NAMESPACE_METHODS = {
    "CreateNamespace": "create_namespace",
    "GetNamespace": "get_namespace",
    "ListNamespaces": "list_namespaces",
    "DeleteNamespace": "delete_namespace",
}


def services() -> dict[str, list[str]]:
    """Every service of the generated artimeta.v1 modules, with its RPC names."""
    found: dict[str, list[str]] = {}
    for info in pkgutil.iter_modules(artimeta.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"artimeta.v1.{info.name}")
            for svc in module.DESCRIPTOR.services_by_name.values():
                found[svc.full_name] = [m.name for m in svc.methods]
    return found


def public_methods(cls: type) -> set[str]:
    return {n for n, v in inspect.getmembers(cls) if not n.startswith("_") and callable(v)}


def is_async(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


def test_every_rpc_has_a_typed_method_sync_and_async() -> None:
    all_services = services()
    assert len(all_services) == 7
    assert set(all_services) == {*METHODS, "artimeta.v1.NamespaceService"}
    assert sorted(all_services["artimeta.v1.NamespaceService"]) == sorted(NAMESPACE_METHODS)
    for rpc, name in NAMESPACE_METHODS.items():
        assert not is_async(getattr(artimeta.Client, name)), rpc
        assert is_async(getattr(artimeta.AsyncClient, name)), rpc
    handle = NamespaceHandle(artimeta.Client("127.0.0.1:1"), "x")
    counted = len(NAMESPACE_METHODS)
    for svc, rpcs in all_services.items():
        if svc == "artimeta.v1.NamespaceService":
            continue
        assert sorted(METHODS[svc]) == sorted(rpcs), svc
        sub = getattr(handle, HANDLE_ATTRIBUTES[svc])
        for rpc in rpcs:
            name = METHODS[svc][rpc]
            sync = getattr(type(sub), name)
            assert not is_async(sync), (svc, rpc)
            counted += 1
    assert counted == sum(len(r) for r in all_services.values())
    handle.client.close()


@pytest.mark.parametrize(
    ("sync_cls", "async_cls"),
    [
        (artimeta.Client, artimeta.AsyncClient),
        (NamespaceHandle, AsyncNamespaceHandle),
        (Blobs, AsyncBlobs),
        (Records, AsyncRecords),
    ],
)
def test_sync_and_async_classes_have_the_same_methods(sync_cls: type, async_cls: type) -> None:
    assert public_methods(sync_cls) == public_methods(async_cls)


async def test_async_sub_handles_mirror_the_sync_ones(target: str) -> None:
    with artimeta.Client(target) as client:
        sync = client.namespace("x")
        async with artimeta.AsyncClient(target) as aclient:
            asyn = aclient.namespace("x")
            assert aclient.namespace("x") is asyn
            for svc, attr in HANDLE_ATTRIBUTES.items():
                s, a = getattr(sync, attr), getattr(asyn, attr)
                assert public_methods(type(s)) == public_methods(type(a)), svc
                for name in METHODS[svc].values():
                    assert not is_async(getattr(s, name)) and is_async(getattr(a, name)), (svc, name)


def descriptor_methods(svc: str) -> list:
    for info in pkgutil.iter_modules(artimeta.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"artimeta.v1.{info.name}")
            if svc in {s.full_name for s in module.DESCRIPTOR.services_by_name.values()}:
                return list(module.DESCRIPTOR.services_by_name[svc.rpartition(".")[2]].methods)
    raise AssertionError(f"no descriptor for {svc}")


async def test_each_method_takes_its_request_fields_as_keywords(target: str) -> None:
    with artimeta.Client(target) as client:
        async with artimeta.AsyncClient(target) as aclient:
            for handle in (client.namespace("x"), aclient.namespace("x")):
                for svc, attr in HANDLE_ATTRIBUTES.items():
                    sub = getattr(handle, attr)
                    methods = descriptor_methods(svc)
                    assert len(methods) == len(METHODS[svc])
                    for m in methods:
                        params = inspect.signature(getattr(sub, METHODS[svc][m.name])).parameters
                        keywords = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
                        assert "timeout" in keywords, m.full_name
                        if m.client_streaming:
                            assert "requests" in params, m.full_name
                            continue
                        fields = {f.name for f in m.input_type.fields} - {"namespace"}
                        assert keywords - {"timeout"} == fields, m.full_name
                        assert "request" in params, m.full_name


def h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


async def test_sync_round_trip_through_each_sub_handle(target: str) -> None:
    # The blocking client runs in a thread beside the in-process server's event loop.
    await asyncio.to_thread(sync_round_trip, target)


def sync_round_trip(target: str) -> None:
    with artimeta.Client(target) as client:
        ns = client.namespace(unique_name("facade")).ensure()
        assert client.namespace(ns.name) is ns and ns.get().name == ns.name

        graph = graph_pb2.Graph(name="g", fingerprint=-5, document=b"doc", document_format="x")
        assert ns.graphs.write_graph(graph=graph).created
        assert ns.graphs.read_graph(name="g", fingerprint=-5).graph.document == b"doc"
        assert [g.name for g in ns.graphs.list_graphs().graphs] == ["g"]

        entity = "e" * 40
        ns.tags.record_tags(
            entity_type=tags_pb2.TAG_ENTITY_TYPE_VALUE,
            entity_id=entity,
            tags=[tags_pb2.TagKeyValue(key="env", value_json=json.dumps("prod"))],
        )
        got = ns.tags.get_tags(tags_pb2.GetTagsRequest(entity_ids=[entity]))
        assert [(t.key, t.value_json) for e in got.entities for t in e.tags] == [("env", '"prod"')]

        value = cache_pb2.CacheValue(value_hash=h("v"), type_name="builtins.str", format="pickle", data=b"v")
        ns.cache.record_values(values=[value])
        values = ns.cache.get_values(value_hashes=[h("v")])
        assert [v.data for v in values.values] == [b"v"]

        version = opstore_pb2.OpVersion(major="a" * 8, minor="b" * 8, patch="c" * 8, creation_time=1.0)
        ns.ops.register_valid_link(upstream_op_name="fit", upstream_version=version)
        assert ns.ops.get_all_versions_of_op(op_name="fit").versions

        digest = ns.blobs.put_bytes(b"facade bytes")
        assert ns.blobs.stat_blob(digest=digest.to_proto()).digest.size_bytes == len(b"facade bytes")
        ns.blobs.put_key(key="k", digest=digest.to_proto())
        assert Digest.from_proto(ns.blobs.lookup_key(key="k").entry.digest) == digest
        chunks = list(ns.blobs.download_chunks(digest=digest.to_proto()))
        assert b"".join(c.data for c in chunks) == b"facade bytes"

        entry = records_pb2.RecordEntry(
            path="a.txt", kind=records_pb2.RECORD_ENTRY_KIND_FILE, mode=0o644, digest=digest.to_proto()
        )
        assert ns.records.commit_record(uuid="a1b2c3d4e5f6", entries=[entry]).created
        assert ns.records.contains("a1b2c3d4e5f6")
        assert [e.path for e in ns.records.get_record(uuid="a1b2c3d4e5f6").record.entries] == ["a.txt"]
        ns.delete()


async def test_async_round_trip_through_each_sub_handle(target: str) -> None:
    async with artimeta.AsyncClient(target) as client:
        ns = await client.namespace(unique_name("facade")).ensure()
        other = unique_name("other")

        graph = graph_pb2.Graph(name="g", fingerprint=7, document=b"adoc", document_format="x")
        assert (await ns.graphs.write_graph(graph=graph)).created
        assert (await ns.graphs.read_graph(name="g", fingerprint=7)).graph.document == b"adoc"
        # A request that names its namespace keeps it: the handle only fills an empty one.
        with pytest.raises(artimeta.NotFound):
            await ns.graphs.read_graph(graph_pb2_read(other))

        entity = "f" * 40
        await ns.tags.record_tags(
            entity_type=tags_pb2.TAG_ENTITY_TYPE_VALUE,
            entity_id=entity,
            tags=[tags_pb2.TagKeyValue(key="k", value_json="1")],
        )
        got = await ns.tags.get_tags(entity_ids=[entity])
        assert [t.key for e in got.entities for t in e.tags] == ["k"]

        value = cache_pb2.CacheValue(value_hash=h("a"), type_name="builtins.str", format="pickle", data=b"a")
        await ns.cache.record_values(values=[value])
        assert [v.data for v in (await ns.cache.get_values(value_hashes=[h("a")])).values] == [b"a"]
        ids = [r async for r in ns.cache.iter_record_ids(root_ids=[])]
        assert ids == [] or all(r.record_ids is not None for r in ids)

        await ns.ops.register_pipeline(pipeline_name="p", last_op_name="fit")
        assert (await ns.ops.pipeline_exists(pipeline_name="p")).exists

        digest = await ns.blobs.put_bytes(b"async bytes")
        assert (await ns.blobs.stat(digest)).digest.size_bytes == len(b"async bytes")
        proto_digest = digest_pb2.Digest(hash=digest.hash, size_bytes=digest.size)
        assert (await ns.blobs.find_missing_blobs(digests=[proto_digest])).missing_digests == []

        entry = records_pb2.RecordEntry(
            path="b.txt", kind=records_pb2.RECORD_ENTRY_KIND_FILE, mode=0o644, digest=proto_digest
        )
        assert (await ns.records.commit_record(uuid="b1b2c3d4e5f6", entries=[entry])).created
        assert (await ns.records.contains_record(uuid="b1b2c3d4e5f6")).contains
        await ns.delete()


def graph_pb2_read(namespace: str):
    from artimeta.v1 import connection_pb2

    return connection_pb2.ReadGraphRequest(namespace=namespace, name="g", fingerprint=7)


async def test_async_blobs_presigned_transfers(target: str, tmp_path) -> None:
    """The presigned helpers AsyncBlobs gained from Blobs: bytes straight to and from S3."""
    async with artimeta.AsyncClient(target) as client:
        ns = await client.namespace(unique_name("presign")).ensure()
        assert (await ns.blobs.capabilities()).presigned_urls
        small = await ns.blobs.upload_via_url(b"x" * 1000)
        assert await ns.blobs.get_bytes(small) == b"x" * 1000
        assert await asyncio.to_thread(http_get, await ns.blobs.download_url(small)) == b"x" * 1000
        path = tmp_path / "f.bin"
        path.write_bytes(bytes(range(256)) * 1200)
        big = await ns.blobs.upload_file_direct(path)
        assert big == Digest.of_file(path) and (await ns.blobs.stat(big)).digest.size_bytes == big.size
        assert b"".join([c async for c in ns.blobs.download_direct(big)]) == path.read_bytes()
        # The bytes are checked against the digest asked for: a wrong size is DataLoss.
        with pytest.raises(artimeta.DataLoss):
            async for _ in ns.blobs.download_direct(Digest(hash=big.hash, size=big.size + 1)):
                pass
        await ns.delete()
