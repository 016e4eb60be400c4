"""One namespace's services behind one object: `client.namespace("team-a")`.

    with Client("127.0.0.1:50051") as client:
        ns = client.namespace("team-a").ensure()
        digest = ns.blobs.put_bytes(b"...")
        ns.ops.register_pipeline(pipeline_name="train", last_op_name="fit")
        tags = ns.tags.get_tags(entity_ids=["e1"])

Each sub-handle has a typed method per RPC of its service (generated from proto/, request
message or keyword fields in, response out, the namespace filled in); `.blobs` and `.records`
add the streaming, batching and directory helpers of `artimeta.blobs` and `artimeta.records`.
`AsyncClient.namespace()` returns the asyncio twin, with the same methods awaited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from artimeta.blobs import AsyncBlobs, Blobs
from artimeta.records import AsyncRecords, Records
from artimeta.rpcs.cache import CacheRpcs
from artimeta.rpcs.cache_aio import AsyncCacheRpcs
from artimeta.rpcs.connection import ConnectionRpcs
from artimeta.rpcs.connection_aio import AsyncConnectionRpcs
from artimeta.rpcs.opstore import OpStoreRpcs
from artimeta.rpcs.opstore_aio import AsyncOpStoreRpcs
from artimeta.rpcs.tags import TagRpcs
from artimeta.rpcs.tags_aio import AsyncTagRpcs
from artimeta.v1 import namespace_pb2 as ns_pb

if TYPE_CHECKING:
    from artimeta.client import AsyncClient, Client


class NamespaceHandle:
    """Every namespaced service of one namespace, on a blocking `artimeta.Client`."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self.graphs = ConnectionRpcs(client, name)
        self.tags = TagRpcs(client, name)
        self.cache = CacheRpcs(client, name)
        self.ops = OpStoreRpcs(client, name)
        self.blobs = Blobs(client, name)
        self.records = Records(client, name, blobs=self.blobs)

    def ensure(self, *, create: bool = True, description: str = "") -> NamespaceHandle:
        """`Client.ensure_namespace` for this namespace; returns the handle, for chaining."""
        self.client.ensure_namespace(self.name, create=create, description=description)
        return self

    def get(self) -> ns_pb.Namespace:
        return self.client.get_namespace(self.name)

    def delete(self, *, allow_missing: bool = False) -> ns_pb.DeleteNamespaceResponse:
        return self.client.delete_namespace(self.name, allow_missing=allow_missing)


class AsyncNamespaceHandle:
    """`NamespaceHandle` on an `artimeta.AsyncClient`: the same services, methods awaited."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        self.client = client
        self.name = name
        self.graphs = AsyncConnectionRpcs(client, name)
        self.tags = AsyncTagRpcs(client, name)
        self.cache = AsyncCacheRpcs(client, name)
        self.ops = AsyncOpStoreRpcs(client, name)
        self.blobs = AsyncBlobs(client, name)
        self.records = AsyncRecords(client, name, blobs=self.blobs)

    async def ensure(self, *, create: bool = True, description: str = "") -> AsyncNamespaceHandle:
        await self.client.ensure_namespace(self.name, create=create, description=description)
        return self

    async def get(self) -> ns_pb.Namespace:
        return await self.client.get_namespace(self.name)

    async def delete(self, *, allow_missing: bool = False) -> ns_pb.DeleteNamespaceResponse:
        return await self.client.delete_namespace(self.name, allow_missing=allow_missing)
