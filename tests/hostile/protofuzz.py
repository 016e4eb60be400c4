"""Hypothesis strategies for artimeta.v1 requests, built from the generated descriptors: every
string, bytes, integer, enum and bool field of every message, nested messages, repeated and map
fields. Values lean toward what breaks servers: NUL, JSON escapes of NUL and lone surrogates,
NaN, huge and deeply nested JSON, integers at and beyond each type's range, and (after
serialization) invalid UTF-8 inside string fields."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from hypothesis import strategies as st

# A string field holding this is sent as invalid UTF-8 of the same length (see corrupt()).
BAD_UTF8_MARKER = "\x01BADUTF8\x01"
_BAD_UTF8 = b"a\xed\xa0\x80\xff\xfe\xc0\xafz"
assert len(_BAD_UTF8) == len(BAD_UTF8_MARKER.encode())

I32 = (-(2**31), 2**31 - 1)
I64 = (-(2**63), 2**63 - 1)
U32 = (0, 2**32 - 1)
U64 = (0, 2**64 - 1)
_RANGES = {
    FieldDescriptor.TYPE_INT32: I32,
    FieldDescriptor.TYPE_SINT32: I32,
    FieldDescriptor.TYPE_SFIXED32: I32,
    FieldDescriptor.TYPE_INT64: I64,
    FieldDescriptor.TYPE_SINT64: I64,
    FieldDescriptor.TYPE_SFIXED64: I64,
    FieldDescriptor.TYPE_UINT32: U32,
    FieldDescriptor.TYPE_FIXED32: U32,
    FieldDescriptor.TYPE_UINT64: U64,
    FieldDescriptor.TYPE_FIXED64: U64,
}
_EDGE_INTS = [0, 1, -1, 2, 7, 100, 4096, 2**16, 2**31 - 1, 2**31, -(2**31), 2**32 - 1, 2**53, 2**63 - 1, -(2**63),
              2**63, 2**64 - 1, 0o777, 0o4755, 0o120777, 10**12]

TOKEN_KINDS = ["records", "partitions", "graphs", "snapshots", "tags", "moves", "ns", "executions", "ops", "keys"]


def _token(kind: str, key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, key]).encode()).decode().rstrip("=")


def _raw_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


_BAD_KEYS: list[Any] = [
    ["\x00"], ["a\x00b"], [2**70], [-(2**70)], [2**63], [1.5], [True], [None], [{"a": 1}], [[1, [2]]], ["x" * 5000],
    [0], ["a", 1], [1, "a"], ["00" * 16], ["zz"], [], [0, 0, 0],
]
_TOKENS = [
    *[_token(k, key) for k in TOKEN_KINDS for key in _BAD_KEYS],
    *[_raw_token(f'["{k}",["\\ud800"]]') for k in TOKEN_KINDS],
    *[_raw_token(f'["{k}",["\\u0000"]]') for k in TOKEN_KINDS],
    *[_raw_token(f'["{k}",[NaN]]') for k in TOKEN_KINDS],
    *[_raw_token(f'["{k}",[1e400]]') for k in TOKEN_KINDS],
    *[_raw_token(f'["{k}",' + "[" * 50_000 + "]" * 50_000 + "]") for k in TOKEN_KINDS[:3]],
    _raw_token("[" * 100_000),
    "!!!not base64!!!",
    "\x00",
]
_JSON = [
    "null", "1", '"x"', '{"a":1}', "[1,2]", '"\\u0000"', '"a\\u0000b"', '"\\ud800"', '{"\\udfff":1}', '["\\udc00x"]',
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "123456789012345678901234567890",
    "[" * 20_000 + "]" * 20_000, "[" * 300 + "]" * 300, '{"a":' * 300 + "1" + "}" * 300, "{", "", " ", "\x00",
    '{"a":1,"a":2}', '"' + "x" * 70_000 + '"',
]
_HEX40 = ["0" * 40, "a" * 40, "0123456789abcdef0123456789abcdef01234567", "A" * 40, "g" * 40]
_STRINGS = [
    "", "a", " ", "\n", "*", "default", "x" * 300, "x" * 70_000, "\x00", "a\x00b", "é", "😀", "\u200b", "../../etc/passwd",
    "/abs/path", "a/b", "a//b", "./a", ".", "..", "a\\b", "%00", "' OR 1=1 --", "\x7f", "\x1b[31m",
    "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "not-a-uuid",
    "sha256:" + "0" * 64, "0" * 64, "f" * 64, "0" * 63, "ab" * 16, "Value", "Job", "Execution", "CallNode", "Tag", "Null",
    BAD_UTF8_MARKER, "x" + BAD_UTF8_MARKER, *_HEX40, *_JSON[:16], *_TOKENS[:8],
]
_BYTES = [b"", b"\x00", b"\x00" * 32, b"\xff" * 32, bytes(range(32)), b"x" * 100, b"\xff" * 4096, b"{}", b"\x00" * 16]


@dataclass(frozen=True)
class Method:
    service: str
    name: str
    path: str
    input: Descriptor
    output: Descriptor
    client_streaming: bool
    server_streaming: bool


def methods(package: str = "artimeta.v1") -> list[Method]:
    """Every method of every service of the package, from the descriptor pool."""
    pool = descriptor_pool.Default()
    out = []
    from artimeta.v1 import (  # noqa: F401 - registers the files with the pool
        blobs_pb2,
        cache_pb2,
        connection_pb2,
        namespace_pb2,
        opstore_pb2,
        records_pb2,
        tags_pb2,
    )

    for module in (blobs_pb2, cache_pb2, connection_pb2, namespace_pb2, opstore_pb2, records_pb2, tags_pb2):
        fd = pool.FindFileByName(module.DESCRIPTOR.name)
        for service in fd.services_by_name.values():
            m: MethodDescriptor
            for m in service.methods:
                out.append(
                    Method(
                        service.full_name,
                        m.name,
                        f"/{service.full_name}/{m.name}",
                        m.input_type,
                        m.output_type,
                        m.client_streaming,
                        m.server_streaming,
                    )
                )
    assert all(m.service.startswith(package) for m in out)
    return out


def message_class(desc: Descriptor) -> type[Any]:
    return message_factory.GetMessageClass(desc)


def strings(namespace: str) -> st.SearchStrategy[str]:
    plain = st.text(max_size=24)
    return st.one_of(
        st.sampled_from(_STRINGS),
        st.sampled_from(_JSON),
        st.sampled_from(_TOKENS),
        plain,
        st.builds(lambda a, b: a + "\x00" + b, plain, plain),
        st.just(namespace),
    )


def ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([v for v in _EDGE_INTS if lo <= v <= hi]), st.integers(lo, hi))


def _scalar(field: FieldDescriptor, namespace: str, namespace_names: Callable[[], st.SearchStrategy[str]]) -> Any:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        if field.name == "namespace":
            return st.one_of(st.just(namespace), st.just(namespace), st.just(namespace), strings(namespace))
        if field.name == "name" and field.containing_type.full_name.startswith("artimeta.v1.") and (
            "Namespace" in field.containing_type.name
        ):
            return namespace_names()
        return strings(namespace)
    if t == FieldDescriptor.TYPE_BYTES:
        return st.one_of(st.sampled_from(_BYTES), st.binary(max_size=48))
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-3, 40))
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if t == FieldDescriptor.TYPE_FLOAT else 64)
    lo, hi = _RANGES[t]
    return ints(lo, hi)


def message(
    desc: Descriptor,
    namespace: str,
    namespace_names: Callable[[], st.SearchStrategy[str]],
    depth: int = 0,
) -> st.SearchStrategy[Any]:
    """A strategy for messages of `desc` (each field set or not, nested down to depth 3)."""
    cls = message_class(desc)

    def field_strategy(f: FieldDescriptor) -> st.SearchStrategy[Any] | None:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if f.message_type.GetOptions().map_entry:
                k, v = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
                if v.type == FieldDescriptor.TYPE_MESSAGE:
                    if depth >= 3:
                        return None
                    vs = message(v.message_type, namespace, namespace_names, depth + 1)
                else:
                    vs = _scalar(v, namespace, namespace_names)
                return st.dictionaries(_scalar(k, namespace, namespace_names), vs, max_size=3)
            if depth >= 3:
                return None
            inner = message(f.message_type, namespace, namespace_names, depth + 1)
            return st.lists(inner, max_size=3) if f.is_repeated else inner
        s = _scalar(f, namespace, namespace_names)
        return st.lists(s, max_size=4) if f.is_repeated else s

    fields = [(f, field_strategy(f)) for f in desc.fields]
    fields = [(f, s) for f, s in fields if s is not None]

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        msg = cls()
        for f, s in fields:
            if not draw(st.booleans()):
                continue
            value = draw(s)
            _assign(msg, f, value)
        return msg

    return build()


def _assign(msg: Any, f: FieldDescriptor, value: Any) -> None:
    if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
        target = getattr(msg, f.name)
        for k, v in value.items():
            if isinstance(v, type(target).__mro__[0]) or hasattr(v, "SerializeToString"):
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif f.is_repeated:
        target = getattr(msg, f.name)
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            for v in value:
                target.add().CopyFrom(v)
        else:
            target.extend(value)
    elif f.type == FieldDescriptor.TYPE_MESSAGE:
        getattr(msg, f.name).CopyFrom(value)
    else:
        setattr(msg, f.name, value)


def corrupt(raw: bytes) -> bytes:
    """The serialized message with every BAD_UTF8_MARKER turned into invalid UTF-8 bytes."""
    return raw.replace(BAD_UTF8_MARKER.encode(), _BAD_UTF8)
