"""The check every request passes before a servicer sees it, whatever the service.

A message that does not parse (e.g. invalid UTF-8 in a string field, which grpc would otherwise
report as INTERNAL or UNKNOWN) and a string anywhere in a request that holds a NUL or a lone
surrogate (Postgres text cannot store either, and one such value would fail a whole batched
statement) are INVALID_ARGUMENT naming the field, as is a google.protobuf.Timestamp outside the
range its own definition allows. Rules that depend on what a field means live in
domain/validation.py and the use cases; this pass only knows the wire types, so it runs in
microseconds and covers a field added to proto/ tomorrow without anyone remembering to.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from artimeta_server.domain import validation
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason
from artimeta_server.rpc.interceptor import WrappingInterceptor, rebuild

Context = grpc.aio.ServicerContext[Any, Any]

_BAD_CHAR = validation.BAD_CHAR
_INDEX = re.compile(r"\[[^\]]*\]")
# What google/protobuf/timestamp.proto allows: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_S = -62_135_596_800
MAX_TIMESTAMP_S = 253_402_300_799
_TIMESTAMP = "google.protobuf.Timestamp"

_STRING, _STRINGS, _MESSAGE, _MESSAGES, _MAP, _OTHER = range(6)
_kinds: dict[FieldDescriptor, int] = {}
_time_paths: dict[Descriptor, tuple[tuple[str, bool, bool], ...]] = {}


class Undecodable:
    """What the request deserializer returns for bytes that are no message of the method's type,
    so that the refusal goes through the error map like any other."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


def _type(fd: FieldDescriptor) -> Descriptor:
    desc = fd.message_type
    assert desc is not None
    return desc


def _kind(fd: FieldDescriptor) -> int:
    kind = _kinds.get(fd)
    if kind is None:
        if fd.type == FieldDescriptor.TYPE_STRING:
            kind = _STRINGS if fd.is_repeated else _STRING
        elif fd.type == FieldDescriptor.TYPE_MESSAGE and _type(fd).GetOptions().map_entry:
            kind = _MAP
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            kind = _MESSAGES if fd.is_repeated else _MESSAGE
        else:
            kind = _OTHER
        _kinds[fd] = kind
    return kind


def _field(path: str) -> str:
    """The field a path names, as every other refusal names it: `tags.key`, not `tags[3].key`."""
    return _INDEX.sub("", path)


def _bad_text(path: str, value: str) -> InvalidArgument:
    bad = _BAD_CHAR.search(value)
    what = "a NUL character" if bad is not None and bad.group() == "\x00" else "a lone surrogate (not valid Unicode)"
    return InvalidArgument(f"{path} contains {what}", reason=Reason.INVALID_CHARACTER, metadata={"field": _field(path)})


def _timestamp(msg: Any, path: str) -> None:
    if not MIN_TIMESTAMP_S <= msg.seconds <= MAX_TIMESTAMP_S or not 0 <= msg.nanos <= 999_999_999:
        raise InvalidArgument(
            f"{path} is not a valid timestamp (years 1 to 9999, nanos 0 to 999999999)",
            reason=Reason.INVALID_TIMESTAMP,
            metadata={"field": _field(path)},
        )


def _text(value: str, path: str) -> None:
    if _BAD_CHAR.search(value) is not None:
        raise _bad_text(path, value)


def check(msg: Message, prefix: str = "", skip: str = "") -> None:
    """Raises InvalidArgument for the first NUL, lone surrogate or invalid timestamp in `msg`
    (but in its field `skip`)."""
    if msg.DESCRIPTOR.full_name == _TIMESTAMP:
        _timestamp(msg, prefix.rstrip(".") or "timestamp")
        return
    for fd, value in msg.ListFields():
        kind = _kind(fd)
        if kind == _OTHER or fd.name == skip:
            continue
        if kind == _STRING:
            if _BAD_CHAR.search(value) is not None:
                raise _bad_text(prefix + fd.name, value)
        elif kind == _STRINGS:
            for i, item in enumerate(value):
                if _BAD_CHAR.search(item) is not None:
                    raise _bad_text(f"{prefix}{fd.name}[{i}]", item)
        elif kind == _MESSAGE:
            check(value, f"{prefix}{fd.name}.")
        elif kind == _MESSAGES:
            for i, item in enumerate(value):
                check(item, f"{prefix}{fd.name}[{i}].")
        else:
            for key, item in value.items():
                path = f"{prefix}{fd.name}[{str(key)[:64]!r}]"
                if isinstance(key, str):
                    _text(key, path)
                if isinstance(item, str):
                    _text(item, path)
                elif isinstance(item, Message):
                    check(item, path + ".")


# (field name, repeated, holds a Timestamp itself) for each message field through which a
# Timestamp can be reached; a map on such a path makes the whole message walked instead.
_TimePath = tuple[str, bool, bool]
_WALK_ALL: tuple[_TimePath, ...] = (("", False, False),)


def _time_fields(desc: Descriptor) -> tuple[_TimePath, ...]:
    found = _time_paths.get(desc)
    if found is None:
        _time_paths[desc] = ()  # a recursive message reaches itself: no Timestamp that way
        paths: list[_TimePath] = []
        for fd in desc.fields:
            if fd.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            inner = _type(fd)
            is_time = inner.full_name == _TIMESTAMP
            if not is_time and not _time_fields(inner):
                continue
            if inner.GetOptions().map_entry:
                paths = list(_WALK_ALL)
                break
            paths.append((fd.name, fd.is_repeated, is_time))
        found = tuple(paths)
        _time_paths[desc] = found
    return found


def _timestamps(msg: Any, prefix: str) -> None:
    paths = _time_fields(msg.DESCRIPTOR)
    if paths is _WALK_ALL or paths == _WALK_ALL:
        check(msg, prefix)
        return
    for name, repeated, is_time in paths:
        if repeated:
            for i, item in enumerate(getattr(msg, name)):
                path = f"{prefix}{name}[{i}]"
                _timestamp(item, path) if is_time else _timestamps(item, path + ".")
        elif msg.HasField(name):
            item = getattr(msg, name)
            _timestamp(item, prefix + name) if is_time else _timestamps(item, f"{prefix}{name}.")


# Request types whose one bulk field its handler checks itself, as part of the pass it makes over
# every element anyway (rpc/partitions.py): a walk here of 100k partitions costs more than their
# write. The field must be the request's last, so that its refusals still come after the others'.
_CHECKED_BY_HANDLER: dict[str, str] = {}


def checked_by_handler(message: type[Message], field: str) -> None:
    desc = message.DESCRIPTOR
    assert desc.fields[-1].name == field, f"{field} is not the last field of {desc.full_name}"
    _CHECKED_BY_HANDLER[desc.full_name] = field


def request(req: Any) -> None:
    if type(req) is Undecodable:
        raise InvalidArgument(
            f"the request is not a valid message of its type: {req.error}", reason=Reason.INVALID_MESSAGE
        )
    skip = _CHECKED_BY_HANDLER.get(req.DESCRIPTOR.full_name)
    if skip is not None:
        check(req, skip=skip)
        return
    # A message cannot hold a lone surrogate (protobuf refuses to parse or build one), and a NUL
    # in a string is a 0 byte of its encoding: a message whose encoding has no 0 byte needs only
    # its timestamps checked. Serializing a small message costs about a microsecond.
    if b"\x00" in req.SerializeToString():
        check(req)
    else:
        _timestamps(req, "")


def _deserializer(parse: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if parse is None:
        return None

    def safe(raw: bytes) -> Any:
        try:
            return parse(raw)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the caller's malformed bytes
            return Undecodable(str(exc)[:200])

    return safe


def _wrap(fn: Callable[..., Any], unary_request: bool) -> Callable[..., Any]:
    if unary_request:
        if inspect.isasyncgenfunction(fn):

            async def gen(req: Any, context: Context) -> AsyncIterator[Any]:
                request(req)
                async for item in fn(req, context):
                    yield item

            return gen

        async def unary(req: Any, context: Context) -> Any:
            request(req)
            return await fn(req, context)

        return unary

    async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for req in requests:
            request(req)
            yield req

    if inspect.isasyncgenfunction(fn):

        async def stream_gen(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            async for item in fn(checked(requests), context):
                yield item

        return stream_gen

    async def stream(requests: AsyncIterator[Any], context: Context) -> Any:
        return await fn(checked(requests), context)

    return stream


class ValidateInterceptor(WrappingInterceptor):
    """Innermost: runs after auth, so an unauthenticated caller costs no walk."""

    def wrap(self, handler: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any] | None:
        if not method.startswith("/artimeta."):
            return None
        return rebuild(handler, _wrap, _deserializer(handler.request_deserializer))


__all__ = [
    "MAX_TIMESTAMP_S",
    "MIN_TIMESTAMP_S",
    "Undecodable",
    "ValidateInterceptor",
    "check",
    "checked_by_handler",
    "request",
]
