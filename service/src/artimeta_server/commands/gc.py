"""`artimeta-server gc [--dry-run] [--grace-seconds S] [--namespace NAME]`: deletes the blobs nothing
references (the rules and the SQL are storage/gc.py's), forgets expired request ids, and prints
the report as one JSON object."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from artimeta_server.config import Settings


def add_parser(sub: Any) -> None:
    gc = sub.add_parser("gc", help="delete blobs nothing references (older than a grace period)")
    gc.add_argument("--dry-run", action="store_true", help="report what would be deleted, delete nothing")
    # No default here: storage/gc.py's DEFAULT_GRACE_S is read when the command runs, so that
    # parsing the command line loads no driver.
    gc.add_argument("--grace-seconds", type=float, help="keep blobs younger than this (default: one day)")
    gc.add_argument("--namespace", help="only this namespace")


async def run_gc(settings: Settings, *, grace_s: float, dry_run: bool, namespace: str | None) -> None:
    """Builds the stores from settings, collects, prints the report as JSON."""
    from artimeta_server.app import build_domain
    from artimeta_server.storage.gc import check_grace, collect

    check_grace(grace_s)
    domain = await build_domain(settings)
    try:
        report = await collect(domain.db, domain.blob_store, grace_s=grace_s, dry_run=dry_run, namespace=namespace)
        if not dry_run:
            report.request_ids_forgotten = await domain.request_ids.forget_expired()
    finally:
        await domain.changes.close()
        await domain.db.close()
        domain.blob_store.close()
    print(json.dumps(report.as_dict(), sort_keys=True))


def run(args: argparse.Namespace, settings: Settings) -> int:
    import uvloop

    from artimeta_server.storage.gc import DEFAULT_GRACE_S, UnsafeGrace, check_grace

    grace_s = DEFAULT_GRACE_S if args.grace_seconds is None else args.grace_seconds
    try:
        check_grace(grace_s)
    except UnsafeGrace as exc:
        print(f"artimeta-server gc: {exc}", file=sys.stderr)
        return 2
    uvloop.run(run_gc(settings, grace_s=grace_s, dry_run=args.dry_run, namespace=args.namespace))
    return 0
