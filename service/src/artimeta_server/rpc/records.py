"""RecordService."""

from __future__ import annotations

from typing import Any

import grpc

from artimeta.v1 import records_pb2 as pb
from artimeta.v1 import records_pb2_grpc
from artimeta_server.domain.records.models import Entry, Record, Relation
from artimeta_server.domain.records.service import Records
from artimeta_server.rpc import access, convert
from artimeta_server.rpc.blobs import digest_in, digest_out

access.declare(
    "artimeta.v1.RecordService",
    read={"GetRecord", "ContainsRecord", "ListRecords", "ListRelatedRecords"},
    write={"CommitRecord", "DeleteRecord"},
)

Context = grpc.aio.ServicerContext[Any, Any]


def record_out(r: Record) -> pb.Record:
    return pb.Record(
        uuid=r.uuid,
        metadata=r.metadata,
        relations=[pb.RecordRelation(related_uuid=x.related_uuid, name=x.name) for x in r.relations],
        entries=[
            pb.RecordEntry(
                path=e.path,
                kind=e.kind,  # type: ignore[arg-type]
                mode=e.mode,
                digest=digest_out(e.digest) if e.digest is not None else None,
                modify_time_ns=e.mtime_ns,
                link_target=e.link_target,
            )
            for e in r.entries
        ],
        file_count=r.file_count,
        total_size_bytes=r.total_size,
        create_time=convert.timestamp(r.create_time),
        update_time=convert.timestamp(r.update_time),
    )


class RecordServicer(records_pb2_grpc.RecordServiceServicer):
    def __init__(self, records: Records) -> None:
        self._records = records

    async def CommitRecord(self, request: pb.CommitRecordRequest, context: Context) -> pb.CommitRecordResponse:
        entries = [
            Entry(
                path=e.path,
                kind=int(e.kind),
                mode=e.mode,
                digest=digest_in(e.digest, "entries.digest") if e.HasField("digest") else None,
                mtime_ns=e.modify_time_ns,
                link_target=e.link_target,
            )
            for e in request.entries
        ]
        relations = [Relation(r.related_uuid, r.name) for r in request.relations]
        record, created = await self._records.commit(
            request.namespace,
            request.uuid,
            entries,
            dict(request.metadata) if request.set_metadata else None,
            relations,
            replace=request.mode == pb.COMMIT_MODE_REPLACE,
        )
        return pb.CommitRecordResponse(record=record_out(record), created=created)

    async def GetRecord(self, request: pb.GetRecordRequest, context: Context) -> pb.GetRecordResponse:
        return pb.GetRecordResponse(record=record_out(await self._records.get(request.namespace, request.uuid)))

    async def ContainsRecord(self, request: pb.ContainsRecordRequest, context: Context) -> pb.ContainsRecordResponse:
        found = await self._records.contains(request.namespace, request.uuid)
        return pb.ContainsRecordResponse(
            contains=found.contains, indexed=found.indexed, missing_blobs=found.missing_blobs
        )

    async def DeleteRecord(self, request: pb.DeleteRecordRequest, context: Context) -> pb.DeleteRecordResponse:
        deleted = await self._records.delete(request.namespace, request.uuid, allow_missing=request.allow_missing)
        return pb.DeleteRecordResponse(deleted=deleted)

    async def ListRecords(self, request: pb.ListRecordsRequest, context: Context) -> pb.ListRecordsResponse:
        page = await self._records.search(
            request.namespace, request.uuid_prefix, dict(request.metadata), request.page_size, request.page_token
        )
        return pb.ListRecordsResponse(
            records=[record_out(r) for r in page.records], next_page_token=page.next_page_token
        )

    async def ListRelatedRecords(
        self, request: pb.ListRelatedRecordsRequest, context: Context
    ) -> pb.ListRelatedRecordsResponse:
        uuids = await self._records.related(request.namespace, request.uuid, deep=request.deep)
        return pb.ListRelatedRecordsResponse(uuids=uuids)
