"""Benchmarks run with `make bench-...`; each starts what it measures and stops it again."""
