"""Benchmarks (plain scripts: ``python bench/cycle_bench.py``, ``python bench/incentives_bench.py``)."""
