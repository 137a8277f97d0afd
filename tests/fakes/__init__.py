"""Fake messenger servers for the integration tests and benchmarks: real HTTP on 127.0.0.1."""
