"""`artimeta-server serve | migrate | version`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from artimeta_server import __version__, logs, tokens_cli
from artimeta_server.config import ConfigError, Settings
from artimeta_server.ports import EXIT_PORT_IN_USE, PortInUse

log = logging.getLogger("artimeta")


def _run(coro: Coroutine[Any, Any, None]) -> None:
    import uvloop

    uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="artimeta-server", description="artimeta gRPC metadata server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve gRPC (settings from ARTIMETA_* variables)")
    serve.add_argument("--migrate", action="store_true", help="apply pending schema migrations first")
    serve.add_argument("--listen", help="host:port, overrides ARTIMETA_LISTEN")
    serve.add_argument("--workers", type=int, help="server processes on the one port, overrides ARTIMETA_WORKERS")
    # Set by `serve --workers N` on its own workers only: they share the ports it checked.
    serve.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    sub.add_parser("migrate", help="apply pending schema migrations and exit")
    tokens_cli.add_parser(sub)
    sub.add_parser("version", help="print the version")
    gc = sub.add_parser("gc", help="delete blobs nothing references (older than a grace period)")
    gc.add_argument("--dry-run", action="store_true", help="report what would be deleted, delete nothing")
    gc.add_argument("--grace-seconds", type=float, default=24 * 3600.0, help="keep blobs younger than this")
    gc.add_argument("--namespace", help="only this namespace")
    args = parser.parse_args(argv)

    if args.command == "version":
        print(__version__)
        return 0
    try:
        overrides: dict[str, Any] = {"listen": args.listen} if getattr(args, "listen", None) else {}
        if getattr(args, "workers", None):
            overrides["workers"] = args.workers
        settings = Settings.from_env(**overrides)
        if args.command == "serve":
            settings.validate_serving()
    except ConfigError as exc:
        print(f"artimeta-server: {exc}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level, json_lines=settings.log_json)

    if args.command == "migrate":
        from artimeta_server.storage import migrate

        async def run_migrate() -> None:
            applied = await migrate.migrate(settings.database_url)
            print(f"applied {len(applied)} migrations" + "".join(f"\n  {m.version:04d}_{m.name}" for m in applied))

        _run(run_migrate())
        return 0

    if args.command == "token":
        return tokens_cli.run(args, settings)

    if args.command == "gc":
        from artimeta_server.storage.gc import UnsafeGrace, check_grace, run_gc

        try:
            check_grace(args.grace_seconds)
        except UnsafeGrace as exc:
            print(f"artimeta-server gc: {exc}", file=sys.stderr)
            return 2
        _run(run_gc(settings, grace_s=args.grace_seconds, dry_run=args.dry_run, namespace=args.namespace))
        return 0

    if settings.workers > 1:
        from artimeta_server import workers

        try:
            return workers.run(settings, migrate_schema=args.migrate)
        except PortInUse as exc:
            print(f"artimeta-server: {exc}", file=sys.stderr)
            return EXIT_PORT_IN_USE

    from artimeta_server.app import SchemaOutOfDate, serve_forever
    from artimeta_server.memory import tune_malloc

    tune_malloc()

    try:
        _run(serve_forever(settings, migrate_schema=args.migrate, share_ports=args.worker))
    except SchemaOutOfDate as exc:
        log.error("%s", exc)
        return 3
    except PortInUse as exc:
        print(f"artimeta-server: {exc}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    return 0


if __name__ == "__main__":
    sys.exit(main())
