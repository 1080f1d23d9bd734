"""Benchmarks; each records its figures in bench/README.md."""
