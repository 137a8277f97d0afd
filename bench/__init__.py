"""Benchmarks, run on demand by `make bench` (never by the test suite)."""
