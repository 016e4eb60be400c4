"""How large a record and a relation walk may be. Read as `limits.NAME` where used, so one
setting holds everywhere (storage checks MAX_ENTRIES inside the commit's transaction)."""

from __future__ import annotations

MAX_ENTRIES = 200_000
MAX_PATH = 4096
MAX_MODE = 0o7777  # permission bits with setuid, setgid and sticky: what stat.S_IMODE keeps
MAX_RELATED = 10_000
MAX_RELATION_DEPTH = 64
