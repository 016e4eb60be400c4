"""Writes README.md's retry table from the proto's artimeta.v1.retry method options (read through
the Python client's descriptors), or with --check fails when README.md differs from it."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from artimeta import retries

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- retry-table:begin (scripts/retry-table.py) -->", "<!-- retry-table:end -->"
MEANING = {
    retries.READ: "read: retried on UNAVAILABLE",
    retries.IDEMPOTENT: "idempotent write: retried on UNAVAILABLE",
    retries.REQUEST_ID: "mutation with `request_id`: retried with the same id",
    retries.NONE: "not retried",
}


def table() -> str:
    rows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path, cls in retries.retry_classes().items():
        service, _, method = path.lstrip("/").rpartition("/")
        rows[(service.rpartition(".")[2], cls)].append(method)
    order = list(MEANING)
    lines = ["| service | retry class | RPCs |", "|---|---|---|"]
    for (service, cls), methods in sorted(rows.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        lines.append(f"| {service} | {MEANING[cls]} | {', '.join(sorted(methods))} |")
    return "\n".join(lines)


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        raise SystemExit(f"README.md has no {BEGIN} marker")
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> None:
    text = README.read_text()
    new = render(text)
    if "--check" in sys.argv:
        if new != text:
            raise SystemExit("README.md's retry table is out of date: run `make proto`")
        return
    README.write_text(new)


if __name__ == "__main__":
    main()
