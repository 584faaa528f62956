"""Benchmarks: `make bench` writes bench/results/*.json and *.md; README summarises them."""
