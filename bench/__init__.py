"""Benchmarks for the figures in DESIGN.md ("Performance targets"): `python -m bench.run [--quick]`."""
