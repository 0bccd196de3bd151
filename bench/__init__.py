"""Benchmarks: `python -m bench` prints a table of figures and writes it to BENCHMARKS.md."""
