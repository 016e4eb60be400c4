"""SQL for optional filters and keyset bounds."""

from __future__ import annotations

from collections.abc import Sequence


def given(args: list[object], *conditions: tuple[str, Sequence[object] | None]) -> str:
    """ " AND <condition>" for each condition whose values are given (None: left out), its `{}`
    placeholders numbered after the parameters already in `args`, which it extends.

    An absent filter or bound is left out of the text rather than written as `$n IS NULL OR ...`:
    once asyncpg's prepared statement runs on a generic plan, Postgres can no longer use such a
    bound as an index condition, and a deep keyset page scans every row before it."""
    sql: list[str] = []
    for template, values in conditions:
        if values is None:
            continue
        marks = []
        for value in values:
            args.append(value)
            marks.append(f"${len(args)}")
        sql.append(" AND " + template.format(*marks))
    return "".join(sql)
