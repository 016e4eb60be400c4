"""Who is calling and what they may do: roles, grants, bearer tokens.

A token is `amt_<id>_<secret>`: the id finds the row, the secret is checked against its stored
SHA-256 (secrets are 256 random bits, so a plain hash is enough and costs microseconds). A
verified principal is cached for a few seconds, so revocation reaches every replica within
that TTL while point reads pay no extra database round trip.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from artimeta_server.domain.errors import (
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from artimeta_server.domain.lru import BoundedCache
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


def _size_of(principal: Principal) -> int:
    """About the bytes a cached principal holds (a JWT may carry many grants)."""
    return len(principal.subject) + sum(len(g.namespace) + 64 for g in principal.grants)


@dataclass
class FailureBudget:
    """How often one peer may fail to authenticate: a token bucket of `burst` failures refilled at
    `per_s` a second. Only failures spend it, so a peer whose tokens are good is never slowed."""

    per_s: float = 10.0
    burst: float = 50.0
    clock: Callable[[], float] = time.monotonic
    max_peers: int = 10_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # peer -> (level, stamp)

    @property
    def enabled(self) -> bool:
        return self.per_s > 0

    def _level(self, peer: str, now: float) -> float:
        level, stamp = self._buckets.get(peer, (self.burst, now))
        return min(self.burst, level + (now - stamp) * self.per_s)

    def retry_after(self, peer: str) -> float | None:
        """Seconds until `peer` may fail again; None while it has budget left."""
        if not self.enabled:
            return None
        level = self._level(peer, self.clock())
        return None if level >= 1.0 else (1.0 - level) / self.per_s

    def spend(self, peer: str) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if peer not in self._buckets and len(self._buckets) >= self.max_peers:
            # Forget the peers whose buckets have refilled: they are where a new one would start.
            self._buckets = {p: b for p, b in self._buckets.items() if self._level(p, now) < self.burst}
            if len(self._buckets) >= self.max_peers:
                self._buckets.clear()
        self._buckets[peer] = (self._level(peer, now) - 1.0, now)


@dataclass
class Tokens:
    """Issues, lists, revokes and verifies bearer tokens."""

    repo: TokenRepository
    cache_ttl_s: float = 5.0
    jwt: JwtVerifier | None = None
    clock: Callable[[], float] = time.time
    negative_ttl_s: float = 2.0
    failures: FailureBudget = field(default_factory=FailureBudget)
    # Bytes of each cache (verified and refused tokens): the keys are whatever callers send, up
    # to a header's size each, so they are bounded by bytes, not by count.
    cache_bytes: int = 8 * 1024 * 1024
    _cache: BoundedCache[tuple[float, Principal]] = field(init=False)
    _refused: BoundedCache[tuple[float, Unauthenticated]] = field(init=False)
    _pending: dict[str, asyncio.Future[Principal]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cache = BoundedCache(max_bytes=self.cache_bytes)
        self._refused = BoundedCache(max_bytes=self.cache_bytes)

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
        self._refused.clear()

    async def authenticate(self, token: str, peer: str = "") -> Principal:
        """The principal a bearer token stands for; Unauthenticated with a precise reason otherwise,
        ResourceExhausted while `peer` (the caller's address) has spent its failure budget."""
        if not token:
            raise Unauthenticated("a bearer token is required", reason=Reason.TOKEN_MISSING)
        now = self.clock()
        hit = self._cache.get(token)
        if hit is not None and hit[0] > now:
            principal = hit[1]
            if principal.expires_at is not None and principal.expires_at <= now:
                raise Unauthenticated("the token has expired", reason=Reason.TOKEN_EXPIRED)
            return principal
        wait = self.failures.retry_after(peer)
        if wait is not None:
            raise ResourceExhausted(
                "too many failed authentications from this address; retry later",
                reason=Reason.AUTH_RATE_LIMITED,
                retry_after_s=wait,
            )
        refused = self._refused.get(token)
        if refused is not None and refused[0] > now:
            self.failures.spend(peer)
            raise refused[1]
        try:
            principal = await self._verify_once(token, now)
        except Unauthenticated as exc:
            self.failures.spend(peer)
            if self.negative_ttl_s > 0:
                self._refused.put(token, (now + self.negative_ttl_s, exc), len(token))
            raise
        if self.cache_ttl_s > 0:
            self._cache.put(token, (now + self.cache_ttl_s, principal), len(token) + _size_of(principal))
        return principal

    async def _verify_once(self, token: str, now: float) -> Principal:
        """Concurrent lookups of one token share one verification (a burst of the same bad token
        costs one query, not one per call)."""
        pending = self._pending.get(token)
        if pending is None:
            pending = asyncio.ensure_future(self._verify(token, now))
            self._pending[token] = pending

            def done(f: asyncio.Future[Principal]) -> None:
                self._pending.pop(token, None)
                if not f.cancelled():
                    f.exception()  # retrieved here, so a result nobody awaits any more is not reported

            pending.add_done_callback(done)
        return await asyncio.shield(pending)

    async def _verify(self, token: str, now: float) -> Principal:
        if looks_like_jwt(token):
            if self.jwt is None:
                raise Unauthenticated("JWTs are not accepted by this server", reason=Reason.TOKEN_INVALID)
            return self.jwt.verify(token)
        return await self._verify_stored(token, now)

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
        if stored.namespace is None:
            # Its namespace is gone: the token grants nothing (never every namespace).
            raise Unauthenticated("the token's namespace no longer exists", reason=Reason.TOKEN_NAMESPACE_DELETED)
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
