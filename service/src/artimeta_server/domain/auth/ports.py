"""What authentication needs from storage (tokens) and from a JWT verifier."""

from __future__ import annotations

from typing import Protocol

from artimeta_server.domain.auth.models import Principal, StoredToken


class TokenRepository(Protocol):
    async def insert(self, token: StoredToken) -> None: ...

    async def get(self, token_id: str) -> StoredToken | None: ...

    async def list(self, namespace: str | None) -> list[StoredToken]:
        """Every token, or those of one namespace ("*" = the all-namespace tokens)."""
        ...

    async def revoke(self, token_id: str) -> bool:
        """Marks a token revoked; False when there is no such token."""
        ...


class JwtVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The principal a signed JWT stands for; raises Unauthenticated when it does not verify."""
        ...
