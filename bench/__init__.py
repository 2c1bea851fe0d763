"""Benchmarks. Run with `make bench` (or `python -m bench.run [NAME ...]`); never part of `make test`."""
