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

import io
import os
import stat
import tarfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from artimeta.blobs import SMALL_BLOB, Blobs, Digest, Progress
from artimeta.client import Client
from artimeta.v1 import records_pb2 as pb
from artimeta.v1 import records_pb2_grpc

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


class Records:
    """RecordService for one namespace, on a blocking `artimeta.Client`."""

    def __init__(self, client: Client, namespace: str, *, blobs: Optional[Blobs] = None, threads: int = 4) -> None:
        self.client = client
        self.namespace = namespace
        self.blobs = blobs or Blobs(client, namespace)
        self.threads = threads

    @property
    def _stub(self) -> records_pb2_grpc.RecordServiceStub:
        return self.client.stub(records_pb2_grpc.RecordServiceStub)

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
        files = [e for e in local if e.digest is not None]
        missing = set(self.blobs.find_missing(list({e.digest for e in files if e.digest is not None})))
        todo: Dict[Digest, str] = {}
        for e in files:
            if e.digest in missing and e.digest not in todo:
                todo[e.digest] = e.absolute
        uploaded_bytes = self._upload(todo, progress)
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
        req = pb.CommitRecordRequest(
            namespace=self.namespace,
            uuid=uuid,
            entries=entries,
            metadata=dict(metadata or {}),
            set_metadata=metadata is not None,
            relations=[pb.RecordRelation(related_uuid=r, name=n) for r, n in relations],
            mode=pb.COMMIT_MODE_REPLACE if replace else pb.COMMIT_MODE_MERGE,
        )
        resp = self.client.call(self._stub.CommitRecord, req)
        return CommitStats(resp.record, resp.created, len(files), len(todo), uploaded_bytes)

    def _upload(self, todo: dict[Digest, str], progress: Optional[Progress]) -> int:
        total = sum(d.size for d in todo)
        done = 0
        small = [(d, p) for d, p in todo.items() if d.size <= SMALL_BLOB]
        large = [(d, p) for d, p in todo.items() if d.size > SMALL_BLOB]
        batch: List[bytes] = []
        held = 0
        limit = min(self.blobs.capabilities().max_batch_total_bytes, 8 * 1024 * 1024)
        for d, path in small:
            with open(path, "rb") as f:
                data = f.read()
            if Digest.of(data) != d:
                raise RuntimeError(f"{path} changed while it was being committed")
            if batch and (held + len(data) > limit or len(batch) >= _BATCH_FILES):
                self.blobs.batch_update(batch)
                done += held
                if progress is not None:
                    progress(done, total)
                batch, held = [], 0
            batch.append(data)
            held += len(data)
        if batch:
            self.blobs.batch_update(batch)
            done += held
            if progress is not None:
                progress(done, total)
        for d, path in large:
            base = done

            def step(n: int, _t: int, base: int = base) -> None:
                if progress is not None:
                    progress(base + n, total)

            self.blobs.upload_file(path, digest=d, progress=step)
            done += d.size
        return done

    def get(self, uuid: str) -> pb.Record:
        return self.client.call(self._stub.GetRecord, pb.GetRecordRequest(namespace=self.namespace, uuid=uuid)).record

    def retrieve_directory(self, uuid: str, directory: PathLike, *, progress: Optional[Progress] = None) -> pb.Record:
        """Writes record `uuid` into `directory` (created if needed; existing files at the same
        paths are overwritten, others kept). Raises artimeta.NotFound when the record is unknown."""
        record = self.get(uuid)
        root = os.fspath(directory)
        os.makedirs(root, exist_ok=True)
        dirs = [e for e in record.entries if e.kind == pb.RECORD_ENTRY_KIND_DIRECTORY]
        files = [e for e in record.entries if e.kind == pb.RECORD_ENTRY_KIND_FILE]
        links = [e for e in record.entries if e.kind == pb.RECORD_ENTRY_KIND_SYMLINK]
        for e in dirs:
            os.makedirs(self._target(root, e.path), exist_ok=True)
        total = sum(e.digest.size_bytes for e in files)
        done = 0
        small = [e for e in files if e.digest.size_bytes <= SMALL_BLOB]
        large = [e for e in files if e.digest.size_bytes > SMALL_BLOB]
        unique = list(dict.fromkeys(Digest.from_proto(e.digest) for e in small))
        datas = self.blobs.batch_read(unique) if unique else []
        contents = {d: datas[i] for i, d in enumerate(unique)}
        for e in small:
            self._write(root, e, contents[Digest.from_proto(e.digest)])
            done += e.digest.size_bytes
        if progress is not None and small:
            progress(done, total)

        def fetch(e: pb.RecordEntry) -> int:
            target = self._target(root, e.path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self.blobs.download_to_file(Digest.from_proto(e.digest), target)
            self._finish(target, e)
            return int(e.digest.size_bytes)

        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            for n in pool.map(fetch, large):
                done += n
                if progress is not None:
                    progress(done, total)
        for e in links:
            target = self._target(root, e.path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.lexists(target):
                os.unlink(target)
            os.symlink(e.link_target, target)
        for e in reversed(dirs):  # deepest first, so writing children does not move parents' mtime
            target = self._target(root, e.path)
            os.chmod(target, e.mode or 0o755)
            if e.modify_time_ns:
                os.utime(target, ns=(e.modify_time_ns, e.modify_time_ns))
        return record

    @staticmethod
    def _target(root: str, path: str) -> str:
        target = os.path.normpath(os.path.join(root, *path.split("/")))
        if os.path.commonpath([os.path.abspath(root), os.path.abspath(target)]) != os.path.abspath(root):
            raise ValueError(f"record path {path!r} escapes the target directory")
        return target

    def _write(self, root: str, e: pb.RecordEntry, data: bytes) -> None:
        target = self._target(root, e.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(target):
            os.unlink(target)
        with open(target, "wb") as f:
            f.write(data)
        self._finish(target, e)

    @staticmethod
    def _finish(target: str, e: pb.RecordEntry) -> None:
        if e.mode:
            os.chmod(target, e.mode)
        if e.modify_time_ns:
            os.utime(target, ns=(e.modify_time_ns, e.modify_time_ns))

    def export_tar(self, uuid: str, out: BinaryIO, *, progress: Optional[Progress] = None) -> pb.Record:
        """Writes record `uuid` to `out` as a tar stream (paths, modes, mtimes, empty folders,
        symlinks), file by file as the bytes arrive: nothing is held whole in memory and `out`
        may be a pipe."""
        record = self.get(uuid)
        total = sum(e.digest.size_bytes for e in record.entries if e.kind == pb.RECORD_ENTRY_KIND_FILE)
        done = 0
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for e in record.entries:
                info = tarfile.TarInfo(e.path)
                info.mtime = e.modify_time_ns / 1e9 if e.modify_time_ns else 0
                info.mode = e.mode or (0o755 if e.kind != pb.RECORD_ENTRY_KIND_FILE else 0o644)
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
                    tar.addfile(info, _IterReader(self.blobs.download(digest)))
                    done += digest.size
                    if progress is not None:
                        progress(done, total)
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


__all__ = ["CommitStats", "Records", "scan_directory"]
