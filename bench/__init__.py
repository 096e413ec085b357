"""Benchmarks: `make bench` writes docs/benchmarks.md (see report.py)."""
