"""Per-call facts shared by the interceptors of one RPC (who called, which request id)."""

from __future__ import annotations

from contextvars import ContextVar

current_call: ContextVar[dict[str, str] | None] = ContextVar("artimeta_current_call", default=None)
