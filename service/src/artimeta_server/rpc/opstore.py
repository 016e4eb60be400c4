"""OpStoreService."""

from __future__ import annotations

from typing import Any

import grpc

from artimeta.v1 import opstore_pb2 as pb
from artimeta.v1 import opstore_pb2_grpc
from artimeta_server.domain.listings.service import Listings
from artimeta_server.domain.opstore.models import OpVersion
from artimeta_server.domain.opstore.service import OpStore
from artimeta_server.rpc import access

Context = grpc.aio.ServicerContext[Any, Any]

access.declare(
    "artimeta.v1.OpStoreService",
    read={"GetAllVersionsOfOp", "GetValidatedLinks", "GetOpBytes", "PipelineExists"},
    write={"RegisterValidLink", "SaveOpBytes", "RegisterPipeline"},
)

access.declare("artimeta.v1.OpStoreService", read={"ListOps"})


def _in(v: pb.OpVersion) -> OpVersion:
    return OpVersion(v.major, v.minor, v.patch, v.creation_time)


def _out(v: OpVersion) -> pb.OpVersion:
    return pb.OpVersion(
        major=v.major,
        minor=v.minor,
        patch=v.patch,
        creation_time=v.creation_time,
        major_number=v.major_number,
        minor_number=v.minor_number,
        patch_number=v.patch_number,
    )


class OpStoreServicer(opstore_pb2_grpc.OpStoreServiceServicer):
    def __init__(self, store: OpStore, listings: Listings) -> None:
        self._store = store
        self._listings = listings

    async def RegisterValidLink(
        self, request: pb.RegisterValidLinkRequest, context: Context
    ) -> pb.RegisterValidLinkResponse:
        v = await self._store.register_valid_link(
            request.namespace, request.downstream_op_name, request.upstream_op_name, _in(request.upstream_version)
        )
        return pb.RegisterValidLinkResponse(upstream_version=_out(v))

    async def GetAllVersionsOfOp(
        self, request: pb.GetAllVersionsOfOpRequest, context: Context
    ) -> pb.GetAllVersionsOfOpResponse:
        versions = await self._store.versions(request.namespace, request.op_name)
        return pb.GetAllVersionsOfOpResponse(versions=[_out(v) for v in versions])

    async def GetValidatedLinks(
        self, request: pb.GetValidatedLinksRequest, context: Context
    ) -> pb.GetValidatedLinksResponse:
        versions = await self._store.validated_links(
            request.namespace, request.downstream_op_name, request.upstream_op_name
        )
        return pb.GetValidatedLinksResponse(upstream_versions=[_out(v) for v in versions])

    async def SaveOpBytes(self, request: pb.SaveOpBytesRequest, context: Context) -> pb.SaveOpBytesResponse:
        await self._store.save_bytes(request.namespace, request.op_name, _in(request.version), request.op_bytes)
        return pb.SaveOpBytesResponse()

    async def GetOpBytes(self, request: pb.GetOpBytesRequest, context: Context) -> pb.GetOpBytesResponse:
        version, data = await self._store.load_bytes(request.namespace, request.op_name, _in(request.version))
        return pb.GetOpBytesResponse(version=_out(version), op_bytes=data)

    async def PipelineExists(self, request: pb.PipelineExistsRequest, context: Context) -> pb.PipelineExistsResponse:
        return pb.PipelineExistsResponse(
            exists=await self._store.pipeline_exists(request.namespace, request.pipeline_name)
        )

    async def RegisterPipeline(
        self, request: pb.RegisterPipelineRequest, context: Context
    ) -> pb.RegisterPipelineResponse:
        await self._store.register_pipeline(request.namespace, request.pipeline_name, request.last_op_name)
        return pb.RegisterPipelineResponse()

    async def ListOps(self, request: pb.ListOpsRequest, context: Context) -> pb.ListOpsResponse:
        page = await self._listings.ops(request.namespace, request.name_prefix, request.page_size, request.page_token)
        return pb.ListOpsResponse(
            ops=[
                pb.OpSummary(
                    name=o.name,
                    version_count=o.version_count,
                    latest_version=None if o.latest is None else _out(o.latest),
                )
                for o in page.items
            ],
            next_page_token=page.next_page_token,
        )
