"""`artimeta-server serve [--migrate] [--listen host:port] [--workers N]`: one server process until
SIGTERM or SIGINT, or N of them on one port (workers.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from artimeta_server.config import Settings
from artimeta_server.ports import EXIT_PORT_IN_USE, PortInUse

log = logging.getLogger("artimeta.app")

# The exit code of a server whose database schema is behind its code.
EXIT_SCHEMA_OUT_OF_DATE = 3


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve gRPC (settings from ARTIMETA_* variables)")
    serve.add_argument("--migrate", action="store_true", help="apply pending schema migrations first")
    serve.add_argument("--listen", help="host:port, overrides ARTIMETA_LISTEN")
    serve.add_argument("--workers", type=int, help="server processes on the one port, overrides ARTIMETA_WORKERS")
    # Set by `serve --workers N` on its own workers only: they share the ports it checked.
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command line overrides (over the ARTIMETA_* variables)."""
    found: dict[str, Any] = {}
    if args.listen:
        found["listen"] = args.listen
    if args.workers:
        found["workers"] = args.workers
    return found


async def serve_forever(settings: Settings, *, migrate_schema: bool, share_ports: bool = False) -> None:
    from artimeta_server.server import Server

    server = Server(settings, share_ports=share_ports)
    await server.start(migrate_schema=migrate_schema)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    await server.stop()


def run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.workers > 1:
        from artimeta_server.commands import workers

        try:
            return workers.run(settings, migrate_schema=args.migrate)
        except PortInUse as exc:
            print(f"artimeta-server: {exc}", file=sys.stderr)
            return EXIT_PORT_IN_USE

    import uvloop

    from artimeta_server.memory import tune_malloc
    from artimeta_server.server import SchemaOutOfDate

    tune_malloc()
    try:
        uvloop.run(serve_forever(settings, migrate_schema=args.migrate, share_ports=args.worker))
    except SchemaOutOfDate as exc:
        log.error("%s", exc)
        return EXIT_SCHEMA_OUT_OF_DATE
    except PortInUse as exc:
        print(f"artimeta-server: {exc}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    return 0
