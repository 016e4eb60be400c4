"""Writing a record's entries out: into a directory without ever following a symlink
(`_Retrieval`), or as a tar stream (`_write_tar`)."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
import uuid as _uuid
from dataclasses import dataclass
from typing import (
    Any,
    BinaryIO,
    Callable,
    Iterator,
    List,
    Optional,
    Sequence,
)

from artimeta.blobs import SMALL_BLOB, Digest, Progress
from artimeta.record_commits import PathLike
from artimeta.v1 import records_pb2 as pb

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
