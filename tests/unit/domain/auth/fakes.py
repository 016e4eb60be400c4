"""An in-memory TokenRepository with the Postgres one's contract, and a JWT verifier stub."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from artimeta_server.domain.auth.models import ALL_NAMESPACES, Grant, Principal, Role, StoredToken
from artimeta_server.domain.errors import NotFound, Unauthenticated
from artimeta_server.domain.reasons import Reason


class FakeTokenRepository:
    def __init__(self, namespaces: set[str]) -> None:
        self.namespaces = namespaces
        self.rows: dict[str, StoredToken] = {}
        self.gets = 0

    async def insert(self, token: StoredToken) -> None:
        if token.namespace != ALL_NAMESPACES and token.namespace not in self.namespaces:
            raise NotFound(f"namespace {token.namespace!r} does not exist", reason=Reason.NAMESPACE_NOT_FOUND)
        self.rows[token.id] = dataclasses.replace(token, create_time=datetime.now(UTC))

    async def get(self, token_id: str) -> StoredToken | None:
        self.gets += 1
        row = self.rows.get(token_id)
        if row is not None and row.namespace not in self.namespaces | {ALL_NAMESPACES}:
            return dataclasses.replace(row, namespace=None)  # its namespace row is gone
        return row

    async def list(self, namespace: str | None) -> list[StoredToken]:
        return [t for t in self.rows.values() if namespace is None or t.namespace == namespace]

    async def revoke(self, token_id: str) -> bool:
        row = self.rows.get(token_id)
        if row is None:
            return False
        if row.revoke_time is None:
            self.rows[token_id] = dataclasses.replace(row, revoke_time=datetime.now(UTC))
        return True


class FakeJwt:
    """Accepts "h.<subject>.s" for a reader of namespace "team-a"; refuses anything else."""

    def verify(self, token: str) -> Principal:
        _, subject, sig = token.split(".")
        if sig != "s":
            raise Unauthenticated("the JWT does not verify", reason=Reason.TOKEN_INVALID)
        return Principal(subject=subject, grants=(Grant("team-a", Role.READER),))
