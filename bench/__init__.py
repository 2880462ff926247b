"""Benchmarks: ``make bench`` runs every ``bench/bench_*.py`` and prints figures measured side by side."""
