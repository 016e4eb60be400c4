"""Benchmarks: `python -m bench [name ...]`, each module printing one JSON document."""
