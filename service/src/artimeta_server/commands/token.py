"""`artimeta-server token create | list | revoke`: bearer tokens managed straight in Postgres by
whoever holds the database credentials (the operators). A token is printed once; only its
hash is kept."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from artimeta_server.config import Settings
from artimeta_server.domain.auth.models import ALL_NAMESPACES, Role, StoredToken
from artimeta_server.domain.auth.service import Tokens
from artimeta_server.domain.errors import DomainError

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_parser(sub: Any) -> None:
    token = sub.add_parser("token", help="manage bearer tokens (needs ARTIMETA_DATABASE_URL)")
    tsub = token.add_subparsers(dest="token_command", required=True)
    create = tsub.add_parser("create", help="create a token and print it once")
    create.add_argument("--namespace", required=True, help=f"a namespace name, or {ALL_NAMESPACES!r} for all")
    create.add_argument("--role", required=True, choices=[r.label for r in Role])
    create.add_argument("--expires", help="a duration (90d, 12h, 30m) or an ISO-8601 time")
    create.add_argument("--description", default="")
    lst = tsub.add_parser("list", help="list tokens (never their secrets)")
    lst.add_argument("--namespace", help=f"only this namespace ({ALL_NAMESPACES!r}: the all-namespace tokens)")
    lst.add_argument("--json", action="store_true")
    revoke = tsub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id")


def parse_expiry(text: str, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    m = _DURATION.match(text.strip())
    if m:
        return now + timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--expires wants a duration like 90d or an ISO time, not {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _describe(t: StoredToken) -> dict[str, Any]:
    def iso(d: datetime | None) -> str | None:
        return d.isoformat() if d else None

    return {
        "id": t.id,
        "namespace": t.namespace if t.namespace is not None else "(deleted)",
        "role": t.role.label,
        "description": t.description,
        "created": iso(t.create_time),
        "expires": iso(t.expire_time),
        "revoked": iso(t.revoke_time),
    }


async def _manage(args: argparse.Namespace, settings: Settings) -> int:
    from artimeta_server.storage.auth.repository import PostgresTokens
    from artimeta_server.storage.postgres import Database

    db = Database(settings.database_url, min_size=0, max_size=1, acquire_timeout_s=10, statement_timeout_s=30)
    await db.open()
    try:
        tokens = Tokens(PostgresTokens(db))
        if args.token_command == "create":
            expires = parse_expiry(args.expires) if args.expires else None
            issued = await tokens.create(
                args.namespace, Role.parse(args.role), expire_time=expires, description=args.description
            )
            print(issued.token)
            print(
                f"token {issued.stored.id}: {args.role} on {args.namespace}"
                + (f", expires {expires.isoformat()}" if expires else "")
                + " (shown once; store it now)",
                file=sys.stderr,
            )
        elif args.token_command == "list":
            found = [_describe(t) for t in await tokens.list(args.namespace)]
            if args.json:
                print(json.dumps(found, indent=2))
            else:
                print(f"{'ID':16}  {'NAMESPACE':24}  {'ROLE':6}  {'EXPIRES':25}  {'REVOKED':25}  DESCRIPTION")
                for t in found:
                    print(
                        f"{t['id']:16}  {t['namespace']:24}  {t['role']:6}  {t['expires'] or '-':25}  "
                        f"{t['revoked'] or '-':25}  {t['description']}"
                    )
        else:
            await tokens.revoke(args.id)
            print(f"revoked {args.id}", file=sys.stderr)
    finally:
        await db.close()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvloop

    try:
        return uvloop.run(_manage(args, settings))
    except (DomainError, ValueError) as exc:
        print(f"artimeta-server token: {exc}", file=sys.stderr)
        return 2
