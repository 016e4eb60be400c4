"""Committing a directory as a record: the local scan, which files to send (small ones in
batches, large ones streamed), the CommitRecord request and its stats."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from artimeta.blobs import SMALL_BLOB, Digest, Progress
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
