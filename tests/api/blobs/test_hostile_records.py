"""Hostile records: link targets that leave the record are refused on commit, retrieval never
writes through a link, and setuid/setgid/sticky bits are never applied."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import artimeta
from artimeta.blobs import Blobs
from artimeta.records import Records, UnsafeRecordPath
from artimeta.v1 import records_pb2 as pb
from artimeta_server.domain.records.models import FILE, SYMLINK, Entry
from artimeta_server.server import Server
from tests.api.blobs.test_blobs import run


@pytest.fixture
def records(blobs: Blobs) -> Records:
    return Records(blobs.client, blobs.namespace, blobs=blobs)


def link(path: str, target: str) -> pb.RecordEntry:
    return pb.RecordEntry(path=path, kind=pb.RECORD_ENTRY_KIND_SYMLINK, link_target=target)


@pytest.mark.parametrize("target", ["/etc", "/", "../outside", "a/../../b", "..", "C:/Windows", "x/..\\..\\y"])
async def test_commit_refuses_link_targets_outside_the_record(records: Records, target: str) -> None:
    req = pb.CommitRecordRequest(namespace=records.namespace, uuid="hostile-link", entries=[link("l", target)])
    with pytest.raises(artimeta.InvalidArgument) as err:
        await run(records.client.call, records._stub.CommitRecord, req)
    assert err.value.reason == "UNSAFE_LINK_TARGET"
    with pytest.raises(artimeta.NotFound):
        await run(records.get, "hostile-link")


async def test_commit_refuses_entries_under_a_link(records: Records) -> None:
    entries = [link("a", "sub"), pb.RecordEntry(path="a/b", kind=pb.RECORD_ENTRY_KIND_DIRECTORY)]
    req = pb.CommitRecordRequest(namespace=records.namespace, uuid="under-link", entries=entries)
    with pytest.raises(artimeta.InvalidArgument) as err:
        await run(records.client.call, records._stub.CommitRecord, req)
    assert err.value.reason == "PATH_CONFLICT"
    with pytest.raises(artimeta.NotFound):
        await run(records.get, "under-link")


async def test_safe_relative_links_still_commit(records: Records, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "data").mkdir(parents=True)
    (src / "data" / "f").write_bytes(b"x")
    (src / "latest").symlink_to("data/f")
    await run(records.commit_directory, "safe-link", src)
    out = tmp_path / "out"
    await run(records.retrieve_directory, "safe-link", out)
    assert os.readlink(out / "latest") == "data/f" and (out / "latest").read_bytes() == b"x"


async def test_retrieval_never_writes_through_a_link(records: Records, tmp_path: Path) -> None:
    """A link left in the target folder (by an earlier record, or anyone) is not followed by a
    later record's file under it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x").write_bytes(b"must stay inside")
    (src / "big").write_bytes(os.urandom(300_000))
    await run(records.commit_directory, "file-under-a", src)
    target = tmp_path / "target"
    target.mkdir()
    (target / "a").symlink_to(outside)
    with pytest.raises(UnsafeRecordPath):
        await run(records.retrieve_directory, "file-under-a", target)
    assert list(outside.iterdir()) == [], "nothing was written through the link"


async def test_retrieval_refuses_stored_links_that_leave_the_record(
    records: Records, blob_server: Server, tmp_path: Path
) -> None:
    """A record stored before commits were checked (written here straight to the repository)."""
    assert blob_server.domain is not None
    ns = await blob_server.domain.namespaces.resolve(records.namespace)
    outside = tmp_path / "outside"
    outside.mkdir()
    await blob_server.domain.records._repo.commit(
        ns, "old-hostile", [Entry("a", SYMLINK, link_target=str(outside))], None, [], replace=True
    )
    target = tmp_path / "target"
    with pytest.raises(UnsafeRecordPath):
        await run(records.retrieve_directory, "old-hostile", target)
    assert not os.path.lexists(target / "a")


async def test_special_mode_bits_are_not_applied(
    records: Records, blobs: Blobs, blob_server: Server, tmp_path: Path
) -> None:
    assert blob_server.domain is not None
    ns = await blob_server.domain.namespaces.resolve(records.namespace)
    small = await run(blobs.put_bytes, b"#!/bin/sh\n")
    big_data = os.urandom(300_000)
    big = await run(blobs.put_bytes, big_data)
    from artimeta_server.domain.digests import Digest as ServerDigest

    await blob_server.domain.records._repo.commit(
        ns,
        "setuid",
        [
            Entry("suid", FILE, mode=0o4755, digest=ServerDigest(small.hash, small.size)),
            Entry("sgid-big", FILE, mode=0o2755, digest=ServerDigest(big.hash, big.size)),
            Entry("sticky", 2, mode=0o1777),
        ],
        None,
        [],
        replace=True,
    )
    out = tmp_path / "out"
    await run(records.retrieve_directory, "setuid", out)
    for name, perm in [("suid", 0o755), ("sgid-big", 0o755), ("sticky", 0o777)]:
        mode = os.lstat(out / name).st_mode
        assert stat.S_IMODE(mode) == perm, (name, oct(mode))
    assert (out / "sgid-big").read_bytes() == big_data
