"""chariots' op-store contract (seed 002) through ArtimetaOpStoreClient and OpStoreService:
what chariots' client returns, its documented intent, and none of its server's bugs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from types import SimpleNamespace

import pytest

import artimeta
from artimeta.adapters.chariots import ArtimetaOpStoreClient, Version
from artimeta.v1 import opstore_pb2 as pb
from artimeta.v1 import opstore_pb2_grpc


def version(major: str, minor: str = "m", patch: str = "p", t: float = 1000.5) -> Version:
    def h(s: str) -> str:
        return hashlib.sha1(s.encode()).hexdigest()

    return Version(h(major), h(minor), h(patch), t)


def op(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name)


def contract(target: str, namespace: str) -> None:
    store = ArtimetaOpStoreClient(target=target, namespace=namespace)
    try:
        assert store.get_all_versions_of_op(op("pca")) is None
        assert store.get_validated_links("forest", "pca") is None
        v1 = version("a", t=1.25)
        store.register_valid_link("forest", "pca", v1)
        store.register_valid_link("forest", "pca", v1)  # idempotent
        versions = store.get_all_versions_of_op(op("pca"))
        assert versions == {v1}
        (only,) = versions
        assert str(only) == str(v1) and only.creation_time == 1.25
        assert store.get_validated_links("forest", "pca") == {v1}
        # A pipeline's last op: registered with no downstream op.
        store.register_valid_link(None, "forest", version("f"))
        assert store.get_all_versions_of_op(op("forest")) == {version("f")}

        store.save_op_bytes(op("pca"), v1, b"\x00pickled pca")
        assert store.get_op_bytes_for_version(op("pca"), v1) == b"\x00pickled pca"
        store.save_op_bytes(op("pca"), v1, b"retrained")
        assert store.get_op_bytes_for_version(op("pca"), v1) == b"retrained"
        # The chariots routes answer with chariots' JSON shapes.
        body = store.post("/v1/get_op_bytes_for_version", {"desired_op_name": "pca", "version": str(v1)})
        assert base64.b64decode(body["bytes"]) == b"retrained" and body["op_version"] == str(v1)
        assert store.post("/v1/get_all_versions_of_op", {"desired_op_name": "none"}) is None

        with pytest.raises(artimeta.FailedPrecondition) as err:
            store.save_op_bytes(op("unknown-op"), v1, b"x")
        assert err.value.reason == "OP_NOT_REGISTERED"
        with pytest.raises(artimeta.FailedPrecondition) as err:
            store.save_op_bytes(op("pca"), version("never-registered"), b"x")
        assert err.value.reason == "VERSION_NOT_REGISTERED"
        with pytest.raises(artimeta.NotFound) as err:
            store.get_op_bytes_for_version(op("pca"), version("never-registered"))
        assert err.value.reason == "VERSION_NOT_FOUND"
        with pytest.raises(artimeta.NotFound) as err:
            store.get_op_bytes_for_version(op("forest"), version("f"))
        assert err.value.reason == "OP_BYTES_NOT_FOUND"

        assert store.pipeline_exists("iris") is False
        pipeline = SimpleNamespace(
            name="iris", get_all_op_links=lambda: [(op("pca"), op("forest")), (op("forest"), None)]
        )
        store.register_new_pipeline(pipeline)
        store.register_new_pipeline(pipeline)
        assert store.pipeline_exists("iris") is True
    finally:
        store.close()


async def test_chariots_op_store_contract(target, namespace):
    await asyncio.to_thread(contract, target, namespace)


async def test_versions_are_numbered_against_the_latest(aclient, namespace):
    stub = aclient.stub(opstore_pb2_grpc.OpStoreServiceStub)

    async def register(v: Version) -> tuple[int, int, int]:
        r = await aclient.call(
            stub.RegisterValidLink,
            pb.RegisterValidLinkRequest(
                namespace=namespace,
                upstream_op_name="model",
                upstream_version=pb.OpVersion(
                    major=v.major, minor=v.minor, patch=v.patch, creation_time=v.creation_time
                ),
            ),
        )
        u = r.upstream_version
        return u.major_number, u.minor_number, u.patch_number

    # chariots' server compares against the lowest version and numbers three majors 1, 2, 2.
    assert await register(version("a", t=1)) == (1, 0, 0)
    assert await register(version("b", t=2)) == (2, 0, 0)
    assert await register(version("c", t=3)) == (3, 0, 0)
    assert await register(version("c", "m2", t=4)) == (3, 1, 0)
    assert await register(version("c", "m2", "p2", t=5)) == (3, 1, 1)
    assert await register(version("a", t=9)) == (1, 0, 0)  # known: keeps its number


async def test_sixteen_workers_register_the_same_version(aclient, namespace, server):
    stub = aclient.stub(opstore_pb2_grpc.OpStoreServiceStub)
    v = version("same")
    request = pb.RegisterValidLinkRequest(
        namespace=namespace,
        downstream_op_name="down",
        upstream_op_name="up",
        upstream_version=pb.OpVersion(major=v.major, minor=v.minor, patch=v.patch, creation_time=v.creation_time),
    )
    results = await asyncio.gather(*(aclient.call(stub.RegisterValidLink, request) for _ in range(16)))
    assert {(r.upstream_version.major_number, r.upstream_version.minor_number) for r in results} == {(1, 0)}
    async with server.domain.db.connection() as conn:
        counts = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM opstore_versions v JOIN namespaces n ON n.id = v.namespace_id WHERE n.name = $1) AS versions,
                      (SELECT count(*) FROM opstore_links l JOIN namespaces n ON n.id = l.namespace_id WHERE n.name = $1) AS links,
                      (SELECT count(*) FROM opstore_ops o JOIN namespaces n ON n.id = o.namespace_id WHERE n.name = $1) AS ops""",
            namespace,
        )
    assert dict(counts) == {"versions": 1, "links": 1, "ops": 2}


async def test_bad_input(aclient, namespace):
    stub = aclient.stub(opstore_pb2_grpc.OpStoreServiceStub)
    bad = pb.RegisterValidLinkRequest(
        namespace=namespace, upstream_op_name="x", upstream_version=pb.OpVersion(major="a.b", minor="c", patch="d")
    )
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(stub.RegisterValidLink, bad)
    assert err.value.reason == "INVALID_VERSION"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(stub.PipelineExists, pb.PipelineExistsRequest(namespace=namespace, pipeline_name=""))
    assert err.value.reason == "EMPTY_FIELD"
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(stub.PipelineExists, pb.PipelineExistsRequest(namespace="missing-ns", pipeline_name="p"))
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(
            stub.GetOpBytes,
            pb.GetOpBytesRequest(
                namespace=namespace, op_name="nope", version=pb.OpVersion(major="a", minor="b", patch="c")
            ),
        )
    assert err.value.reason == "OP_NOT_FOUND"
