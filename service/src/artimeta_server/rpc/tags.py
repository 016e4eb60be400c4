"""TagService."""

from __future__ import annotations

from typing import Any

import grpc

from artimeta.v1 import tags_pb2 as pb
from artimeta.v1 import tags_pb2_grpc
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason
from artimeta_server.domain.tags.models import Tag
from artimeta_server.domain.tags.service import Tags
from artimeta_server.rpc import access, convert

Context = grpc.aio.ServicerContext[Any, Any]

access.declare(
    "artimeta.v1.TagService",
    read={"GetTags", "GetTagHistory", "SearchTags"},
    write={"RecordTags", "DeleteTags", "UpdateTags"},
)

_TYPES = {
    pb.TAG_ENTITY_TYPE_EXECUTION: "Execution",
    pb.TAG_ENTITY_TYPE_JOB: "Job",
    pb.TAG_ENTITY_TYPE_CALL_NODE: "CallNode",
    pb.TAG_ENTITY_TYPE_TASK: "Task",
    pb.TAG_ENTITY_TYPE_VALUE: "Value",
    pb.TAG_ENTITY_TYPE_NULL: "Null",
}
_TYPES_PB = {v: k for k, v in _TYPES.items()}


def _entity_type(value: int) -> str:
    name = _TYPES.get(pb.TagEntityType.ValueType(value))
    if name is None:
        raise InvalidArgument(
            f"entity_type {value} is not a known entity type",
            reason=Reason.INVALID_ENTITY_TYPE,
            metadata={"field": "entity_type"},
        )
    return name


def tag(t: Tag) -> pb.Tag:
    return pb.Tag(
        tag_hash=t.tag_hash,
        entity_type=_TYPES_PB[t.entity_type],
        entity_id=t.entity_id,
        key=t.key,
        value_json=t.value_json,
        is_current=t.is_current,
        create_time=convert.timestamp(t.create_time),
        parent_hashes=t.parents,
    )


def _pairs(kvs: Any) -> list[tuple[str, str]]:
    return [(kv.key, kv.value_json) for kv in kvs]


class TagServicer(tags_pb2_grpc.TagServiceServicer):
    def __init__(self, tags: Tags) -> None:
        self._tags = tags

    async def RecordTags(self, request: pb.RecordTagsRequest, context: Context) -> pb.RecordTagsResponse:
        rows = await self._tags.record(
            request.namespace,
            _entity_type(request.entity_type),
            request.entity_id,
            _pairs(request.tags),
            list(request.parents),
            update=request.update,
            new=request.new,
        )
        return pb.RecordTagsResponse(tags=[tag(t) for t in rows])

    async def DeleteTags(self, request: pb.DeleteTagsRequest, context: Context) -> pb.DeleteTagsResponse:
        rows = await self._tags.delete(request.namespace, request.entity_id, _pairs(request.tags), list(request.keys))
        return pb.DeleteTagsResponse(tags=[tag(t) for t in rows])

    async def UpdateTags(self, request: pb.UpdateTagsRequest, context: Context) -> pb.UpdateTagsResponse:
        rows = await self._tags.update(
            request.namespace,
            _entity_type(request.entity_type),
            request.entity_id,
            list(request.old_keys),
            _pairs(request.new_tags),
        )
        return pb.UpdateTagsResponse(tags=[tag(t) for t in rows])

    async def GetTags(self, request: pb.GetTagsRequest, context: Context) -> pb.GetTagsResponse:
        found = await self._tags.get(request.namespace, list(request.entity_ids))
        return pb.GetTagsResponse(
            entities=[pb.EntityTags(entity_id=e, tags=[tag(t) for t in rows]) for e, rows in found.items()]
        )

    async def GetTagHistory(self, request: pb.GetTagHistoryRequest, context: Context) -> pb.GetTagHistoryResponse:
        rows = await self._tags.history(request.namespace, request.entity_id, request.key)
        return pb.GetTagHistoryResponse(tags=[tag(t) for t in rows])

    async def SearchTags(self, request: pb.SearchTagsRequest, context: Context) -> pb.SearchTagsResponse:
        page = await self._tags.search(
            request.namespace,
            request.key,
            request.value_json if request.HasField("value_json") else None,
            _entity_type(request.entity_type) if request.entity_type else None,
            request.page_size,
            request.page_token,
        )
        return pb.SearchTagsResponse(tags=[tag(t) for t in page.items], next_page_token=page.next_page_token)
