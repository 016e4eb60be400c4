"""Record directories through RecordService: commit a local directory as a manifest of blobs
(only the files the server lacks are sent) and retrieve it byte-identical, hidden files, empty
files, empty folders and symlinks included.

    from artimeta import Client
    from artimeta.records import Records

    with Client("127.0.0.1:50051") as client:
        records = Records(client, "team-a")
        stats = records.commit_directory("a1b2c3d4e5f6", "./run", metadata={"kind": "Experiment"})
        records.retrieve_directory("a1b2c3d4e5f6", "/tmp/copy")
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import stat
import tarfile
import uuid as _uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import (
    Any,
    AsyncIterator,
    BinaryIO,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from artimeta.blobs import SMALL_BLOB, AsyncBlobs, Blobs, Digest, Progress
from artimeta.client import AsyncClient, Client
from artimeta.rpcs.records import RecordRpcs
from artimeta.rpcs.records_aio import AsyncRecordRpcs
from artimeta.v1 import records_pb2 as pb

PathLike = Union[str, "os.PathLike[str]"]
# How many small files travel in one batch at most (bytes are capped by the server's limits).
_BATCH_FILES = 1000


@dataclass(frozen=True)
class CommitStats:
    record: pb.Record
    created: bool
    files: int
    uploaded_files: int
    uploaded_bytes: int


@dataclass(frozen=True)
class _Local:
    path: str  # relative, '/'-separated
    absolute: str
    kind: int
    mode: int
    mtime_ns: int
    digest: Optional[Digest] = None
    link_target: str = ""


def scan_directory(root: PathLike) -> List[_Local]:
    """Every entry under root (not following symlinks), with file digests."""
    root = os.fspath(root)
    out: List[_Local] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(dirnames + filenames):
            absolute = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir.replace(os.sep, '/')}/{name}"
            st = os.lstat(absolute)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                out.append(
                    _Local(
                        rel, absolute, pb.RECORD_ENTRY_KIND_SYMLINK, mode, st.st_mtime_ns, None, os.readlink(absolute)
                    )
                )
            elif stat.S_ISDIR(st.st_mode):
                out.append(_Local(rel, absolute, pb.RECORD_ENTRY_KIND_DIRECTORY, mode, st.st_mtime_ns))
            elif stat.S_ISREG(st.st_mode):
                out.append(
                    _Local(rel, absolute, pb.RECORD_ENTRY_KIND_FILE, mode, st.st_mtime_ns, Digest.of_file(absolute))
                )
    return out


class Records(RecordRpcs):
    """RecordService for one namespace, on a blocking `artimeta.Client`: the typed RPCs of
    `RecordRpcs` plus directory commit, retrieval and tar export."""

    def __init__(self, client: Client, namespace: str, *, blobs: Optional[Blobs] = None, threads: int = 4) -> None:
        super().__init__(client, namespace)
        self.blobs = blobs or Blobs(client, namespace)
        self.threads = threads

    def commit_directory(
        self,
        uuid: str,
        directory: PathLike,
        *,
        metadata: Optional[Mapping[str, str]] = None,
        relations: Sequence[Tuple[str, str]] = (),
        replace: bool = False,
        progress: Optional[Progress] = None,
    ) -> CommitStats:
        """Commits `directory` as record `uuid`: asks which file blobs are missing, sends only
        those, then commits the manifest (merged into the stored one unless `replace`)."""
        local = scan_directory(directory)
        missing = set(self.blobs.find_missing(_file_digests(local)))
        todo = _to_send(local, missing)
        uploaded_bytes = self._upload(todo, progress)
        req = _commit_request(self.namespace, uuid, local, metadata, relations, replace)
        resp = self.client.call(self._stub.CommitRecord, req)
        return _stats(resp, local, todo, uploaded_bytes)

    def _upload(self, todo: Dict[Digest, str], progress: Optional[Progress]) -> int:
        sent = _Sent(todo, progress)
        limit = min(self.blobs.capabilities().max_batch_total_bytes, 8 * 1024 * 1024)
        for batch in _small_batches(todo, limit):
            self.blobs.batch_update(batch)
            sent.add(sum(len(b) for b in batch))
        for d, path in _large(todo):
            self.blobs.upload_file(path, digest=d, progress=sent.step())
            sent.add(d.size)
        return sent.done

    def get(self, uuid: str) -> pb.Record:
        return self.client.call(self._stub.GetRecord, pb.GetRecordRequest(namespace=self.namespace, uuid=uuid)).record

    def retrieve_directory(self, uuid: str, directory: PathLike, *, progress: Optional[Progress] = None) -> pb.Record:
        """Writes record `uuid` into `directory` (created if needed; existing files at the same
        paths are overwritten, others kept). Raises artimeta.NotFound when the record is unknown."""
        record = self.get(uuid)
        plan = _Retrieval(record, directory)
        try:
            datas = self.blobs.batch_read(plan.unique_small) if plan.unique_small else []
            plan.write_small(datas, progress)

            def fetch(e: pb.RecordEntry) -> int:
                out = plan.create(e)
                try:
                    for chunk in self.blobs.download(Digest.from_proto(e.digest)):
                        out.file.write(chunk)
                    plan.commit(out, e)
                finally:
                    plan.discard(out)
                return int(e.digest.size_bytes)

            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                for n in pool.map(fetch, plan.large):
                    plan.count(n, progress)
            plan.finish()
        finally:
            plan.close()
        return record

    def export_tar(self, uuid: str, out: BinaryIO, *, progress: Optional[Progress] = None) -> pb.Record:
        """Writes record `uuid` to `out` as a tar stream (paths, modes, mtimes, empty folders,
        symlinks), file by file as the bytes arrive: nothing is held whole in memory and `out`
        may be a pipe."""
        record = self.get(uuid)
        _write_tar(record, out, self.blobs.download, progress)
        return record

    def contains(self, uuid: str) -> bool:
        """True when the record is known and all its bytes are present."""
        req = pb.ContainsRecordRequest(namespace=self.namespace, uuid=uuid)
        return bool(self.client.call(self._stub.ContainsRecord, req).contains)

    def delete(self, uuid: str, *, allow_missing: bool = True) -> bool:
        req = pb.DeleteRecordRequest(namespace=self.namespace, uuid=uuid, allow_missing=allow_missing)
        return bool(self.client.call(self._stub.DeleteRecord, req).deleted)

    def list(
        self, *, uuid_prefix: str = "", metadata: Optional[Mapping[str, str]] = None, page_size: int = 0
    ) -> Iterator[pb.Record]:
        token = ""
        while True:
            req = pb.ListRecordsRequest(
                namespace=self.namespace,
                uuid_prefix=uuid_prefix,
                metadata=dict(metadata or {}),
                page_size=page_size,
                page_token=token,
            )
            page = self.client.call(self._stub.ListRecords, req)
            yield from page.records
            token = page.next_page_token
            if not token:
                return

    def related(self, uuid: str, *, deep: bool = False) -> List[str]:
        req = pb.ListRelatedRecordsRequest(namespace=self.namespace, uuid=uuid, deep=deep)
        return list(self.client.call(self._stub.ListRelatedRecords, req).uuids)


class AsyncRecords(AsyncRecordRpcs):
    """RecordService for one namespace, on an `artimeta.AsyncClient`: commit and retrieve record
    directories like `Records`, sharing its plan; directory scans and file writes run in threads."""

    def __init__(
        self, client: AsyncClient, namespace: str, *, blobs: Optional[AsyncBlobs] = None, concurrency: int = 4
    ) -> None:
        super().__init__(client, namespace)
        self.blobs = blobs or AsyncBlobs(client, namespace)
        self.concurrency = concurrency

    async def commit_directory(
        self,
        uuid: str,
        directory: PathLike,
        *,
        metadata: Optional[Mapping[str, str]] = None,
        relations: Sequence[Tuple[str, str]] = (),
        replace: bool = False,
        progress: Optional[Progress] = None,
    ) -> CommitStats:
        """See `Records.commit_directory`."""
        local = await asyncio.to_thread(scan_directory, directory)
        missing = set(await self.blobs.find_missing(_file_digests(local)))
        todo = _to_send(local, missing)
        sent = _Sent(todo, progress)
        limit = min((await self.blobs.capabilities()).max_batch_total_bytes, 8 * 1024 * 1024)
        batches = _small_batches(todo, limit)
        while True:
            batch = await asyncio.to_thread(next, batches, None)
            if batch is None:
                break
            await self.blobs.batch_update(batch)
            sent.add(sum(len(b) for b in batch))
        for d, path in _large(todo):
            await self.blobs.upload_file(path, digest=d, progress=sent.step())
            sent.add(d.size)
        req = _commit_request(self.namespace, uuid, local, metadata, relations, replace)
        resp = await self.client.call(self._stub.CommitRecord, req)
        return _stats(resp, local, todo, sent.done)

    async def get(self, uuid: str) -> pb.Record:
        resp = await self.client.call(self._stub.GetRecord, pb.GetRecordRequest(namespace=self.namespace, uuid=uuid))
        return resp.record  # type: ignore[no-any-return]

    async def retrieve_directory(
        self, uuid: str, directory: PathLike, *, progress: Optional[Progress] = None
    ) -> pb.Record:
        """See `Records.retrieve_directory`; large files stream `concurrency` at a time."""
        record = await self.get(uuid)
        plan = await asyncio.to_thread(_Retrieval, record, directory)
        try:
            datas = await self.blobs.batch_read(plan.unique_small) if plan.unique_small else []
            await asyncio.to_thread(plan.write_small, datas, progress)
            gate = asyncio.Semaphore(self.concurrency)

            async def fetch(e: pb.RecordEntry) -> None:
                async with gate:
                    out = await asyncio.to_thread(plan.create, e)
                    try:
                        async for chunk in self.blobs.download(Digest.from_proto(e.digest)):
                            await asyncio.to_thread(out.file.write, chunk)
                        await asyncio.to_thread(plan.commit, out, e)
                    finally:
                        await asyncio.to_thread(plan.discard, out)
                    plan.count(int(e.digest.size_bytes), progress)

            await asyncio.gather(*(fetch(e) for e in plan.large))
            await asyncio.to_thread(plan.finish)
        finally:
            plan.close()
        return record

    async def export_tar(self, uuid: str, out: BinaryIO, *, progress: Optional[Progress] = None) -> pb.Record:
        """See `Records.export_tar`: the tar stream is written in a thread, fed chunk by chunk
        from this event loop's downloads."""
        record = await self.get(uuid)
        loop = asyncio.get_running_loop()

        def chunks(digest: Digest) -> Iterator[bytes]:
            download = self.blobs.download(digest)

            async def next_chunk() -> bytes:
                return await download.__anext__()

            while True:
                try:
                    yield asyncio.run_coroutine_threadsafe(next_chunk(), loop).result()
                except StopAsyncIteration:
                    return

        await asyncio.to_thread(_write_tar, record, out, chunks, progress)
        return record

    async def contains(self, uuid: str) -> bool:
        req = pb.ContainsRecordRequest(namespace=self.namespace, uuid=uuid)
        return bool((await self.client.call(self._stub.ContainsRecord, req)).contains)

    async def delete(self, uuid: str, *, allow_missing: bool = True) -> bool:
        req = pb.DeleteRecordRequest(namespace=self.namespace, uuid=uuid, allow_missing=allow_missing)
        return bool((await self.client.call(self._stub.DeleteRecord, req)).deleted)

    async def list(
        self, *, uuid_prefix: str = "", metadata: Optional[Mapping[str, str]] = None, page_size: int = 0
    ) -> AsyncIterator[pb.Record]:
        token = ""
        while True:
            req = pb.ListRecordsRequest(
                namespace=self.namespace,
                uuid_prefix=uuid_prefix,
                metadata=dict(metadata or {}),
                page_size=page_size,
                page_token=token,
            )
            page = await self.client.call(self._stub.ListRecords, req)
            for record in page.records:
                yield record
            token = page.next_page_token
            if not token:
                return

    async def related(self, uuid: str, *, deep: bool = False) -> List[str]:
        req = pb.ListRelatedRecordsRequest(namespace=self.namespace, uuid=uuid, deep=deep)
        return list((await self.client.call(self._stub.ListRelatedRecords, req)).uuids)


def _file_digests(local: Sequence[_Local]) -> List[Digest]:
    return list({e.digest for e in local if e.digest is not None})


def _to_send(local: Sequence[_Local], missing: set[Digest]) -> Dict[Digest, str]:
    """The file to read each missing blob from (a blob held by several files is sent once)."""
    todo: Dict[Digest, str] = {}
    for e in local:
        if e.digest is not None and e.digest in missing and e.digest not in todo:
            todo[e.digest] = e.absolute
    return todo


def _commit_request(
    namespace: str,
    uuid: str,
    local: Sequence[_Local],
    metadata: Optional[Mapping[str, str]],
    relations: Sequence[Tuple[str, str]],
    replace: bool,
) -> pb.CommitRecordRequest:
    entries = [
        pb.RecordEntry(
            path=e.path,
            kind=e.kind,  # type: ignore[arg-type]
            mode=e.mode,
            digest=e.digest.to_proto() if e.digest is not None else None,
            modify_time_ns=e.mtime_ns,
            link_target=e.link_target,
        )
        for e in local
    ]
    return pb.CommitRecordRequest(
        namespace=namespace,
        uuid=uuid,
        entries=entries,
        metadata=dict(metadata or {}),
        set_metadata=metadata is not None,
        relations=[pb.RecordRelation(related_uuid=r, name=n) for r, n in relations],
        mode=pb.COMMIT_MODE_REPLACE if replace else pb.COMMIT_MODE_MERGE,
    )


def _stats(
    resp: pb.CommitRecordResponse, local: Sequence[_Local], todo: Dict[Digest, str], uploaded_bytes: int
) -> CommitStats:
    files = sum(1 for e in local if e.digest is not None)
    return CommitStats(resp.record, resp.created, files, len(todo), uploaded_bytes)


class _Sent:
    """Bytes sent so far by a commit, reported to its progress callback."""

    def __init__(self, todo: Dict[Digest, str], progress: Optional[Progress]) -> None:
        self.total = sum(d.size for d in todo)
        self.progress = progress
        self.done = 0

    def add(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)

    def step(self) -> Optional[Progress]:
        """A callback for one large file's own progress, reported as progress of the whole."""
        progress, base, total = self.progress, self.done, self.total
        if progress is None:
            return None
        return lambda n, _t: progress(base + n, total)


def _small_batches(todo: Dict[Digest, str], limit: int) -> Iterator[List[bytes]]:
    """The small files to send, read and checked, in batches of at most `limit` bytes."""
    batch: List[bytes] = []
    held = 0
    for d, path in todo.items():
        if d.size > SMALL_BLOB:
            continue
        with open(path, "rb") as f:
            data = f.read()
        if Digest.of(data) != d:
            raise RuntimeError(f"{path} changed while it was being committed")
        if batch and (held + len(data) > limit or len(batch) >= _BATCH_FILES):
            yield batch
            batch, held = [], 0
        batch.append(data)
        held += len(data)
    if batch:
        yield batch


def _large(todo: Dict[Digest, str]) -> List[Tuple[Digest, str]]:
    return [(d, p) for d, p in todo.items() if d.size > SMALL_BLOB]


# Permission bits only: setuid, setgid and sticky bits from a record are never applied.
_SAFE_MODE = 0o777
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class UnsafeRecordPath(ValueError):
    """A record entry would be written through a symlink (or outside the target directory)."""


@dataclass
class _Output:
    """A file being written: a temporary name in its (verified) folder, renamed at the end."""

    parent: int  # folder descriptor
    name: str
    temp: str
    file: BinaryIO
    done: bool = False


class _Retrieval:
    """Writing one record into a directory, for the sync and the asyncio client: folders first,
    small files from one batch read, large files streamed by the caller, then symlinks, then
    folders' modes and times (deepest first, so writing children does not move parents' mtime).

    Nothing is ever written through a symlink: every folder on an entry's path is opened one
    component at a time with O_NOFOLLOW relative to its parent's descriptor (a link or a file
    there is refused), and files are written to a new temporary name in that folder and renamed
    over the entry, so an existing link at the entry is replaced, not followed."""

    def __init__(self, record: pb.Record, directory: PathLike) -> None:
        self.root = os.fspath(directory)
        os.makedirs(self.root, exist_ok=True)
        self._root_fd = os.open(self.root, os.O_RDONLY | _DIRECTORY)
        try:
            self.dirs = [e for e in record.entries if e.kind == pb.RECORD_ENTRY_KIND_DIRECTORY]
            files = [e for e in record.entries if e.kind == pb.RECORD_ENTRY_KIND_FILE]
            self.links = [e for e in record.entries if e.kind == pb.RECORD_ENTRY_KIND_SYMLINK]
            for e in self.links:
                _check_link(e)
            for e in self.dirs:
                os.close(self._folder(_parts(e.path), create=True))
            self.total = sum(e.digest.size_bytes for e in files)
            self.done = 0
            self.small = [e for e in files if e.digest.size_bytes <= SMALL_BLOB]
            self.large = [e for e in files if e.digest.size_bytes > SMALL_BLOB]
            self.unique_small = list(dict.fromkeys(Digest.from_proto(e.digest) for e in self.small))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def _folder(self, parts: Sequence[str], *, create: bool) -> int:
        """A descriptor of root/parts, each component a real folder (never a link)."""
        fd = os.dup(self._root_fd)
        try:
            for name in parts:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(name, 0o755, dir_fd=fd)
                try:
                    child = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    raise UnsafeRecordPath(
                        f"{'/'.join(parts)!r}: {name!r} is a symlink or not a folder; nothing is written through it"
                    ) from exc
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def write_small(self, datas: Sequence[bytes], progress: Optional[Progress]) -> None:
        contents = {d: datas[i] for i, d in enumerate(self.unique_small)}
        for e in self.small:
            out = self.create(e)
            try:
                out.file.write(contents[Digest.from_proto(e.digest)])
                self.commit(out, e)
            finally:
                self.discard(out)
            self.done += e.digest.size_bytes
        if progress is not None and self.small:
            progress(self.done, self.total)

    def create(self, e: pb.RecordEntry) -> _Output:
        """A new temporary file beside entry e (its folders created), for the bytes of e."""
        parts = _parts(e.path)
        parent = self._folder(parts[:-1], create=True)
        temp = f".artimeta-{_uuid.uuid4().hex}.part"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o600, dir_fd=parent)
        except BaseException:
            os.close(parent)
            raise
        return _Output(parent, parts[-1], temp, os.fdopen(fd, "wb"))

    def commit(self, out: _Output, e: pb.RecordEntry) -> None:
        out.file.flush()
        _apply(out.file.fileno(), e, 0o644)
        out.file.close()
        os.replace(out.temp, out.name, src_dir_fd=out.parent, dst_dir_fd=out.parent)
        out.done = True

    def discard(self, out: _Output) -> None:
        """Closes out, removing its temporary file unless it was committed."""
        if not out.file.closed:
            out.file.close()
        if not out.done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out.temp, dir_fd=out.parent)
        os.close(out.parent)

    def count(self, n: int, progress: Optional[Progress]) -> None:
        self.done += n
        if progress is not None:
            progress(self.done, self.total)

    def finish(self) -> None:
        for e in self.links:
            parts = _parts(e.path)
            parent = self._folder(parts[:-1], create=True)
            try:
                try:
                    st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                if st is not None:
                    if stat.S_ISDIR(st.st_mode):
                        raise UnsafeRecordPath(f"{e.path!r} is a symlink in the record and a folder on disk")
                    os.unlink(parts[-1], dir_fd=parent)
                os.symlink(e.link_target, parts[-1], dir_fd=parent)
            finally:
                os.close(parent)
        for e in reversed(self.dirs):
            fd = self._folder(_parts(e.path), create=False)
            try:
                _apply(fd, e, 0o755)
            finally:
                os.close(fd)


def _parts(path: str) -> List[str]:
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise UnsafeRecordPath(f"record path {path!r} escapes the target directory")
    return parts


def _is_drive(target: str) -> bool:
    return target[:1].isalpha() and target[1:2] == ":" and target[2:3] in ("", "/")


def _check_link(e: pb.RecordEntry) -> None:
    """Records committed before the server refused such targets may still hold them: nothing
    of the record is written then."""
    target = e.link_target.replace("\\", "/")
    if not target or target.startswith("/") or ".." in target.split("/") or _is_drive(target):
        raise UnsafeRecordPath(f"symlink {e.path!r} points outside the record ({e.link_target!r})")


def _apply(fd: int, e: pb.RecordEntry, default_mode: int) -> None:
    """Permission bits and modification time, on the open descriptor (never through a path)."""
    os.chmod(fd, (e.mode & _SAFE_MODE) or default_mode)
    if e.modify_time_ns:
        os.utime(fd, ns=(e.modify_time_ns, e.modify_time_ns))


class _IterReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (what tarfile.addfile reads from)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not len(self._view):
            try:
                self._view = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]  # a view: no copy of the rest
        return n


__all__ = ["AsyncRecords", "CommitStats", "Records", "UnsafeRecordPath", "scan_directory"]


def _write_tar(
    record: pb.Record, out: BinaryIO, download: Callable[[Digest], Iterator[bytes]], progress: Optional[Progress]
) -> None:
    """Writes `record` to `out` as a tar stream, each file's bytes taken from `download` as they come."""
    total = sum(e.digest.size_bytes for e in record.entries if e.kind == pb.RECORD_ENTRY_KIND_FILE)
    done = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for e in record.entries:
            info = tarfile.TarInfo(e.path)
            info.mtime = e.modify_time_ns / 1e9 if e.modify_time_ns else 0
            info.mode = (e.mode & _SAFE_MODE) or (0o755 if e.kind != pb.RECORD_ENTRY_KIND_FILE else 0o644)
            if e.kind == pb.RECORD_ENTRY_KIND_DIRECTORY:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == pb.RECORD_ENTRY_KIND_SYMLINK:
                info.type = tarfile.SYMTYPE
                info.linkname = e.link_target
                tar.addfile(info)
            else:
                digest = Digest.from_proto(e.digest)
                info.size = digest.size
                tar.addfile(info, _IterReader(download(digest)))
                done += digest.size
                if progress is not None:
                    progress(done, total)
