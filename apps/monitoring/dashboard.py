"""What the Monitoring tab shows, read from the metrics' bounded history (no gradio here).

`dashboard(ctx)` answers one typed `Dashboard`: per time bucket of the last minutes, requests/s and
p50/p95 latency per endpoint, errors, memory against the budget, model loads and evictions; and the last
errors (time, endpoint, outcome, message, request id: never a request's inputs). It reads the in-process
history that `Metrics` keeps beside its Prometheus counters (deques of bounded length), so a refresh costs
one pass over at most `MAX_SAMPLES` tuples whatever the traffic.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from apps.core.spec import TaskContext
from apps.monitoring.metrics import METRICS, Metrics

WINDOW_SECONDS = 600  # the plots' last ten minutes…
BUCKET_SECONDS = 10  # …in ten-second steps: 60 points per series


@dataclass(frozen=True)
class Point:
    """One value of one plotted series at the start of its bucket (`time`: seconds since the epoch)."""

    time: float
    series: str
    value: float


@dataclass(frozen=True)
class ErrorRow:
    """One failed request, as the errors table shows it: what failed and why, never what was sent."""

    time: float
    endpoint: str
    outcome: str
    message: str
    request_id: str


@dataclass(frozen=True)
class Dashboard:
    """The Monitoring tab's data: a series per plot, the last errors (newest first) and totals."""

    enabled: bool  # False when SHOWCASE_METRICS=false: nothing is counted, every list is empty
    window_seconds: int
    bucket_seconds: int
    requests: list[Point] = field(default_factory=list)  # requests/s, one series per endpoint
    latency: list[Point] = field(default_factory=list)  # seconds, series "ENDPOINT p50" and "ENDPOINT p95"
    errors: list[Point] = field(default_factory=list)  # failed requests per bucket, one series per endpoint
    memory: list[Point] = field(default_factory=list)  # bytes: "models", "budget" (when set), "process"
    models: list[Point] = field(default_factory=list)  # loads and evictions per bucket: "load", "evict"
    recent_errors: list[ErrorRow] = field(default_factory=list)
    total_requests: int = 0  # in the window
    total_errors: int = 0  # in the window
    start: float = 0.0  # the window's first bucket (seconds since the epoch)
    end: float = 0.0  # when it was read

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quantile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile of a sorted, non-empty list (p95 of 20 values is the 19th)."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def summarize(
    metrics: Metrics,
    *,
    enabled: bool = True,
    now: float | None = None,
    window_seconds: int = WINDOW_SECONDS,
    bucket_seconds: int = BUCKET_SECONDS,
) -> Dashboard:
    """The dashboard of `metrics`' history in the `window_seconds` before `now`, in `bucket_seconds` steps."""
    if not enabled:
        return Dashboard(False, window_seconds, bucket_seconds)
    now = time.time() if now is None else now
    last = math.floor(now / bucket_seconds) * bucket_seconds  # the bucket `now` falls in
    buckets = [last - step * bucket_seconds for step in range(window_seconds // bucket_seconds - 1, -1, -1)]
    start = buckets[0]

    def bucket_of(moment: float) -> float:
        return math.floor(moment / bucket_seconds) * bucket_seconds

    # Snapshots: copying a deque is one C call, so other threads' appends cannot interleave with it.
    samples = [s for s in tuple(metrics.samples) if start <= s[0] <= now]
    counts: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    failed: dict[str, dict[float, int]] = defaultdict(lambda: defaultdict(int))
    seconds: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for moment, endpoint, outcome, took in samples:
        bucket = bucket_of(moment)
        counts[endpoint][bucket] += 1
        seconds[endpoint][bucket].append(took)
        if outcome != "ok":
            failed[endpoint][bucket] += 1
    requests = [
        Point(bucket, endpoint, counts[endpoint][bucket] / bucket_seconds)
        for endpoint in sorted(counts)
        for bucket in buckets  # idle buckets as zeros: a line that drops, not one that skips the gap
    ]
    errors = [Point(bucket, endpoint, failed[endpoint][bucket]) for endpoint in sorted(counts) for bucket in buckets]
    latency = []
    for endpoint in sorted(seconds):
        for bucket in buckets:
            took = sorted(seconds[endpoint].get(bucket, ()))
            if took:  # no request, no latency: a gap rather than a made-up zero
                latency.append(Point(bucket, f"{endpoint} p50", quantile(took, 0.5)))
                latency.append(Point(bucket, f"{endpoint} p95", quantile(took, 0.95)))
    events: dict[str, dict[float, int]] = {"load": defaultdict(int), "evict": defaultdict(int)}
    for moment, action, _task in tuple(metrics.model_events):
        if start <= moment <= now and action in events:
            events[action][bucket_of(moment)] += 1
    models = [Point(bucket, action, events[action][bucket]) for action in events for bucket in buckets]
    latest_memory: dict[float, tuple[float, int, int | None, int]] = {}
    for sample in tuple(metrics.memory):
        if start <= sample[0] <= now:
            latest_memory[bucket_of(sample[0])] = sample  # the bucket's last reading
    memory = []
    for bucket, (_moment, used, budget, rss) in sorted(latest_memory.items()):
        memory.append(Point(bucket, "models", used))
        if budget:
            memory.append(Point(bucket, "budget", budget))
        memory.append(Point(bucket, "process", rss))
    recent = [ErrorRow(**row) for row in reversed(tuple(metrics.errors))]
    return Dashboard(
        True,
        window_seconds,
        bucket_seconds,
        requests,
        latency,
        errors,
        memory,
        models,
        recent,
        total_requests=len(samples),
        total_errors=sum(1 for sample in samples if sample[2] != "ok"),
        start=start,
        end=now,
    )


def dashboard(ctx: TaskContext, metrics: Metrics = METRICS) -> Dashboard:
    """The process's dashboard now: requests, latency, errors, memory and model events of the last minutes."""
    enabled = ctx.settings.metrics
    if enabled:
        newest = metrics.memory[-1][0] if metrics.memory else 0.0
        if time.time() - newest >= BUCKET_SECONDS / 2:  # one memory reading per half bucket is plenty
            metrics.refresh()
    return summarize(metrics, enabled=enabled)
