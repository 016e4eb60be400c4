"""Paged lists of redun executions and chariots ops in Postgres."""
