"""Benchmark harness: `python -m bench` measures the app against the bare models it runs.

Writes BENCHMARKS.md (one table row per figure: target, measured ratio, median with min/max, notes)
and a PNG chart. Every figure is a ratio of medians measured in the same run, so it stays meaningful
on a noisy machine; nothing here is an absolute time threshold. See `python -m bench --help`.
"""
