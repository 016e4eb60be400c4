"""Which calls the client may retry, read from the proto (the artimeta.v1.retry method option):
reads and idempotent writes are retried on UNAVAILABLE as they are; a mutation with a request_id
gets one (a UUID) filled in once per logical call, before gRPC's own retries resend the same
bytes; anything else is not retried. The Go, TypeScript and Java clients read the same option."""

from __future__ import annotations

import uuid
from typing import Any, Callable, Dict, List, Tuple

import grpc
from google.protobuf import descriptor_pool

from artimeta.v1 import (
    blobs_pb2,
    cache_pb2,
    connection_pb2,
    namespace_pb2,
    opstore_pb2,
    options_pb2,
    records_pb2,
    tags_pb2,
)

PACKAGE = "artimeta.v1"
REQUEST_ID_FIELD = "request_id"
_FILES = (blobs_pb2, cache_pb2, connection_pb2, namespace_pb2, opstore_pb2, records_pb2, tags_pb2)

READ = "READ"
IDEMPOTENT = "IDEMPOTENT"
REQUEST_ID = "REQUEST_ID"
NONE = "NONE"
RETRIED = frozenset({READ, IDEMPOTENT, REQUEST_ID})


def _class_name(value: Any) -> str:
    name: str = options_pb2.RetryClass.Name(value)
    return name[len("RETRY_CLASS_") :]


def _load() -> Dict[str, str]:
    table: Dict[str, str] = {}
    pool = descriptor_pool.Default()
    for module in _FILES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in pool.FindServiceByName(service.full_name).methods:
                value = method.GetOptions().Extensions[options_pb2.retry]
                table[f"/{service.full_name}/{method.name}"] = _class_name(value)
    return table


_TABLE = _load()


def retry_classes() -> Dict[str, str]:
    """ "/artimeta.v1.Service/Method" -> READ, IDEMPOTENT, REQUEST_ID or NONE, for every RPC."""
    return dict(_TABLE)


def retried_methods() -> List[Tuple[str, str]]:
    """(service, method) of every RPC the channel's service config retries."""
    out = []
    for path, cls in sorted(_TABLE.items()):
        if cls in RETRIED:
            service, _, method = path.lstrip("/").rpartition("/")
            out.append((service, method))
    return out


def with_request_id(method: str, request: Any) -> Any:
    """The request, with a fresh request_id when `method` takes one and the caller gave none."""
    if _TABLE.get(method) != REQUEST_ID or getattr(request, REQUEST_ID_FIELD, None) != "":
        return request
    filled = type(request)()
    filled.CopyFrom(request)
    setattr(filled, REQUEST_ID_FIELD, str(uuid.uuid4()))
    return filled


def _method_name(details: Any) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


class RequestIdInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Fills request_id on the blocking channel."""

    def intercept_unary_unary(self, continuation: Callable[..., Any], client_call_details: Any, request: Any) -> Any:
        return continuation(client_call_details, with_request_id(_method_name(client_call_details), request))


class AsyncRequestIdInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """Fills request_id on the asyncio channel."""

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(client_call_details, with_request_id(_method_name(client_call_details), request))
