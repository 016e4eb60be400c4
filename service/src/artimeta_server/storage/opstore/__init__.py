"""chariots' op store in Postgres."""
