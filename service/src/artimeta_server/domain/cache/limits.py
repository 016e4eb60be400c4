"""How many items one cache request may carry."""

from __future__ import annotations

from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

MAX_ITEMS = 10_000


def check_count(n: int, field: str) -> None:
    if n > MAX_ITEMS:
        raise InvalidArgument(
            f"{n} items; at most {MAX_ITEMS}", reason=Reason.TOO_MANY_ITEMS, metadata={"field": field}
        )
