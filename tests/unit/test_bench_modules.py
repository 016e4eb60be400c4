"""Benchmarks run by hand, not in the suite: at least each must import, so a helper renamed in
one module cannot leave another broken until someone measures."""

import importlib

import pytest

from bench.__main__ import available


@pytest.mark.parametrize("name", available())
def test_benchmark_module_imports_and_has_main(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.main)
