"""ErrorReason (proto/artimeta/v1/error_reason.proto) is the whole list of reasons the server raises:
the plain-Python Reason the server code uses is the same list, and the server source raises nothing
outside it (no bare reason string, no misspelt member), by reading the source rather than trusting
mypy alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from artimeta.v1 import error_reason_pb2
from artimeta_server.domain import errors
from artimeta_server.domain.reasons import Reason

SERVER = Path(__file__).resolve().parents[2] / "service" / "src" / "artimeta_server"
PREFIX = "ERROR_REASON_"
ERROR_CLASSES = {
    name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, errors.DomainError)
}


def proto_reasons() -> set[str]:
    names = set(error_reason_pb2.ErrorReason.keys())
    assert all(n.startswith(PREFIX) for n in names), "every value carries the enum's prefix"
    return {n.removeprefix(PREFIX) for n in names} - {"UNSPECIFIED"}


def sources() -> list[Path]:
    return sorted(p for p in SERVER.rglob("*.py") if p != SERVER / "domain" / "reasons.py")


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _reason_of(node: ast.expr) -> str | None:
    """The reason an expression names: a string literal or Reason.X; None when it is neither."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Reason":
        return node.attr
    return None


def raised_reasons() -> dict[str, list[str]]:
    """reason -> where it appears, from every pattern the server uses to name a reason."""
    found: dict[str, list[str]] = {}
    opaque: list[str] = []

    def add(reason: str | None, where: str, node: ast.expr) -> None:
        if isinstance(node, ast.Attribute) and node.attr == "reason":
            return  # passes on a reason already raised (and checked) elsewhere
        if reason is None:
            opaque.append(f"{where}: {ast.unparse(node)}")
        else:
            found.setdefault(reason, []).append(where)

    for path in sources():
        text = path.read_text()
        tree = ast.parse(text)
        rel = path.relative_to(SERVER)
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call):
                callee = _name(node.func)
                # Errors of the domain, e.g. NotFound(..., reason=Reason.X).
                if callee in ERROR_CLASSES:
                    for kw in node.keywords:
                        if kw.arg == "reason":
                            add(_reason_of(kw.value), where, kw.value)
                # The error map's own status_for(code, message, reason, ...).
                if callee == "status_for" and len(node.args) >= 3:
                    add(_reason_of(node.args[2]), where, node.args[2])
            elif isinstance(node, ast.ClassDef):
                # Class-level defaults: `reason = Reason.X` / `reason: Reason = ...`.
                for stmt in node.body:
                    target = value = None
                    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                        target, value = stmt.targets[0], stmt.value
                    elif isinstance(stmt, ast.AnnAssign):
                        target, value = stmt.target, stmt.value
                    if isinstance(target, ast.Name) and target.id == "reason" and value is not None:
                        add(_reason_of(value), where, value)
            elif isinstance(node, ast.Compare) and all(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                # Branches on a reason: `exc.reason != Reason.X` (membership tests name a collection
                # whose members are Reason.X, seen where it is built).
                sides = [node.left, *node.comparators]
                if any(isinstance(s, ast.Attribute) and s.attr == "reason" for s in sides):
                    for s in sides:
                        if not (isinstance(s, ast.Attribute) and s.attr == "reason"):
                            add(_reason_of(s), where, s)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Reason":
                found.setdefault(node.attr, []).append(where)
        # Belt and braces for patterns the walk above does not know: any `reason=` with a literal.
        for m in re.finditer(r"\breason\s*(?::\s*\w+\s*)?=\s*[\"']([A-Za-z_]+)[\"']", text):
            line = text.count("\n", 0, m.start()) + 1
            found.setdefault(m.group(1), []).append(f"{rel}:{line}")
    assert not opaque, f"reasons the check cannot read (use Reason.X): {opaque}"
    return found


def test_domain_reason_is_the_proto_enum() -> None:
    assert {r.name for r in Reason} == proto_reasons()
    assert all(r.value == r.name for r in Reason), "the wire string is the member's name"


def test_proto_numbers_are_unique_and_unspecified_is_zero() -> None:
    numbers = list(error_reason_pb2.ErrorReason.values())
    assert len(numbers) == len(set(numbers))
    assert error_reason_pb2.ErrorReason.Value(PREFIX + "UNSPECIFIED") == 0


def test_the_server_raises_only_members_of_error_reason() -> None:
    found = raised_reasons()
    unknown = {r: where for r, where in found.items() if r not in proto_reasons()}
    assert not unknown, f"add these to proto/artimeta/v1/error_reason.proto and domain/reasons.py: {unknown}"


def test_no_bare_reason_strings_in_the_server() -> None:
    """Reasons are named through Reason, so a typo fails mypy instead of reaching a client."""
    bare = []
    for path in sources():
        for m in re.finditer(r"\breason\s*(?::\s*\w+\s*)?=\s*[\"'][A-Z_]+[\"']", path.read_text()):
            bare.append(f"{path.relative_to(SERVER)}: {m.group(0)}")
    assert not bare


def test_every_member_is_raised_somewhere() -> None:
    """No dead values: a reason nobody raises would mislead the clients that branch on it."""
    unused = proto_reasons() - set(raised_reasons())
    assert not unused


def test_the_scan_sees_the_known_patterns() -> None:
    """The scan must find reasons in each form the server uses, or the checks above prove nothing."""
    found = raised_reasons()
    assert any(w.startswith("domain/errors.py") for w in found["NOT_FOUND"])  # class default
    assert any(w.startswith("rpc/errors.py") for w in found["INTERNAL"])  # status_for argument
    assert any(w.startswith("storage/connection/partitions.py") for w in found["TRANSACTION_CONFLICT"])  # comparison
    assert len(found) >= 80
