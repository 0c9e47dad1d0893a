"""The Monitoring tab: live plots of requests, latency, errors, memory and model events, the last errors.

It renders `dashboard.dashboard(ctx)`; a `gr.Timer` refreshes it while "Live" is on. Its events are private:
they are the page's, not the API's, and the request counter does not count them (apps/monitoring/gradio_hook).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import gradio as gr
import pandas as pd

from apps.core.weights import format_bytes
from apps.monitoring.dashboard import Dashboard, Point, dashboard
from apps.ui.context import TabContext

REFRESH_SECONDS = 5.0
ERROR_COLUMNS = ["time", "endpoint", "outcome", "message", "request id"]
PRIVATE: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
OFF = (
    "**Metrics are off** (`SHOWCASE_METRICS=false`): nothing is counted, so there is nothing to plot. "
    "Unset it, or set it to `true`, and restart to see the app's requests here and at `/metrics`."
)


def frame(points: list[Point], scale: float = 1.0) -> pd.DataFrame:
    """A plot's rows: local time, series and value (divided by `scale`, e.g. bytes → MB).

    Typed columns even when empty: the plot takes its axes' kinds (temporal, nominal) from the first
    value it gets, and an empty frame of untyped columns would make every axis a number for good.
    """
    return pd.DataFrame(
        {
            "time": pd.Series([dt.datetime.fromtimestamp(point.time) for point in points], dtype="datetime64[us]"),
            "series": pd.Series([point.series for point in points], dtype=str),
            "value": pd.Series([point.value / scale for point in points], dtype=float),
        }
    )


# One colour per series, in the order the series are named (Tableau 10).
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def plotted(
    kind: type[gr.LinePlot] | type[gr.BarPlot], data: Dashboard, points: list[Point], scale: float = 1.0
) -> Any:
    """The plot's update: its rows, a colour per series, and the window as the time axis's range.

    The range moves with every refresh, which is what makes the page redraw the chart rather than only
    swap its rows: a chart keeps the series it was first drawn with (none, on an idle server) and would
    leave a series that appears later without a colour, so invisible. The colours stay the same per name.
    """
    names = sorted({point.series for point in points})
    colours = {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}
    return kind(value=frame(points, scale), color_map=colours, x_lim=[data.start, data.end])


def error_table(data: Dashboard) -> pd.DataFrame:
    rows = [
        [
            dt.datetime.fromtimestamp(row.time).strftime("%H:%M:%S"),
            row.endpoint,
            row.outcome,
            row.message,
            row.request_id,
        ]
        for row in data.recent_errors
    ]
    return pd.DataFrame(rows, columns=ERROR_COLUMNS)


def summary(data: Dashboard) -> str:
    if not data.enabled:
        return OFF
    memory = [point for point in data.memory if point.series in ("models", "budget")]
    latest = {point.series: point.value for point in memory}
    budget = f" of a budget of {format_bytes(int(latest['budget']))}" if "budget" in latest else " (no budget)"
    used = f" · **models:** {format_bytes(int(latest['models']))}{budget}" if "models" in latest else ""
    minutes = data.window_seconds // 60
    return (
        f"**Last {minutes} minutes:** {data.total_requests} requests, {data.total_errors} failed{used} · "
        f"in {data.bucket_seconds}-second steps; the full counters are at `/metrics`."
    )


def build_tab(ctx: TabContext) -> None:
    gr.Markdown(f"## {ctx.spec.title}\n\n{ctx.spec.description}")
    line = gr.Markdown(elem_id="monitoring-summary")
    with gr.Row():
        live = gr.Checkbox(value=ctx.settings.metrics, label=f"Live (every {REFRESH_SECONDS:g} s)", scale=3)
        refresh = gr.Button("Refresh", variant="primary", scale=1)
    plot: dict[str, Any] = {"x": "time", "y": "value", "color": "series", "x_title": "time"}
    with gr.Row():
        requests = gr.LinePlot(label="Requests per second", y_title="requests/s", elem_id="monitoring-requests", **plot)
        latency = gr.LinePlot(label="Latency p50 / p95", y_title="seconds", elem_id="monitoring-latency", **plot)
    with gr.Row():
        errors = gr.BarPlot(label="Failed requests", y_title="requests", elem_id="monitoring-errors-plot", **plot)
        memory = gr.LinePlot(label="Memory against the budget", y_title="MB", elem_id="monitoring-memory", **plot)
    models = gr.BarPlot(label="Model loads and evictions", y_title="models", elem_id="monitoring-models", **plot)
    table = gr.Dataframe(
        headers=ERROR_COLUMNS,
        interactive=False,
        wrap=True,
        label="Last 50 errors (newest first; what failed and why, never what was sent)",
        column_widths=["10%", "16%", "12%", "44%", "18%"],
        elem_id="monitoring-errors",
    )
    timer = gr.Timer(REFRESH_SECONDS, active=ctx.settings.metrics)
    outputs = [line, requests, latency, errors, memory, models, table]

    def render() -> tuple[Any, ...]:
        data = dashboard(ctx)
        return (
            summary(data),
            plotted(gr.LinePlot, data, data.requests),
            plotted(gr.LinePlot, data, data.latency),
            plotted(gr.BarPlot, data, data.errors),
            plotted(gr.LinePlot, data, data.memory, 1e6),
            plotted(gr.BarPlot, data, data.models),
            error_table(data),
        )

    timer.tick(render, None, outputs, **PRIVATE)
    refresh.click(render, None, outputs, **PRIVATE)
    # Nothing to follow with metrics off: the timer stays off whatever the box says.
    live.change(lambda on: gr.Timer(active=bool(on) and ctx.settings.metrics), live, timer, **PRIVATE)
    ctx.on_page_load(render, outputs)
