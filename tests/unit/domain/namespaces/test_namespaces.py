"""The namespace use cases over in-memory ports: validation before storage, the read cache and what
invalidates it, keyset pages, and a deletion that stands when the blob store fails."""

from __future__ import annotations

import pytest

from artimeta_server.domain.errors import AlreadyExists, InvalidArgument, NotFound
from artimeta_server.domain.namespaces.models import DeletedNamespace
from artimeta_server.domain.namespaces.service import SETTLE_S
from tests.unit.domain.namespaces.fakes import namespaces


async def test_a_created_namespace_is_read_back_with_its_labels() -> None:
    svc, _, _ = namespaces()
    made = await svc.create("team-a", "the A team", {"owner": "ana"})
    got = await svc.get("team-a")
    assert (got.id, got.description, got.labels) == (made.id, "the A team", {"owner": "ana"})
    assert await svc.resolve("team-a") == made.id


@pytest.mark.parametrize("name", ["", "Team", "-a", "a" * 64, "a/b"])
async def test_a_bad_name_is_refused_before_storage(name: str) -> None:
    svc, repo, _ = namespaces()
    with pytest.raises(InvalidArgument) as err:
        await svc.create(name, "", {})
    assert err.value.reason == "INVALID_NAME"
    assert repo.rows == {}


async def test_bad_labels_and_descriptions_are_refused() -> None:
    svc, repo, _ = namespaces()
    with pytest.raises(InvalidArgument):
        await svc.create("team-a", "x" * 100_000, {})
    with pytest.raises(InvalidArgument):
        await svc.create("team-a", "", {"": "v"})
    assert repo.rows == {}


async def test_a_second_create_is_already_exists() -> None:
    svc, _, _ = namespaces()
    await svc.create("team-a", "", {})
    with pytest.raises(AlreadyExists) as err:
        await svc.create("team-a", "", {})
    assert err.value.reason == "NAMESPACE_EXISTS"


async def test_reads_are_served_from_memory_unless_strong() -> None:
    svc, repo, _ = namespaces()
    await svc.create("team-a", "", {})
    await svc.get("team-a")
    before = repo.gets
    for _ in range(5):
        await svc.get("team-a")
    assert repo.gets == before
    await svc.get("team-a", strong=True)
    assert repo.gets == before + 1


async def test_a_name_nobody_created_is_never_kept() -> None:
    svc, repo, _ = namespaces()
    for _ in range(3):
        with pytest.raises(NotFound) as err:
            await svc.get("ghost")
        assert err.value.reason == "NAMESPACE_NOT_FOUND"
    assert repo.gets == 3
    await svc.create("ghost", "", {})
    assert (await svc.get("ghost")).name == "ghost"


async def test_a_deleted_namespace_is_gone_at_once_from_the_cache() -> None:
    svc, _, _ = namespaces()
    await svc.create("team-a", "", {})
    await svc.get("team-a")  # cached
    await svc.delete("team-a", allow_missing=False)
    with pytest.raises(NotFound):
        await svc.resolve("team-a")


async def test_pages_walk_every_name_once_in_order() -> None:
    svc, _, _ = namespaces()
    names = [f"ns-{i:02d}" for i in range(7)]
    for n in reversed(names):
        await svc.create(n, "", {})
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await svc.list(3, token)
        seen += [ns.name for ns in page.namespaces]
        pages += 1
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert seen == names
    assert pages == 3


async def test_a_page_token_from_elsewhere_is_refused() -> None:
    svc, _, _ = namespaces()
    with pytest.raises(InvalidArgument) as err:
        await svc.list(3, "not-a-token")
    assert err.value.reason == "INVALID_PAGE_TOKEN"
    with pytest.raises(InvalidArgument) as err:
        await svc.list(-1, "")
    assert err.value.reason == "INVALID_PAGE_SIZE"


async def test_deleting_a_missing_namespace() -> None:
    svc, _, _ = namespaces()
    assert await svc.delete("ghost", allow_missing=True) == DeletedNamespace(False, 0)
    with pytest.raises(NotFound) as err:
        await svc.delete("ghost", allow_missing=False)
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    assert err.value.metadata == {"namespace": "ghost"}


async def test_a_deletion_purges_the_namespace_blobs_and_only_those() -> None:
    svc, repo, blobs = namespaces()
    a = await svc.create("team-a", "", {})
    b = await svc.create("team-b", "", {})
    await blobs.put(a.id, b"one")
    await blobs.put(a.id, b"two")
    await blobs.put(b.id, b"three")
    assert await svc.delete("team-a", allow_missing=False) == DeletedNamespace(True, 2)
    assert [k[0] for k in blobs.objects] == [b.id]
    # The tombstone stays until late writes cannot land any more; each janitor round purges again.
    assert await repo.tombstones() == [a.id]
    await blobs.put(a.id, b"late")
    assert await svc.purge_tombstones() == 1
    repo.clock += SETTLE_S
    assert await svc.purge_tombstones() == 0
    assert await repo.tombstones() == []


async def test_a_deletion_stands_when_the_blob_store_is_down() -> None:
    svc, repo, blobs = namespaces()
    a = await svc.create("team-a", "", {})
    await blobs.put(a.id, b"one")
    blobs.down = True
    assert await svc.delete("team-a", allow_missing=False) == DeletedNamespace(True, 0)
    assert "team-a" not in repo.rows
    assert await repo.tombstones() == [a.id]
    blobs.down = False
    repo.clock += SETTLE_S
    assert await svc.purge_tombstones() == 1
    assert blobs.objects == {} and await repo.tombstones() == []
