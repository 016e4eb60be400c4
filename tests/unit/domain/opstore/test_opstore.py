"""The op store's use cases over in-memory ports: names and versions checked before storage,
numbering against the op's latest version, bytes that need a registered version, and the precise
NOT_FOUND of each missing piece."""

from __future__ import annotations

import math

import pytest

from artimeta_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from artimeta_server.domain.opstore.models import OpVersion, next_numbers
from artimeta_server.domain.opstore.service import OpStore
from tests.unit.domain.namespaces.fakes import FakeBlobStore, namespaces
from tests.unit.domain.opstore.fakes import FakeOpStoreRepository

NS = "team-a"


async def _store(max_bytes: int = 1024) -> tuple[OpStore, FakeOpStoreRepository, FakeBlobStore]:
    svc, _, blobs = namespaces()
    await svc.create(NS, "", {})
    repo = FakeOpStoreRepository()
    return OpStore(repo, blobs, svc, max_bytes=max_bytes), repo, blobs


def v(major: str, minor: str = "m", patch: str = "p", t: float = 0.0) -> OpVersion:
    return OpVersion(major, minor, patch, t)


def _numbers(x: OpVersion) -> tuple[int, int, int]:
    return x.major_number, x.minor_number, x.patch_number


def test_a_version_is_numbered_against_the_latest() -> None:
    assert next_numbers(None, v("a")) == (1, 0, 0)
    latest = OpVersion("a", "m", "p", 0, 2, 3, 4)
    assert next_numbers(latest, v("a", "m", "q")) == (2, 3, 5)
    assert next_numbers(latest, v("a", "n", "q")) == (2, 4, 0)
    assert next_numbers(latest, v("b", "m", "p")) == (3, 0, 0)


async def test_registering_numbers_versions_and_is_idempotent() -> None:
    store, _, _ = await _store()
    first = await store.register_valid_link(NS, "", "op", v("a", t=1))
    again = await store.register_valid_link(NS, "", "op", v("a", t=99))
    patch = await store.register_valid_link(NS, "", "op", v("a", "m", "p2", t=2))
    major = await store.register_valid_link(NS, "", "op", v("b", t=3))
    assert [_numbers(x) for x in (first, again, patch, major)] == [(1, 0, 0), (1, 0, 0), (1, 0, 1), (2, 0, 0)]
    assert [x.patch for x in await store.versions(NS, "op")] == ["p", "p2", "p"]


async def test_a_link_is_validated_between_its_two_ops_only() -> None:
    store, _, _ = await _store()
    await store.register_valid_link(NS, "down", "up", v("a", t=1))
    await store.register_valid_link(NS, "", "up", v("b", t=2))
    assert [x.major for x in await store.validated_links(NS, "down", "up")] == ["a"]
    assert await store.validated_links(NS, "other", "up") == []


@pytest.mark.parametrize(
    ("version", "field"),
    [
        (v("a.b"), "upstream_version.major"),
        (v("a", "m_n"), "upstream_version.minor"),
        (v("a", "m", ""), "upstream_version.patch"),
        (v("a" * 129), "upstream_version.major"),
        (v("a", t=math.nan), "upstream_version"),
        (v("a", t=math.inf), "upstream_version"),
    ],
)
async def test_a_bad_version_is_refused_before_storage(version: OpVersion, field: str) -> None:
    store, repo, _ = await _store()
    with pytest.raises(InvalidArgument) as err:
        await store.register_valid_link(NS, "", "op", version)
    assert err.value.reason == "INVALID_VERSION"
    assert err.value.metadata["field"] == field
    assert repo.ops == {}


async def test_bad_names_and_unknown_namespaces_are_refused() -> None:
    store, repo, _ = await _store()
    for name in ("", "x" * 513):
        with pytest.raises(InvalidArgument):
            await store.register_valid_link(NS, "", name, v("a"))
    with pytest.raises(NotFound) as err:
        await store.register_valid_link("ghost", "", "op", v("a"))
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    assert repo.ops == {}


async def test_bytes_are_saved_for_a_registered_version_and_read_back() -> None:
    store, _, blobs = await _store()
    stored = await store.register_valid_link(NS, "", "op", v("a"))
    await store.save_bytes(NS, "op", v("a"), b"pickled op")
    assert len(blobs.objects) == 1
    got, data = await store.load_bytes(NS, "op", v("a"))
    assert (got, data) == (stored, b"pickled op")


async def test_bytes_need_a_registered_op_and_version() -> None:
    store, _, blobs = await _store()
    with pytest.raises(FailedPrecondition) as err:
        await store.save_bytes(NS, "op", v("a"), b"x")
    assert err.value.reason == "OP_NOT_REGISTERED"
    await store.register_valid_link(NS, "", "op", v("a"))
    with pytest.raises(FailedPrecondition) as err:
        await store.save_bytes(NS, "op", v("b"), b"x")
    assert err.value.reason == "VERSION_NOT_REGISTERED"
    assert blobs.objects == {}


async def test_oversized_bytes_are_refused_before_the_blob_store() -> None:
    store, _, blobs = await _store(max_bytes=4)
    await store.register_valid_link(NS, "", "op", v("a"))
    with pytest.raises(InvalidArgument) as err:
        await store.save_bytes(NS, "op", v("a"), b"12345")
    assert (err.value.reason, err.value.metadata) == ("OP_BYTES_TOO_LARGE", {"limit": "4"})
    assert blobs.objects == {}


async def test_each_missing_piece_has_its_own_not_found() -> None:
    store, _, blobs = await _store()

    async def reason() -> str:
        with pytest.raises(NotFound) as err:
            await store.load_bytes(NS, "op", v("a"))
        return err.value.reason

    assert await reason() == "OP_NOT_FOUND"
    await store.register_valid_link(NS, "", "op", v("b"))
    assert await reason() == "VERSION_NOT_FOUND"
    await store.register_valid_link(NS, "", "op", v("a"))
    assert await reason() == "OP_BYTES_NOT_FOUND"
    await store.save_bytes(NS, "op", v("a"), b"x")
    blobs.objects.clear()  # the bytes are gone from the blob store
    assert await reason() == "OP_BYTES_NOT_FOUND"


async def test_pipelines() -> None:
    store, _, _ = await _store()
    assert not await store.pipeline_exists(NS, "p")
    await store.register_pipeline(NS, "p", "last")
    await store.register_pipeline(NS, "p", "last")
    assert await store.pipeline_exists(NS, "p")
    with pytest.raises(InvalidArgument):
        await store.register_pipeline(NS, "", "last")
