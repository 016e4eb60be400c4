"""Benchmarks: each measures an artimeta RPC family beside the ceiling of its layer, in the same
run on the same machine, and prints JSON. Run all with `python -m bench`, one with
`python -m bench <name>`."""
