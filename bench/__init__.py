"""Benchmarks: each module measures one RPC family beside the ceiling of its layer, in the same run,
and prints JSON. `python -m bench [module ...]` runs them (all by default)."""
