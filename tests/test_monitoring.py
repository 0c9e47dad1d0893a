"""The Monitoring tab's data: the bounded history the metrics keep, summarized per time bucket; metrics off."""

from __future__ import annotations

import time

import pytest

from apps.core.errors import InputError, ModelUnavailable
from apps.monitoring import dashboard as dashboard_module
from apps.monitoring.dashboard import Dashboard, quantile, summarize
from apps.monitoring.metrics import MAX_ERRORS, Call, Metrics

NOW = 1_700_000_005.0  # 5 s into a 10-second bucket


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """time.time() as the test sets it (the metrics stamp each finished request with it)."""
    moment = [NOW]
    monkeypatch.setattr(time, "time", lambda: moment[0])
    return moment


def series(points, name: str) -> list[float]:
    return [point.value for point in points if point.series == name]


def test_quantiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 21)]
    assert quantile(values, 0.5) == 10.0
    assert quantile(values, 0.95) == 19.0
    assert quantile([3.0], 0.95) == 3.0


def test_requests_latency_and_errors_per_bucket(clock: list[float]) -> None:
    metrics = Metrics()
    for n in range(1, 21):  # 20 good requests of 0.1 … 2.0 s in this bucket
        metrics.finish(Call("/similarity"), None, n / 10)
    metrics.finish(Call("/similarity", "req-1"), InputError("Type at least two sentences."), 0.01)
    clock[0] = NOW - 30  # three buckets earlier: one failed chat
    metrics.finish(Call("/chat", "req-2"), ModelUnavailable("Model x is not cached."), 0.5)
    clock[0] = NOW
    data = summarize(metrics, now=NOW, window_seconds=60, bucket_seconds=10)
    assert data.enabled and data.total_requests == 22 and data.total_errors == 2
    # Six buckets per series, idle ones as zeros; the newest bucket is last.
    assert series(data.requests, "/similarity") == [0, 0, 0, 0, 0, 2.1]
    assert series(data.requests, "/chat") == [0, 0, 0.1, 0, 0, 0]
    assert series(data.errors, "/similarity") == [0, 0, 0, 0, 0, 1]
    assert series(data.errors, "/chat") == [0, 0, 1, 0, 0, 0]
    # Latency only where there were requests: p50 and p95 of the 21 /similarity requests.
    assert series(data.latency, "/similarity p50") == [1.0]
    assert series(data.latency, "/similarity p95") == [1.9]
    assert series(data.latency, "/chat p95") == [0.5]
    newest, older = data.recent_errors
    assert (newest.endpoint, newest.outcome, newest.request_id) == ("/chat", "model_error", "req-2")
    assert newest.message == "Model x is not cached."
    assert (older.endpoint, older.outcome, older.request_id) == ("/similarity", "user_error", "req-1")


def test_history_outside_the_window_is_left_out(clock: list[float]) -> None:
    metrics = Metrics()
    clock[0] = NOW - 3600
    metrics.finish(Call("/similarity"), None, 0.1)
    clock[0] = NOW
    data = summarize(metrics, now=NOW, window_seconds=60, bucket_seconds=10)
    assert data.total_requests == 0 and data.requests == [] and data.latency == []


def test_the_error_table_is_bounded_and_keeps_no_inputs(clock: list[float]) -> None:
    metrics = Metrics()
    for n in range(MAX_ERRORS + 10):
        metrics.finish(Call("/translate", f"id-{n}"), InputError(f"Error number {n}."), 0.01)
    rows = summarize(metrics, now=NOW).recent_errors
    assert len(rows) == MAX_ERRORS
    assert rows[0].request_id == f"id-{MAX_ERRORS + 9}" and rows[-1].request_id == "id-10"
    assert set(vars(rows[0])) == {"time", "endpoint", "outcome", "message", "request_id"}


def test_model_events_and_memory(clock: list[float]) -> None:
    metrics = Metrics()

    class Manager:  # the two things the metrics read from a model manager
        def __init__(self) -> None:
            self.budget = 4_000_000
            self.loaders = {"similarity": None}
            self.listeners: list = []

        def snapshot(self) -> list[dict]:
            return [{"task": "similarity", "bytes": 1_000_000}]

    metrics.watch_manager(Manager())
    for action in ("load", "evict", "load", "unload"):  # an unload is not an eviction: not plotted
        metrics.on_model_event({"task": "similarity", "action": action, "time": NOW - 1, "load_seconds": 0.2})
    metrics.refresh()
    data = summarize(metrics, now=NOW, window_seconds=20, bucket_seconds=10)
    assert series(data.models, "load") == [0, 2] and series(data.models, "evict") == [0, 1]
    assert series(data.memory, "models") == [1_000_000]
    assert series(data.memory, "budget") == [4_000_000]
    assert series(data.memory, "process")[0] > 0


def test_metrics_off_shows_nothing_and_says_so(tiny_settings) -> None:
    from app import build_demo
    from apps import SPECS
    from apps.core.spec import TaskContext
    from apps.monitoring.tab import OFF, summary

    metrics = Metrics()
    metrics.finish(Call("/similarity"), None, 0.1)
    off = tiny_settings.model_copy(update={"metrics": False})
    data = dashboard_module.dashboard(TaskContext(SPECS["monitoring"], off, None, SPECS), metrics)  # type: ignore[arg-type]
    assert data == Dashboard(False, data.window_seconds, data.bucket_seconds)
    assert summary(data) == OFF and "Metrics are off" in OFF
    demo = build_demo(off)
    ticks = [fn for fn in demo.fns.values() if fn.fn is not None and fn.fn.__module__ == "apps.monitoring.tab"]
    timers = [target for fn in ticks for target, event in fn.targets if event == "tick"]
    assert len(timers) == 1 and not demo.blocks[timers[0]].active  # nothing to follow: no polling at all
    assert all(fn.api_visibility == "private" for fn in ticks)


def test_the_dashboard_reads_the_process_metrics_when_on(tiny_settings) -> None:
    from apps import SPECS
    from apps.core.spec import TaskContext
    from apps.monitoring.metrics import METRICS

    METRICS.finish(Call("/similarity", "from-test"), InputError("Type some text first."), 0.01)
    data = dashboard_module.dashboard(TaskContext(SPECS["monitoring"], tiny_settings, None, SPECS))  # type: ignore[arg-type]
    assert data.enabled and data.recent_errors[0].request_id == "from-test"
    assert data.total_errors >= 1 and any(point.series == "process" for point in data.memory)


def exposed_samples() -> set[str]:
    """Every sample name /metrics can serve (counters' `_total`, histograms' `_bucket`, `_count`, `_sum`)."""
    metrics = Metrics()
    return {
        name
        for family in metrics.registry.collect()
        for name in (
            {family.name + suffix for suffix in ("_total", "_created")}
            if family.type == "counter"
            else {family.name + suffix for suffix in ("_bucket", "_count", "_sum", "_created")}
            if family.type == "histogram"
            else {family.name}
        )
    }


def test_the_grafana_dashboard_queries_only_metrics_we_serve() -> None:
    import json
    import re

    from conftest import ROOT

    dashboard = json.loads((ROOT / "apps" / "monitoring" / "grafana-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for query in queries for name in re.findall(r"showcase_[a-z_]+", query)}
    assert used and used <= exposed_samples(), sorted(used - exposed_samples())
    readme = (ROOT / "README.md").read_text()
    for query in queries:
        assert f"`{query}`" in readme or query.replace("0.95", "0.5") in queries, f"README lacks the query {query}"


def test_readme_lists_every_metric() -> None:
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    for family in Metrics().registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{name}`" in readme, f"README's Monitoring table lacks {name}"
