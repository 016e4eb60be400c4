"""Which role each RPC needs, and on which namespace: the one table the auth interceptor reads.

A service declares its methods once, next to its servicer, e.g.

    access.declare("artimeta.v1.TagService", read={"GetTag", "ListTags"})

and follows one convention: every request carries the namespace it works in as a top-level
string field `namespace` (NamespaceService is the exception: `name`, or `namespace.name` on
create). An artimeta.v1 method nobody declared needs the writer role on its request's
`namespace`, so a new RPC is never open by accident; declaring it `read` is what lets readers
call it. Scope "global" methods act on every namespace and need a grant on "*"; "signed_in"
methods name no namespace and serve any valid token (GetCapabilities). `admin_if` raises a
method's role to admin when a boolean request field is set (a force-delete).

A client-streaming call is bound to the namespace of its first message: later messages may leave
the field empty and may not name another one (rpc/auth.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from artimeta_server.domain.auth.models import Role

NAMESPACE_FIELD = "namespace"


@dataclass(frozen=True, slots=True)
class Rule:
    role: Role
    field: str | None = NAMESPACE_FIELD  # dotted path to the namespace name; None = every namespace
    open: bool = False
    signed_in: bool = False  # any valid token, whatever its grants
    admin_if: str | None = None  # a boolean request field that, when set, makes the call admin-only

    def role_for(self, request: Any) -> Role:
        if self.admin_if is not None and getattr(request, self.admin_if, False) is True:
            return Role.ADMIN
        return self.role


OPEN = Rule(Role.READER, None, open=True)
DEFAULT = Rule(Role.WRITER)

_RULES: dict[str, Rule] = {}


def declare(
    service: str,
    *,
    read: Iterable[str] = (),
    write: Iterable[str] = (),
    admin: Iterable[str] = (),
    global_read: Iterable[str] = (),
    global_admin: Iterable[str] = (),
    open: Iterable[str] = (),
    signed_in: Iterable[str] = (),
    field: str = NAMESPACE_FIELD,
    fields: dict[str, str] | None = None,
    admin_if: dict[str, str] | None = None,
) -> None:
    """Declares the methods of one service (full name, e.g. "artimeta.v1.TagService").
    `fields` overrides the namespace field of single methods; `admin_if` maps a method to the
    boolean field that makes a call of it admin-only."""
    fields = fields or {}
    admin_if = admin_if or {}

    def put(
        methods: Iterable[str], role: Role, *, scoped: bool = True, is_open: bool = False, anyone: bool = False
    ) -> None:
        for m in methods:
            path = f"/{service}/{m}"
            if path in _RULES:
                raise ValueError(f"{path} is declared twice")
            _RULES[path] = Rule(
                role,
                fields.get(m, field) if scoped else None,
                open=is_open,
                signed_in=anyone,
                admin_if=admin_if.get(m),
            )

    put(read, Role.READER)
    put(write, Role.WRITER)
    put(admin, Role.ADMIN)
    put(global_read, Role.READER, scoped=False)
    put(global_admin, Role.ADMIN, scoped=False)
    put(open, Role.READER, scoped=False, is_open=True)
    put(signed_in, Role.READER, scoped=False, anyone=True)
    unknown = set(admin_if) - {p.rpartition("/")[2] for p in _RULES if p.startswith(f"/{service}/")}
    if unknown:
        raise ValueError(f"admin_if names undeclared methods of {service}: {sorted(unknown)}")


def rule_for(method: str) -> Rule:
    """Declared rule, else writer on the request's `namespace` (artimeta.*) or on "*" (others)."""
    rule = _RULES.get(method)
    if rule is not None:
        return rule
    return DEFAULT if method.startswith("/artimeta.") else Rule(Role.WRITER, None)


def namespace_of(request: Any, field: str | None) -> str | None:
    """The namespace a request names through `field`; None when the field does not exist."""
    if field is None:
        return None
    value: Any = request
    for part in field.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            return None
    return value if isinstance(value, str) else None


def declared() -> dict[str, Rule]:
    return dict(_RULES)
