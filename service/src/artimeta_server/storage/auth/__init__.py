"""Bearer tokens in Postgres (hashes only)."""
