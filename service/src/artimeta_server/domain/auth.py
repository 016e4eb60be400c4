"""Who is calling and what they may do: roles, grants, bearer tokens.

A token is `amt_<id>_<secret>`: the id finds the row, the secret is checked against its stored
SHA-256 (secrets are 256 random bits, so a plain hash is enough and costs microseconds). A
verified principal is cached for a few seconds, so revocation reaches every replica within
that TTL while point reads pay no extra database round trip.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from artimeta_server.domain.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from artimeta_server.domain.reasons import Reason

if TYPE_CHECKING:
    from artimeta_server.domain.auth_ports import JwtVerifier, TokenRepository

PREFIX = "amt_"
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
    namespace: str  # name, or "*"
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


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(token_id) != 16 or not secret:
        return None
    return token_id, secret


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith(PREFIX)


@dataclass
class Tokens:
    """Issues, lists, revokes and verifies bearer tokens."""

    repo: TokenRepository
    cache_ttl_s: float = 5.0
    jwt: JwtVerifier | None = None
    clock: Callable[[], float] = time.time
    _cache: dict[str, tuple[float, Principal]] = field(default_factory=dict)

    async def create(
        self, namespace: str, role: Role, *, expire_time: datetime | None = None, description: str = ""
    ) -> IssuedToken:
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        stored = StoredToken(
            id=token_id,
            namespace=namespace,
            role=role,
            secret_hash=hash_secret(secret),
            description=description,
            expire_time=expire_time,
        )
        await self.repo.insert(stored)
        return IssuedToken(token=f"{PREFIX}{token_id}_{secret}", stored=stored)

    async def list(self, namespace: str | None = None) -> Sequence[StoredToken]:
        return await self.repo.list(namespace)

    async def revoke(self, token_id: str) -> None:
        if not await self.repo.revoke(token_id):
            raise NotFound(f"no token {token_id!r}", reason=Reason.TOKEN_NOT_FOUND)
        self._cache.clear()

    async def authenticate(self, token: str) -> Principal:
        """The principal a bearer token stands for; Unauthenticated with a precise reason otherwise."""
        if not token:
            raise Unauthenticated("a bearer token is required", reason=Reason.TOKEN_MISSING)
        now = self.clock()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            principal = hit[1]
            if principal.expires_at is not None and principal.expires_at <= now:
                raise Unauthenticated("the token has expired", reason=Reason.TOKEN_EXPIRED)
            return principal
        if looks_like_jwt(token):
            if self.jwt is None:
                raise Unauthenticated("JWTs are not accepted by this server", reason=Reason.TOKEN_INVALID)
            principal = self.jwt.verify(token)
        else:
            principal = await self._verify_stored(token, now)
        if self.cache_ttl_s > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[token] = (now + self.cache_ttl_s, principal)
        return principal

    async def _verify_stored(self, token: str, now: float) -> Principal:
        parts = split_token(token)
        if parts is None:
            raise Unauthenticated("the token is malformed", reason=Reason.TOKEN_INVALID)
        token_id, secret = parts
        stored = await self.repo.get(token_id)
        if stored is None or not hmac.compare_digest(stored.secret_hash, hash_secret(secret)):
            raise Unauthenticated("the token is not known", reason=Reason.TOKEN_INVALID)
        if stored.revoke_time is not None:
            raise Unauthenticated("the token has been revoked", reason=Reason.TOKEN_REVOKED)
        expires_at = stored.expire_time.timestamp() if stored.expire_time is not None else None
        if expires_at is not None and expires_at <= now:
            raise Unauthenticated("the token has expired", reason=Reason.TOKEN_EXPIRED)
        return Principal(
            subject=f"token:{stored.id}",
            grants=(Grant(stored.namespace, stored.role),),
            expires_at=expires_at,
        )


def parse_grant(text: str) -> Grant:
    """`<namespace>:<role>` (namespace "*" = every namespace), the form JWT role claims use."""
    namespace, sep, role = text.rpartition(":")
    if not sep or not namespace:
        raise InvalidArgument(f"a grant is <namespace>:<role>, not {text!r}", reason=Reason.INVALID_GRANT)
    return Grant(namespace, Role.parse(role))


def utc_from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
