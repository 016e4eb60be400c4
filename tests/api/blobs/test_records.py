"""RecordService: record directories committed as manifests of blobs and retrieved byte-identical."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

import artimeta
from artimeta.blobs import Blobs, Digest
from artimeta.records import Records
from artimeta.v1 import digest_pb2
from artimeta.v1 import records_pb2 as pb

T = TypeVar("T")


async def run(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kw)


@pytest.fixture
def records(blobs: Blobs) -> Records:
    return Records(blobs.client, blobs.namespace, blobs=blobs)


def make_tree(root: Path) -> None:
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "empty-dir" / "also-empty").mkdir(parents=True)
    (root / ".hidden-dir").mkdir()
    (root / ".hidden").write_bytes(b"secret")
    (root / ".hidden-dir" / "x.json").write_text('{"a": 1}')
    (root / "empty.txt").write_bytes(b"")
    (root / "nested" / "deeper" / "data.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    (root / "nested" / "same1").write_bytes(b"same")
    (root / "nested" / "same2").write_bytes(b"same")
    (root / "script.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "script.sh").chmod(0o755)
    (root / "link").symlink_to("nested/same1")
    (root / "name with spaces ü").write_text("unicode")


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    out: dict[str, tuple[str, bytes | str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p), 0)
            elif p.is_dir():
                out[rel] = ("dir", b"", st.st_mode & 0o777)
            else:
                out[rel] = ("file", p.read_bytes(), st.st_mode & 0o777)
    return out


async def test_commit_and_retrieve_is_byte_identical(records: Records, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_tree(src)
    stats = await run(records.commit_directory, "abcdef123456", src, metadata={"kind": "Experiment"})
    assert stats.created and stats.files == 8
    assert stats.uploaded_files == 7, "two identical files are one blob"
    dst = tmp_path / "dst"
    await run(records.retrieve_directory, "abcdef123456", dst)
    assert snapshot(dst) == snapshot(src)
    assert (dst / "nested" / "deeper" / "data.bin").stat().st_mtime_ns == (
        src / "nested" / "deeper" / "data.bin"
    ).stat().st_mtime_ns
    assert await run(records.contains, "abcdef123456")
    assert not await run(records.contains, "unknown00000")


async def test_recommit_unchanged_sends_no_bytes_and_merges(records: Records, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_tree(src)
    await run(records.commit_directory, "rec000000001", src)
    again = await run(records.commit_directory, "rec000000001", src)
    assert (again.created, again.uploaded_files, again.uploaded_bytes) == (False, 0, 0)
    # An update adds and overwrites, keeping what it does not mention (a copy into the home).
    upd = tmp_path / "upd"
    upd.mkdir()
    (upd / ".hidden").write_bytes(b"changed")
    (upd / "new.txt").write_bytes(b"new")
    third = await run(records.commit_directory, "rec000000001", upd)
    assert third.uploaded_files == 2
    dst = tmp_path / "dst"
    await run(records.retrieve_directory, "rec000000001", dst)
    assert (dst / ".hidden").read_bytes() == b"changed"
    assert (dst / "new.txt").read_bytes() == b"new"
    assert (dst / "script.sh").exists()
    # Replace drops everything else.
    await run(records.commit_directory, "rec000000001", upd, replace=True)
    assert sorted(e.path for e in (await run(records.get, "rec000000001")).entries) == [".hidden", "new.txt"]


async def test_commit_refuses_missing_blobs_and_bad_paths(records: Records) -> None:
    stub = records._stub
    absent = Digest.of(b"never uploaded").to_proto()
    req = pb.CommitRecordRequest(
        namespace=records.namespace,
        uuid="rec000000002",
        entries=[pb.RecordEntry(path="a", kind=pb.RECORD_ENTRY_KIND_FILE, digest=absent)],
    )
    with pytest.raises(artimeta.FailedPrecondition) as err:
        await run(records.client.call, stub.CommitRecord, req)
    assert err.value.reason == "MISSING_BLOBS" and err.value.metadata["count"] == "1"
    assert not await run(records.contains, "rec000000002")
    for path, reason in (
        ("../escape", "INVALID_PATH"),
        ("/abs", "INVALID_PATH"),
        ("a//b", "INVALID_PATH"),
        ("", "INVALID_PATH"),
    ):
        bad = pb.CommitRecordRequest(
            namespace=records.namespace,
            uuid="rec000000002",
            entries=[pb.RecordEntry(path=path, kind=pb.RECORD_ENTRY_KIND_DIRECTORY)],
        )
        with pytest.raises(artimeta.InvalidArgument) as err2:
            await run(records.client.call, stub.CommitRecord, bad)
        assert err2.value.reason == reason
    dup = pb.CommitRecordRequest(
        namespace=records.namespace,
        uuid="rec000000002",
        entries=[pb.RecordEntry(path="d", kind=pb.RECORD_ENTRY_KIND_DIRECTORY)] * 2,
    )
    with pytest.raises(artimeta.InvalidArgument) as err3:
        await run(records.client.call, stub.CommitRecord, dup)
    assert err3.value.reason == "DUPLICATE_PATH"
    for uuid in ("", "a/b", "x" * 129):
        with pytest.raises(artimeta.InvalidArgument) as err4:
            await run(
                records.client.call, stub.CommitRecord, pb.CommitRecordRequest(namespace=records.namespace, uuid=uuid)
            )
        assert err4.value.reason == "INVALID_UUID"
    bad_digest = pb.CommitRecordRequest(
        namespace=records.namespace,
        uuid="rec000000002",
        entries=[pb.RecordEntry(path="f", kind=pb.RECORD_ENTRY_KIND_FILE, digest=digest_pb2.Digest(hash="nothex"))],
    )
    with pytest.raises(artimeta.InvalidArgument) as err5:
        await run(records.client.call, stub.CommitRecord, bad_digest)
    assert err5.value.reason == "INVALID_DIGEST"


async def test_contains_needs_the_bytes_too(records: Records, blobs: Blobs, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"payload")
    await run(records.commit_directory, "rec000000003", tmp_path)
    assert await run(records.contains, "rec000000003")
    await run(blobs.delete, Digest.of(b"payload"), force=True)
    assert not await run(records.contains, "rec000000003")
    assert await run(records.delete, "rec000000003")
    assert not await run(records.delete, "rec000000003")
    with pytest.raises(artimeta.NotFound) as err:
        await run(records.get, "rec000000003")
    assert err.value.reason == "RECORD_NOT_FOUND"


async def test_list_search_and_relations(records: Records, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    await run(records.commit_directory, "aaa000000001", tmp_path, metadata={"kind": "Component", "module": "m1"})
    await run(
        records.commit_directory,
        "aaa000000002",
        tmp_path,
        metadata={"kind": "Execution", "module": "m2"},
        relations=[("aaa000000001", "execution.executable")],
    )
    await run(
        records.commit_directory,
        "bbb000000003",
        tmp_path,
        metadata={"kind": "Component", "module": "m1"},
        relations=[("aaa000000002", "uses")],
    )
    assert [r.uuid for r in await run(lambda: list(records.list(uuid_prefix="aaa")))] == [
        "aaa000000001",
        "aaa000000002",
    ]
    found = await run(lambda: list(records.list(metadata={"kind": "Component"}, page_size=1)))
    assert [r.uuid for r in found] == ["aaa000000001", "bbb000000003"]
    assert found[0].file_count == 1 and found[0].metadata["module"] == "m1"
    assert await run(records.related, "aaa000000001") == ["aaa000000002"]
    assert await run(records.related, "aaa000000001", deep=True) == ["aaa000000002", "bbb000000003"]
    assert await run(records.related, "aaa000000002") == ["aaa000000001", "bbb000000003"]
    with pytest.raises(artimeta.NotFound):
        await run(records.related, "zzz000000000")


async def test_export_tar_streams_the_record(records: Records, tmp_path: Path) -> None:
    import io
    import tarfile

    src = tmp_path / "src"
    src.mkdir()
    make_tree(src)
    await run(records.commit_directory, "tar000000001", src)
    buf = io.BytesIO()
    await run(records.export_tar, "tar000000001", buf)
    buf.seek(0)
    out = tmp_path / "out"
    with tarfile.open(fileobj=buf, mode="r|") as tar:
        tar.extractall(out, filter="tar")
    assert snapshot(out) == snapshot(src)
