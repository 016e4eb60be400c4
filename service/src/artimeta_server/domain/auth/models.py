"""Roles, grants and the principal a verified token stands for; tokens as storage keeps them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from artimeta_server.domain.errors import InvalidArgument, PermissionDenied
from artimeta_server.domain.reasons import Reason

ALL_NAMESPACES = "*"


class Role(enum.IntEnum):
    """Ordered: each role may do what the ones below it may."""

    READER = 1
    WRITER = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise InvalidArgument(
                f"unknown role {text!r}: reader, writer or admin", reason=Reason.INVALID_ROLE
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Grant:
    namespace: str  # a namespace name, or "*" for every namespace
    role: Role


def parse_grant(text: str) -> Grant:
    """`<namespace>:<role>` (namespace "*" = every namespace), the form JWT role claims use."""
    namespace, sep, role = text.rpartition(":")
    if not sep or not namespace:
        raise InvalidArgument(f"a grant is <namespace>:<role>, not {text!r}", reason=Reason.INVALID_GRANT)
    return Grant(namespace, Role.parse(role))


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # "token:<id>" or the JWT subject: safe to log, never the secret
    grants: tuple[Grant, ...]
    expires_at: float | None = None

    def allows(self, namespace: str | None, role: Role) -> bool:
        """namespace None means an operation over every namespace: only "*" grants reach it."""
        for g in self.grants:
            if g.role < role:
                continue
            if g.namespace == ALL_NAMESPACES or (namespace is not None and g.namespace == namespace):
                return True
        return False

    def require(self, namespace: str | None, role: Role) -> None:
        if not self.allows(namespace, role):
            where = "every namespace" if namespace is None else f"namespace {namespace!r}"
            raise PermissionDenied(
                f"{self.subject} lacks the {role.label} role on {where}",
                reason=Reason.PERMISSION_DENIED,
                metadata={"namespace": namespace or ALL_NAMESPACES, "role": role.label},
            )


@dataclass(frozen=True, slots=True)
class StoredToken:
    id: str
    namespace: str | None  # name, or "*"; None when its namespace row is gone (the token grants nothing)
    role: Role
    secret_hash: str
    description: str = ""
    create_time: datetime | None = None
    expire_time: datetime | None = None
    revoke_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once
    stored: StoredToken
