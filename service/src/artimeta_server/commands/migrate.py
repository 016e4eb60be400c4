"""`artimeta-server migrate`: applies the pending schema migrations (storage/migrations/) and exits."""

from __future__ import annotations

import argparse
from typing import Any

from artimeta_server.config import Settings


def add_parser(sub: Any) -> None:
    sub.add_parser("migrate", help="apply pending schema migrations and exit")


async def _migrate(settings: Settings) -> None:
    from artimeta_server.storage import migrate as schema

    applied = await schema.migrate(settings.database_url)
    print(f"applied {len(applied)} migrations" + "".join(f"\n  {m.version:04d}_{m.name}" for m in applied))


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvloop

    uvloop.run(_migrate(settings))
    return 0
