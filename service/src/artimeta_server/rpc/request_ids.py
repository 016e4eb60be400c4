"""request_id on the wire: the mutations whose proto declares RETRY_CLASS_REQUEST_ID run through
domain/request_ids/ when the caller names a request_id. Which methods those are is read from
the proto (the artimeta.v1.retry method option), so a new mutation needs no code here."""

from __future__ import annotations

import hashlib
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory

from artimeta.v1 import options_pb2
from artimeta_server.domain.request_ids.service import RequestIds
from artimeta_server.rpc import access
from artimeta_server.rpc.interceptor import Handler, WrappingInterceptor

REQUEST_ID_FIELD = "request_id"
_GLOBAL_SERVICES = frozenset({"artimeta.v1.NamespaceService"})


def retry_class(method: str) -> int:
    """The RetryClass of "/artimeta.v1.Service/Method"; RETRY_CLASS_UNSPECIFIED if unknown."""
    service, _, name = method.lstrip("/").rpartition("/")
    try:
        desc = descriptor_pool.Default().FindServiceByName(service).methods_by_name[name]
    except KeyError:
        return options_pb2.RETRY_CLASS_UNSPECIFIED
    return int(desc.GetOptions().Extensions[options_pb2.retry])


def body_hash(request: Any) -> bytes:
    """The request without its request_id, deterministically serialized and hashed: what a
    repeat must match."""
    body = type(request)()
    body.CopyFrom(request)
    body.ClearField(REQUEST_ID_FIELD)
    return hashlib.sha256(body.SerializeToString(deterministic=True)).digest()


class RequestIdInterceptor(WrappingInterceptor):
    def __init__(self, ids: RequestIds) -> None:
        super().__init__()
        self._ids = ids

    def wrap(self, handler: Handler, method: str) -> Handler | None:
        if retry_class(method) != options_pb2.RETRY_CLASS_REQUEST_ID or handler.unary_unary is None:
            return None
        service, _, name = method.lstrip("/").rpartition("/")
        out = descriptor_pool.Default().FindServiceByName(service).methods_by_name[name].output_type
        reply_class = message_factory.GetMessageClass(out)
        field = None if service in _GLOBAL_SERVICES else access.rule_for(method).field
        inner = handler.unary_unary
        ids = self._ids

        async def behaviour(request: Any, context: Any) -> Any:
            request_id = getattr(request, REQUEST_ID_FIELD, "")
            if not request_id:
                return await inner(request, context)
            namespace = None if field is None else (access.namespace_of(request, field) or "")
            return await ids.once(
                namespace,
                method,
                request_id,
                body_hash(request),
                lambda: inner(request, context),
                lambda reply: reply.SerializeToString(),
                reply_class.FromString,
            )

        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
