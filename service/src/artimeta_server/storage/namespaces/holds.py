"""How writers to tables without a foreign key to namespaces keep the namespace alive meanwhile."""

from __future__ import annotations

# Tables keyed by namespace_id without a foreign key to namespaces (bulk-written: a per-row key
# costs what the write itself costs). A namespace's deletion deletes their rows in the same
# transaction; every other table cascades from the key.
UNREFERENCING_TABLES = ("arti_storage_partitions", "arti_snapshot_partitions")

# What the foreign key did for those tables: a writer holds its namespace (shared) for its
# transaction and then checks that the namespace still exists; a deletion takes the same lock
# exclusively before it deletes their rows, so it waits for every writer that saw the namespace
# and every later writer sees it gone. An advisory lock rather than a row lock on namespaces:
# on Citus, namespaces is a reference table, and row locks on it from concurrent writers
# deadlock across its placements. The two-integer form keeps these keys apart from the others
# (a collision of ids modulo 2^31 only makes one wait for the other).
_LOCK_CLASS = 0x6E73  # "ns"
HOLD_NAMESPACE = f"SELECT pg_advisory_xact_lock_shared({_LOCK_CLASS}, ($1::bigint % 2147483647)::int)"
NAMESPACE_EXISTS = "SELECT EXISTS (SELECT 1 FROM namespaces WHERE id = $1)"
CLAIM_NAMESPACE = f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, ($1::bigint % 2147483647)::int)"
