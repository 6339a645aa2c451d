"""Benchmarks for the figures in docs/DESIGN.md ("Performance targets"): `python -m bench.run [--quick]`."""
