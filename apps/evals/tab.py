"""The Evaluate tab: a dataset and models → metrics with 95 % intervals, every example, the results file."""

from __future__ import annotations

import threading
from typing import Any

import gradio as gr
import pandas as pd

from apps.evals.evaluate import DEFAULT_LIMIT, EVAL_TASKS, MAX_LIMIT, evaluate
from apps.ui.components import FileInput, SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors

FORMATS = (
    "A `.csv` or `.jsonl` for text tasks; a `.zip` with `metadata.csv` (`file_name` + columns) for audio and "
    "image tasks. Columns: "
    + "; ".join(
        f"**{key}** {', '.join(('file_name',) * task.needs_files + task.columns)} → {', '.join(task.metrics)}"
        for key, task in EVAL_TASKS.items()
    )
)


def build_tab(ctx: TabContext) -> None:
    gr.Markdown(f"Measure models on your own data with each task's metric (bootstrap 95 % intervals). {FORMATS}")
    with gr.Row():
        with gr.Column(scale=2):
            task = gr.Dropdown(list(EVAL_TASKS), value="similarity", label="Task")
            dataset = FileInput(
                label="Dataset", file_types=[".csv", ".jsonl", ".zip"], type="filepath", elem_id="evals-dataset"
            )
        with gr.Column(scale=2):
            models = gr.Textbox(label="Models (one per line; empty: the task's model)", lines=3, placeholder="org/name")
            limit = SliderInput(1, MAX_LIMIT, value=DEFAULT_LIMIT, step=1, label="Rows (limit)")
            with gr.Row():
                button = gr.Button("Evaluate", variant="primary")
                stop = gr.Button("Stop", variant="stop", elem_id="evals-stop")
    metrics = gr.Dataframe(label="Metrics (95 % CI)", interactive=False, elem_id="evals-metrics")
    chart = gr.BarPlot(
        x="bar",
        y="value",
        color="model",
        label="Metrics by model",
        x_title="metric",
        y_title="value",
        x_label_angle=-30,
        sort=None,
        elem_id="evals-chart",
        visible=False,
    )
    examples = gr.Dataframe(label="Examples", interactive=False, wrap=True, elem_id="evals-examples")
    results = gr.File(label="Results (JSON)", interactive=False, elem_id="evals-results")
    gr.Examples(
        [[key, ctx.asset(f"evals/{spec.sample}")] for key, spec in EVAL_TASKS.items() if spec.task in ctx.specs],
        inputs=[task, dataset],
    )

    # A Stop press reaches the running evaluation through its browser session's event: it ends before the
    # next example and reports on the examples done (gradio's own cancel would drop those results).
    stops: dict[str, threading.Event] = {}

    @user_errors(ctx.spec.title)
    def run(
        task: str,
        dataset: Any,
        models: str,
        limit: float,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ):
        session = getattr(request, "session_hash", None) or ""
        stops[session] = event = threading.Event()
        try:
            result = evaluate(ctx, task, dataset, models, int(limit), progress, stop=event)
        finally:
            stops.pop(session, None)
        for warning in result.warnings[:5]:
            gr.Warning(warning)
        return result.metrics.round(4), result.examples, str(result.path)

    def stop_running(request: gr.Request) -> None:
        event = stops.get(getattr(request, "session_hash", None) or "")
        if event is None:
            gr.Info("No evaluation is running.")
            return
        event.set()
        gr.Info("Stopping after the current example…")

    def plotted(table: Any) -> Any:
        frame = pd.DataFrame(table) if not isinstance(table, pd.DataFrame) else table
        if frame.empty or "metric" not in frame:
            return gr.BarPlot(visible=False)
        frame = frame.dropna(subset=["value"]).assign(bar=lambda f: f["metric"] + " · " + f["model"].map(short_name))
        return gr.BarPlot(frame, visible=not frame.empty)

    button.click(run, [task, dataset, models, limit], [metrics, examples, results], api_name="evaluate").success(
        plotted, [metrics], [chart], api_visibility="private"
    )
    stop.click(stop_running, None, None, api_visibility="private")  # its own queue: it runs while run does


def short_name(model: str) -> str:
    """A model's name as a chart's axis shows it: a Hub id's or a folder's last part."""
    return str(model).rstrip("/").rsplit("/", 1)[-1] or str(model)
