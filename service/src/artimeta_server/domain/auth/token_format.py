"""The bearer token's text: `amt_<id>_<secret>`. The id finds the row, the secret is checked
against its stored SHA-256 (secrets are 256 random bits, so a plain hash is enough and costs
microseconds)."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "amt_"
_ID_CHARS = 16


def new_token() -> tuple[str, str, str]:
    """(token id, secret, the token's full text) of a fresh token."""
    token_id = secrets.token_hex(_ID_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"{PREFIX}{token_id}_{secret}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(token_id) != _ID_CHARS or not secret:
        return None
    return token_id, secret


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith(PREFIX)
