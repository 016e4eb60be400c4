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

from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from artimeta.blobs import Blobs, Digest, Progress
from artimeta.client import Client
from artimeta.record_commits import (
    CommitStats,
    PathLike,
    _commit_request,
    _file_digests,
    _large,
    _Sent,
    _small_batches,
    _stats,
    _to_send,
    scan_directory,
)
from artimeta.record_files import UnsafeRecordPath, _Retrieval, _write_tar
from artimeta.records_aio import AsyncRecords
from artimeta.rpcs.records import RecordRpcs
from artimeta.v1 import records_pb2 as pb

__all__ = ["AsyncRecords", "CommitStats", "Records", "UnsafeRecordPath", "scan_directory"]


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
        return self.get_record(uuid=uuid).record

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
        return bool(self.contains_record(uuid=uuid).contains)

    def delete(self, uuid: str, *, allow_missing: bool = True) -> bool:
        return bool(self.delete_record(uuid=uuid, allow_missing=allow_missing).deleted)

    def list(
        self, *, uuid_prefix: str = "", metadata: Optional[Mapping[str, str]] = None, page_size: int = 0
    ) -> Iterator[pb.Record]:
        token = ""
        while True:
            page = self.list_records(uuid_prefix=uuid_prefix, metadata=metadata, page_size=page_size, page_token=token)
            yield from page.records
            token = page.next_page_token
            if not token:
                return

    def related(self, uuid: str, *, deep: bool = False) -> List[str]:
        return list(self.list_related_records(uuid=uuid, deep=deep).uuids)
