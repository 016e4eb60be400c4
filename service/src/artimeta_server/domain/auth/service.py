"""Issuing, listing, revoking and verifying bearer tokens (domain/auth/token_format.py).

A verified principal is cached for a few seconds, so revocation reaches every replica within
that TTL while point reads pay no extra database round trip.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from artimeta_server.domain.auth.failure_budget import FailureBudget
from artimeta_server.domain.auth.models import Grant, IssuedToken, Principal, Role, StoredToken
from artimeta_server.domain.auth.ports import JwtVerifier, TokenRepository
from artimeta_server.domain.auth.token_format import hash_secret, looks_like_jwt, new_token, split_token
from artimeta_server.domain.errors import NotFound, ResourceExhausted, Unauthenticated
from artimeta_server.domain.lru import BoundedCache
from artimeta_server.domain.reasons import Reason


def _size_of(principal: Principal) -> int:
    """About the bytes a cached principal holds (a JWT may carry many grants)."""
    return len(principal.subject) + sum(len(g.namespace) + 64 for g in principal.grants)


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
        token_id, secret, text = new_token()
        stored = StoredToken(
            id=token_id,
            namespace=namespace,
            role=role,
            secret_hash=hash_secret(secret),
            description=description,
            expire_time=expire_time,
        )
        await self.repo.insert(stored)
        return IssuedToken(token=text, stored=stored)

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
