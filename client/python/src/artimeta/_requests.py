"""Request building for the facade's per-RPC methods: a request message and/or keyword fields
in, one message out, with the handle's namespace filled in where the caller left it empty."""

from __future__ import annotations

from typing import Any, AsyncIterable, AsyncIterator, Iterable, Iterator, Optional, Type, TypeVar, Union

from google.protobuf.message import Message

M = TypeVar("M", bound=Message)


def _fill_namespace(message: M, namespace: str) -> M:
    name = "namespace"
    field = message.DESCRIPTOR.fields_by_name.get(name)
    if field is not None and field.type == field.TYPE_STRING and not getattr(message, name):
        setattr(message, name, namespace)
    return message


def _build(cls: Type[M], request: Optional[M], namespace: str, **fields: Any) -> M:
    """`request` (copied, never changed) merged with the keyword fields that were given; a
    request naming another namespace keeps it (the handle's only fills an empty one)."""
    message = cls()
    if request is not None:
        message.CopyFrom(request)
    given = {name: value for name, value in fields.items() if value is not None}
    if given:
        message.MergeFrom(cls(**given))
    return _fill_namespace(message, namespace)


def _namespaced(requests: Iterable[M], namespace: str) -> Iterator[M]:
    for request in requests:
        yield _fill_namespace(request, namespace)


async def _namespaced_async(requests: Union[Iterable[M], AsyncIterable[M]], namespace: str) -> AsyncIterator[M]:
    if isinstance(requests, AsyncIterable):
        async for request in requests:
            yield _fill_namespace(request, namespace)
    else:
        for request in requests:
            yield _fill_namespace(request, namespace)
