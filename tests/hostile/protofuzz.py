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
_EDGE_INTS = [
    0,
    1,
    -1,
    2,
    7,
    100,
    4096,
    2**16,
    2**31 - 1,
    2**31,
    -(2**31),
    2**32 - 1,
    2**53,
    2**63 - 1,
    -(2**63),
    2**63,
    2**64 - 1,
    0o777,
    0o4755,
    0o120777,
    10**12,
]

TOKEN_KINDS = ["records", "partitions", "graphs", "snapshots", "tags", "moves", "ns", "executions", "ops", "keys"]


def _token(kind: str, key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, key]).encode()).decode().rstrip("=")


def _raw_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


_BAD_KEYS: list[Any] = [
    ["\x00"],
    ["a\x00b"],
    [2**70],
    [-(2**70)],
    [2**63],
    [1.5],
    [True],
    [None],
    [{"a": 1}],
    [[1, [2]]],
    ["x" * 5000],
    [0],
    ["a", 1],
    [1, "a"],
    ["00" * 16],
    ["zz"],
    [],
    [0, 0, 0],
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
    "null",
    "1",
    '"x"',
    '{"a":1}',
    "[1,2]",
    '"\\u0000"',
    '"a\\u0000b"',
    '"\\ud800"',
    '{"\\udfff":1}',
    '["\\udc00x"]',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "[" * 20_000 + "]" * 20_000,
    "[" * 300 + "]" * 300,
    '{"a":' * 300 + "1" + "}" * 300,
    "{",
    "",
    " ",
    "\x00",
    '{"a":1,"a":2}',
    '"' + "x" * 70_000 + '"',
]
_HEX40 = ["0" * 40, "a" * 40, "0123456789abcdef0123456789abcdef01234567", "A" * 40, "g" * 40]
_STRINGS = [
    "",
    "a",
    " ",
    "\n",
    "*",
    "default",
    "x" * 300,
    "x" * 70_000,
    "\x00",
    "a\x00b",
    "é",
    "😀",
    "\u200b",
    "../../etc/passwd",
    "/abs/path",
    "a/b",
    "a//b",
    "./a",
    ".",
    "..",
    "a\\b",
    "%00",
    "' OR 1=1 --",
    "\x7f",
    "\x1b[31m",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "not-a-uuid",
    "sha256:" + "0" * 64,
    "0" * 64,
    "f" * 64,
    "0" * 63,
    "ab" * 16,
    "Value",
    "Job",
    "Execution",
    "CallNode",
    "Tag",
    "Null",
    BAD_UTF8_MARKER,
    "x" + BAD_UTF8_MARKER,
    *_HEX40,
    *_JSON[:16],
    *_TOKENS[:8],
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
    from artimeta.v1 import (
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


def _plausible(field: str, namespace: str) -> st.SearchStrategy[str]:
    """Values that pass the field's own checks, so that a request with one hostile field gets past
    the others and reaches the code behind them."""
    sha1 = st.sampled_from(_HEX40[:3])
    if field.endswith("hash") or field.endswith("hashes") or field in ("eval_hash",):
        return sha1
    if field == "hash":
        return st.sampled_from(["0" * 64, "f" * 64, "ab" * 32])
    if "uuid" in field or field in ("id", "execution_id", "root_ids", "ids", "entity_id"):
        return st.sampled_from(["rec-1", "rec-2", "job-1", "exec-1", _HEX40[0]])
    if field == "value_json":
        return st.sampled_from(["1", '"x"', '{"a":1}', "null", "[1,2]"])
    if field == "page_token":
        return st.sampled_from(["", *_TOKENS[:4]])
    if field.endswith("_format") or field == "format":
        return st.sampled_from(["json", "", "pickle"])
    return st.sampled_from(["a", "name-1", "main", "v1", "x.y", "path/to/file", "Value", namespace])


def strings(namespace: str, field: str = "") -> st.SearchStrategy[str]:
    plain = st.text(max_size=24)
    plausible = _plausible(field, namespace)
    return st.one_of(
        plausible,
        plausible,
        plausible,
        st.sampled_from(_STRINGS),
        st.sampled_from(_JSON) if field != "page_token" else st.sampled_from(_TOKENS),
        st.sampled_from(_TOKENS) if field == "page_token" else plain,
        st.builds(lambda a, b: a + "\x00" + b, plain, plain),
    )


def ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([v for v in _EDGE_INTS if lo <= v <= hi]), st.integers(lo, hi))


def _scalar(
    field: FieldDescriptor, namespace: str, namespace_names: Callable[[], st.SearchStrategy[str]], hostile: bool
) -> Any:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        names = field.name == "name" and "Namespace" in field.containing_type.name
        if not hostile:
            if names:
                return st.sampled_from(["fuzz-other-a", "fuzz-other-b"])
            if field.name == "namespace":
                return st.just(namespace)
            if field.name == "hash" and field.containing_type.name == "Digest":
                return st.sampled_from(["0" * 64, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"])
            return _plausible(field.name, namespace)
        if field.name == "namespace":
            return st.one_of(*[st.just(namespace)] * 6, strings(namespace, "namespace"))
        if names:
            return namespace_names()
        return strings(namespace, field.name)
    if t == FieldDescriptor.TYPE_BYTES:
        if not hostile:
            return st.sampled_from([b"", b"data", b"x" * 32])
        return st.one_of(st.sampled_from(_BYTES), st.binary(max_size=48))
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        if not hostile:
            return st.sampled_from([n for n in numbers if n] or numbers)
        return st.one_of(st.sampled_from(numbers), st.integers(-3, 40))
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if t == FieldDescriptor.TYPE_FLOAT else 64)
    lo, hi = _RANGES[t]
    if not hostile:
        if field.name == "seconds":
            return st.integers(0, 2_000_000_000)
        if field.name == "nanos":
            return st.just(0)
        return st.integers(0, 100)
    if field.name in ("page_size", "size_bytes", "offset", "length", "limit"):
        return st.one_of(st.integers(0, 100), st.integers(0, 100), ints(lo, hi))
    return ints(lo, hi)


def _field(
    f: FieldDescriptor, namespace: str, names: Callable[[], st.SearchStrategy[str]], depth: int, hostile: bool
) -> st.SearchStrategy[Any] | None:
    """Values for field `f` (a list for a repeated field, a dict for a map), None past depth 3."""
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        if f.message_type.GetOptions().map_entry:
            k, v = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            if v.type == FieldDescriptor.TYPE_MESSAGE:
                if depth >= 3:
                    return None
                vs = message(v.message_type, namespace, names, depth + 1, hostile)
            else:
                vs = _scalar(v, namespace, names, hostile)
            return st.dictionaries(_scalar(k, namespace, names, hostile), vs, max_size=3)
        if depth >= 3:
            return None
        inner = message(f.message_type, namespace, names, depth + 1, hostile)
        return st.lists(inner, max_size=3) if f.is_repeated else inner
    s = _scalar(f, namespace, names, hostile)
    return st.lists(s, max_size=4) if f.is_repeated else s


def message(
    desc: Descriptor,
    namespace: str,
    names: Callable[[], st.SearchStrategy[str]],
    depth: int = 0,
    hostile: bool = True,
) -> st.SearchStrategy[Any]:
    """A strategy for messages of `desc` (each field set or not, nested down to depth 3), of
    hostile values, or (hostile=False) of values each field's own checks accept."""
    cls = message_class(desc)
    fields = [(f, _field(f, namespace, names, depth, hostile)) for f in desc.fields]
    fields = [(f, s) for f, s in fields if s is not None]

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        msg = cls()
        for f, s in fields:
            if draw(st.booleans()):
                _assign(msg, f, draw(s))
        return msg

    return build()


def request(desc: Descriptor, namespace: str, names: Callable[[], st.SearchStrategy[str]]) -> st.SearchStrategy[Any]:
    """Requests of three kinds: every field acceptable; every field acceptable but one, which is
    hostile (these reach the code behind the first checks); every field hostile."""
    plausible = message(desc, namespace, names, hostile=False)
    hostile = [(f, _field(f, namespace, names, 0, True)) for f in desc.fields]
    hostile = [(f, s) for f, s in hostile if s is not None]

    @st.composite
    def one_hostile(draw: st.DrawFn) -> Any:
        msg = draw(plausible)
        if hostile:
            f, s = draw(st.sampled_from(hostile))
            msg.ClearField(f.name)
            _assign(msg, f, draw(s))
        return msg

    return st.one_of(plausible, one_hostile(), one_hostile(), message(desc, namespace, names))


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
