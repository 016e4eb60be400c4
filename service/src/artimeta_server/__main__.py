"""`artimeta-server serve | migrate | gc | token | version`: parses the command line, reads the
settings, and hands them to the command's module in commands/."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from artimeta_server import __version__, logs
from artimeta_server.commands import gc, migrate, serve, token
from artimeta_server.config import ConfigError, Settings

# The exit code of a command given settings it cannot use.
EXIT_BAD_SETTINGS = 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="artimeta-server", description="artimeta gRPC metadata server")
    sub = top.add_subparsers(dest="command", required=True)
    serve.add_parser(sub)
    migrate.add_parser(sub)
    token.add_parser(sub)
    sub.add_parser("version", help="print the version")
    gc.add_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    try:
        overrides: dict[str, Any] = serve.overrides(args) if args.command == "serve" else {}
        settings = Settings.from_env(**overrides)
        if args.command == "serve":
            settings.validate_serving()
    except ConfigError as exc:
        print(f"artimeta-server: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    logs.setup(settings.log_level, json_lines=settings.log_json)
    commands = {"serve": serve.run, "migrate": migrate.run, "gc": gc.run, "token": token.run}
    return commands[args.command](args, settings)


if __name__ == "__main__":
    sys.exit(main())
