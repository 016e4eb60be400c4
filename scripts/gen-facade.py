"""Writes the typed per-RPC methods of the Python client facade (client/python/src/artimeta/rpcs/)
from the proto descriptors: one blocking and one asyncio class per namespaced service, a method
per RPC with the request's fields as typed keyword arguments (the namespace comes from the
handle), and `methods.py`, the RPC -> method table the facade's coverage test reads.

Run by `make proto` after the messages are generated; `make proto-check` fails when the output
drifts from proto/. Hand-written conveniences (artimeta.blobs, artimeta.records) subclass these.
"""

from __future__ import annotations

import keyword
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Dict, List, Tuple

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "client/python/src"
OUT = SRC / "artimeta/rpcs"
PROTO = ROOT / "proto"

# service -> (module name, class stem, handle attribute). NamespaceService is the Client's own.
SERVICES: Dict[str, Tuple[str, str, str]] = {
    "artimeta.v1.ConnectionService": ("connection", "Connection", "graphs"),
    "artimeta.v1.TagService": ("tags", "Tag", "tags"),
    "artimeta.v1.CacheService": ("cache", "Cache", "cache"),
    "artimeta.v1.OpStoreService": ("opstore", "OpStore", "ops"),
    "artimeta.v1.BlobService": ("blobs", "Blob", "blobs"),
    "artimeta.v1.RecordService": ("records", "Record", "records"),
}
# Where a hand-written helper already owns the plain name (Blobs.download yields bytes,
# Blobs.get_key returns a Digest), the raw RPC takes a name saying what it returns.
RENAMED: Dict[str, str] = {
    "artimeta.v1.BlobService.Download": "download_chunks",
    "artimeta.v1.BlobService.GetKey": "lookup_key",
}
RESERVED = {"self", "request", "requests", "timeout", "namespace"}

SCALARS = {
    FieldDescriptor.TYPE_STRING: "str",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_DOUBLE: "float",
    FieldDescriptor.TYPE_FLOAT: "float",
}


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def module_of(file_name: str) -> Tuple[str, str]:
    """(package, module) of the generated Python module for a .proto file."""
    package, _, base = file_name.removesuffix(".proto").rpartition("/")
    return package.replace("/", "."), base + "_pb2"


class Imports:
    def __init__(self) -> None:
        self.modules: Dict[str, str] = {}

    def ref(self, file_name: str, full_name: str, package: str) -> str:
        pkg, mod = module_of(file_name)
        alias = mod if pkg == "artimeta.v1" else f"{pkg.split('.')[-1]}_{mod}"
        self.modules[alias] = f"from {pkg} import {mod}" + ("" if alias == mod else f" as {alias}")
        return f"{alias}.{full_name.removeprefix(package + '.')}"

    def message(self, d: Descriptor) -> str:
        return self.ref(d.file.name, d.full_name, d.file.package)

    def lines(self) -> List[str]:
        # isort order: google before artimeta, then by module.
        return sorted(self.modules.values(), key=lambda s: (not s.startswith("from google"), s.lower()))


def value_type(f: FieldDescriptor, imports: Imports) -> str:
    if f.type == FieldDescriptor.TYPE_MESSAGE:
        return imports.message(f.message_type)
    if f.type == FieldDescriptor.TYPE_ENUM:
        e = f.enum_type
        return imports.ref(e.file.name, e.full_name, e.file.package) + ".ValueType"
    return SCALARS.get(f.type, "int")


def field_type(f: FieldDescriptor, imports: Imports) -> str:
    if f.type == FieldDescriptor.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
        key, value = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
        return f"Mapping[{value_type(key, imports)}, {value_type(value, imports)}]"
    if f.is_repeated:
        return f"Iterable[{value_type(f, imports)}]"
    return value_type(f, imports)


def descriptors() -> Tuple[descriptor_pool.DescriptorPool, Dict[str, str]]:
    """proto/ compiled with protoc (never the generated modules, which may be stale): a pool of
    descriptors, and the first sentence of each RPC's leading comment by full method name."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        well_known = resources.files("grpc_tools") / "_proto"
        files = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "artimeta/v1").glob("*.proto"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{PROTO}",
                f"-I{well_known}",
                "--include_imports",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *files,
            ],
            check=True,
        )
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    found: Dict[str, str] = {}
    for fd in fds.file:
        where = {tuple(loc.path): loc.leading_comments for loc in fd.source_code_info.location}
        for si, svc in enumerate(fd.service):
            for mi, m in enumerate(svc.method):
                text = " ".join(where.get((6, si, 2, mi), "").split())
                first = re.split(r"(?<=[.:])\s", text, maxsplit=1)[0].rstrip(":") if text else ""
                if first and not first.endswith("."):
                    first = first.rstrip(":") + "."
                first = first.replace("\\", "\\\\").replace('"""', "'''")
                found[f"{fd.package}.{svc.name}.{m.name}"] = first or f"{m.name}."
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    return pool, found


@dataclass
class Rpc:
    method: MethodDescriptor
    name: str
    doc: str


def signature(rpc: Rpc, imports: Imports, is_async: bool) -> Tuple[List[str], str, str]:
    """(parameter lines, return annotation, request class) of one RPC's method."""
    m = rpc.method
    req, resp = imports.message(m.input_type), imports.message(m.output_type)
    if m.client_streaming:
        kind = f"Union[Iterable[{req}], AsyncIterable[{req}]]" if is_async else f"Iterable[{req}]"
        params = ["self", f"requests: {kind}", "*", "timeout: Optional[float] = None"]
    else:
        params = ["self", f"request: Optional[{req}] = None", "*"]
        for f in m.input_type.fields:
            if f.name == "namespace" and f.type == FieldDescriptor.TYPE_STRING:
                continue
            if keyword.iskeyword(f.name) or f.name in RESERVED:
                raise SystemExit(f"{m.full_name}: field {f.name!r} cannot be a keyword argument")
            params.append(f"{f.name}: Optional[{field_type(f, imports)}] = None")
        params.append("timeout: Optional[float] = None")
    ret = (f"AsyncIterator[{resp}]" if is_async else f"Iterator[{resp}]") if m.server_streaming else resp
    return params, ret, req


def method_lines(rpc: Rpc, imports: Imports, is_async: bool) -> List[str]:
    m = rpc.method
    params, ret, req = signature(rpc, imports, is_async)
    head = "async def" if is_async else "def"
    lines = [f"    {head} {rpc.name}("]
    lines += [f"        {p}," if p != "*" else "        *," for p in params]
    doc = textwrap.wrap(rpc.doc, 100, initial_indent='        """', subsequent_indent="        ")
    doc[-1] += '"""'
    lines += [f"    ) -> {ret}:", *doc]
    fields = [
        f.name for f in m.input_type.fields if not (f.name == "namespace" and f.type == FieldDescriptor.TYPE_STRING)
    ]
    if m.client_streaming:
        frames = "_namespaced_async(requests, self.namespace)" if is_async else "_namespaced(requests, self.namespace)"
        call = f"self.client.call(self._stub.{m.name}, {frames}, timeout=timeout)"
        if is_async:
            lines.append(f"        return cast({ret}, await {call})")
        else:
            lines.append(f"        return {call}")
        return lines
    kwargs = "".join(f", {n}={n}" for n in fields)
    lines.append(f"        message = _build({req}, request, self.namespace{kwargs})")
    if m.server_streaming:
        call = f"self.client.stream(self._stub.{m.name}, message, timeout=timeout)"
        if is_async:
            resp = ret.removeprefix("AsyncIterator[").removesuffix("]")
            lines += [f"        async for item in {call}:", f"            yield cast({resp}, item)"]
        else:
            lines.append(f"        yield from {call}")
    else:
        call = f"self.client.call(self._stub.{m.name}, message, timeout=timeout)"
        lines.append(f"        return cast({ret}, await {call})" if is_async else f"        return {call}")
    return lines


def service_module(svc: ServiceDescriptor, rpcs: List[Rpc], is_async: bool) -> str:
    _mod, stem, attr = SERVICES[svc.full_name]
    imports = Imports()
    body: List[str] = []
    for rpc in rpcs:
        body += ["", *method_lines(rpc, imports, is_async)]
    grpc_mod = module_of(svc.file.name)[1] + "_grpc"
    imports.modules[grpc_mod] = f"from artimeta.v1 import {grpc_mod}"
    cls = f"Async{stem}Rpcs" if is_async else f"{stem}Rpcs"
    client = "AsyncClient" if is_async else "Client"
    typing_names = {"Optional"}
    text = "\n".join(body)
    for name in ("Any", "AsyncIterable", "AsyncIterator", "Iterable", "Iterator", "Mapping", "Union"):
        if re.search(rf"\b{name}\[", text):
            typing_names.add(name)
    if is_async:
        typing_names.add("cast")
    helpers = ["_build"]
    if any(r.method.client_streaming for r in rpcs):
        helpers.append("_namespaced_async" if is_async else "_namespaced")
    flavour = "asyncio" if is_async else "blocking"
    lines = [
        f'"""{svc.name} for one namespace ({flavour}): a typed method per RPC. Generated by',
        'scripts/gen-facade.py from proto/ (`make proto`): do not edit."""',
        "",
        "from __future__ import annotations",
        "",
        f"from typing import TYPE_CHECKING, {', '.join(sorted(typing_names, key=str.lower))}",
        "",
    ]
    lines += [line for line in imports.lines() if line.startswith("from google")]
    if any(line.startswith("from google") for line in imports.lines()):
        lines.append("")
    lines.append(f"from artimeta._requests import {', '.join(sorted(helpers))}")
    lines += [line for line in imports.lines() if not line.startswith("from google")]
    lines += [
        "",
        "if TYPE_CHECKING:",
        f"    from artimeta.client import {client}",
        "",
        "",
        f"class {cls}:",
        f'    """{svc.name} RPCs in namespace `namespace` (reached as `client.namespace(name).{attr}`)."""',
        "",
        f"    def __init__(self, client: {client}, namespace: str) -> None:",
        "        self.client = client",
        "        self.namespace = namespace",
        "",
        "    @property",
        f"    def _stub(self) -> {grpc_mod}.{svc.name}Stub:",
        f"        return self.client.stub({grpc_mod}.{svc.name}Stub)",
    ]
    return "\n".join(lines + body) + "\n"


def methods_module(table: Dict[str, List[Tuple[str, str]]]) -> str:
    lines = [
        '"""Which facade method carries each RPC: {service: {rpc: method}}, plus the handle attribute',
        "of each service. Generated by scripts/gen-facade.py from proto/ (`make proto`): do not edit.",
        '"""',
        "",
        "from typing import Dict",
        "",
        "HANDLE_ATTRIBUTES: Dict[str, str] = {",
    ]
    lines += [f'    "{svc}": "{SERVICES[svc][2]}",' for svc in table]
    lines += ["}", "", "METHODS: Dict[str, Dict[str, str]] = {"]
    for svc, rows in table.items():
        lines.append(f'    "{svc}": {{')
        lines += [f'        "{rpc}": "{name}",' for rpc, name in rows]
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    pool, docs = descriptors()
    OUT.mkdir(exist_ok=True)
    for old in OUT.glob("*.py"):
        old.unlink()
    table: Dict[str, List[Tuple[str, str]]] = {}
    for full in SERVICES:
        mod = SERVICES[full][0]
        svc = pool.FindServiceByName(full)
        rpcs = [Rpc(m, RENAMED.get(m.full_name, snake(m.name)), docs[m.full_name]) for m in svc.methods]
        table[full] = [(r.method.name, r.name) for r in rpcs]
        (OUT / f"{mod}.py").write_text(service_module(svc, rpcs, is_async=False))
        (OUT / f"{mod}_aio.py").write_text(service_module(svc, rpcs, is_async=True))
    (OUT / "methods.py").write_text(methods_module(table))
    (OUT / "__init__.py").write_text(
        '"""Typed per-RPC methods of the client facade, generated from proto/ by scripts/gen-facade.py."""\n'
    )
    # ruff gives the output the repository's own layout (the drift check compares it byte for byte).
    ruff = [str(Path(sys.executable).parent / "ruff")]
    config = ["--config", str(ROOT / "pyproject.toml")]
    files = sorted(str(p) for p in OUT.glob("*.py"))
    subprocess.run([*ruff, "check", "-q", *config, "--fix", "--select", "I,F401", *files], check=True)
    subprocess.run([*ruff, "format", "-q", *config, *files], check=True)


if __name__ == "__main__":
    main()
