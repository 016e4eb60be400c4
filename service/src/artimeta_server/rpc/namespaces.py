"""NamespaceService."""

from __future__ import annotations

from typing import Any

import grpc

from artimeta.v1 import namespace_pb2 as pb
from artimeta.v1 import namespace_pb2_grpc
from artimeta_server.domain.lru import BoundedCache
from artimeta_server.domain.namespaces.models import Namespace
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.rpc import access, convert

Context = grpc.aio.ServicerContext[Any, Any]

access.declare(
    "artimeta.v1.NamespaceService",
    read={"GetNamespace"},
    admin={"DeleteNamespace"},
    global_read={"ListNamespaces"},
    global_admin={"CreateNamespace"},
    field="name",
)


class NamespaceServicer(namespace_pb2_grpc.NamespaceServiceServicer):
    def __init__(self, namespaces: Namespaces) -> None:
        self._ns = namespaces
        # The reply built from each cached namespace, reused while that same object is served.
        self._replies: BoundedCache[tuple[Namespace, pb.GetNamespaceResponse]] = BoundedCache(max_bytes=4 * 1024 * 1024)

    async def CreateNamespace(self, request: pb.CreateNamespaceRequest, context: Context) -> pb.CreateNamespaceResponse:
        spec = request.namespace
        ns = await self._ns.create(spec.name, spec.description, dict(spec.labels))
        return pb.CreateNamespaceResponse(namespace=convert.namespace(ns))

    async def GetNamespace(self, request: pb.GetNamespaceRequest, context: Context) -> pb.GetNamespaceResponse:
        ns = await self._ns.get(request.name, strong=convert.strong(request.consistency))
        hit = self._replies.get(ns.name)
        if hit is not None and hit[0] is ns:
            return hit[1]
        reply = pb.GetNamespaceResponse(namespace=convert.namespace(ns))
        self._replies.put(ns.name, (ns, reply), 2 * reply.ByteSize())
        return reply

    async def ListNamespaces(self, request: pb.ListNamespacesRequest, context: Context) -> pb.ListNamespacesResponse:
        page = await self._ns.list(request.page_size, request.page_token)
        return pb.ListNamespacesResponse(
            namespaces=[convert.namespace(ns) for ns in page.namespaces], next_page_token=page.next_page_token
        )

    async def DeleteNamespace(self, request: pb.DeleteNamespaceRequest, context: Context) -> pb.DeleteNamespaceResponse:
        result = await self._ns.delete(request.name, allow_missing=request.allow_missing)
        return pb.DeleteNamespaceResponse(deleted=result.deleted, blobs_deleted=result.blobs_deleted)
