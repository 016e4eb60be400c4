"""Benchmarks: each module prints JSON beside the ceiling it measured in the same run."""
