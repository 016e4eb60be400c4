"""Namespaces in Postgres: the rows, their tombstones, and the hold writers take on them."""
