"""The API conventions neither buf lint nor protolint checks (both run in `make api-lint`):

- every RPC comment ends with its `Errors:` list, one format everywhere:
      // Errors:
      // - NOT_FOUND (RECORD_NOT_FOUND): no record with this id.
      // - INVALID_ARGUMENT (INVALID_UUID, INVALID_PATH): a malformed id or path; a long "when"
      //   goes on indented continuation lines.
  or `// Errors: none of its own.` (the errors every RPC may raise are listed once, on ErrorReason);
  the code is a gRPC code name and every reason a member of ErrorReason;
- every message that is not an RPC's request or response has a comment (buf's COMMENT_MESSAGE is
  off for those two, which their RPC's comment describes);
- every request field a server refuses when empty is annotated REQUIRED, and every field a server
  sets is OUTPUT_ONLY, on the fields named below.
"""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from artimeta.v1 import error_reason_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"
CODES = {c.name for c in grpc.StatusCode}
REASONS = {n.removeprefix("ERROR_REASON_") for n in error_reason_pb2.ErrorReason.DESCRIPTOR.values_by_name} - {
    "UNSPECIFIED"
}
ITEM = re.compile(r"^- ([A-Z_]+) \(([A-Z_, ]+)\): \S.*$")
NONE = "Errors: none of its own."

# Service (3), method (2) and message (4) paths in SourceCodeInfo.
SERVICE, METHOD, MESSAGE, FIELD = 6, 2, 4, 2


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[descriptor_pb2.FileDescriptorProto]:
    out = tmp_path_factory.mktemp("api") / "set.pb"
    protos = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "artimeta" / "v1").glob("*.proto"))
    well_known = str(Path(protoc.__file__).parent / "_proto")
    rc = protoc.main(
        ["protoc", f"-I{PROTO}", f"-I{well_known}", "--include_source_info", f"--descriptor_set_out={out}", *protos]
    )
    assert rc == 0
    fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return list(fds.file)


def comments(f: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {tuple(loc.path): loc.leading_comments for loc in f.source_code_info.location}


def errors_problems(comment: str) -> list[str]:
    """What is wrong with the `Errors:` section that must end an RPC comment (empty when fine)."""
    lines = [line.strip() for line in comment.strip().splitlines()]
    if lines and lines[-1] == NONE:
        return []
    if "Errors:" not in lines:
        return [f"no `Errors:` list and no {NONE!r}"]
    items: list[str] = []
    for line in lines[lines.index("Errors:") + 1 :]:
        if line.startswith("- "):
            items.append(line)
        elif items and line and not line.startswith("-"):
            items[-1] += " " + line  # an indented continuation of the item's "when"
        else:
            return [f"not an item of the Errors list: {line!r}"]
    if not items:
        return ["an empty Errors list"]
    problems = []
    for item in items:
        m = ITEM.match(item)
        if m is None:
            problems.append(f"not `- CODE (REASON, ...): when`: {item!r}")
            continue
        if m.group(1) not in CODES:
            problems.append(f"{m.group(1)} is not a gRPC code")
        for reason in (r.strip() for r in m.group(2).split(",")):
            if reason not in REASONS:
                problems.append(f"{reason} is not an ErrorReason")
    return problems


def test_every_rpc_comment_ends_with_its_errors(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    problems = []
    rpcs = 0
    for f in files:
        where = comments(f)
        for si, service in enumerate(f.service):
            for mi, method in enumerate(service.method):
                rpcs += 1
                text = where.get((SERVICE, si, METHOD, mi), "")
                problems += [f"{service.name}.{method.name}: {p}" for p in errors_problems(text)]
    assert rpcs >= 75
    assert not problems, "\n".join(problems)


def test_messages_other_than_requests_and_responses_have_comments(
    files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    missing = []
    for f in files:
        where = comments(f)
        for i, msg in enumerate(f.message_type):
            if msg.name.endswith(("Request", "Response")):
                continue
            if not where.get((MESSAGE, i), "").strip():
                missing.append(f"{f.name}: {msg.name}")
    assert not missing


def _behaviors(files: list[descriptor_pb2.FileDescriptorProto]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for f in files:
        for msg in f.message_type:
            for field in msg.field:
                out[f"{msg.name}.{field.name}"] = set(field.options.Extensions[field_behavior_pb2.field_behavior])  # type: ignore[index]  # types-protobuf types the extension by its holder
    return out


def test_namespace_fields_of_requests_are_required(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    """Every request that works inside a namespace refuses an empty one: the annotation says so."""
    behaviors = _behaviors(files)
    unmarked = [
        name
        for name, b in behaviors.items()
        if name.split(".")[0].endswith("Request")
        and name.endswith(".namespace")
        and field_behavior_pb2.REQUIRED not in b
        # Only the first message of the Upload stream names the namespace.
        and not name.startswith("UploadRequest.")
    ]
    assert not unmarked


def test_server_set_times_are_output_only(files: list[descriptor_pb2.FileDescriptorProto]) -> None:
    behaviors = _behaviors(files)
    unmarked = [
        name
        for name, b in behaviors.items()
        if name.endswith((".create_time", ".update_time", ".stored_time"))
        and not name.split(".")[0].endswith("Request")
        and field_behavior_pb2.OUTPUT_ONLY not in b
    ]
    assert not unmarked


@pytest.mark.parametrize(
    ("comment", "ok"),
    [
        ("Does X.\nErrors: none of its own.", True),
        ("Does X.\nErrors:\n- NOT_FOUND (RECORD_NOT_FOUND): gone.", True),
        ("Does X.\nErrors:\n- INVALID_ARGUMENT (INVALID_UUID, INVALID_PATH): a bad id\n  or path.", True),
        ("Does X. NOT_FOUND (reason RECORD_NOT_FOUND).", False),
        ("Does X.\nErrors:\n- NOT_FOUND (NO_SUCH_REASON): gone.", False),
        ("Does X.\nErrors:\n- MISSING (RECORD_NOT_FOUND): gone.", False),
        ("Does X.\nErrors:\n- NOT_FOUND RECORD_NOT_FOUND: gone.", False),
        ("Does X.\nErrors:", False),
    ],
)
def test_the_errors_check_itself(comment: str, ok: bool) -> None:
    assert (errors_problems(comment) == []) is ok
