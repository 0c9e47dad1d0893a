"""Pipelines: chain tasks into your own app (the format, its checks, running, the tab, serving one alone)."""
