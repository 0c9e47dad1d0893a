"""The Evaluate tab: a dataset and models → metrics with 95 % intervals, every example, the results file."""

from __future__ import annotations

from typing import Any

import gradio as gr

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
            button = gr.Button("Evaluate", variant="primary")
    metrics = gr.Dataframe(label="Metrics (95 % CI)", interactive=False, elem_id="evals-metrics")
    examples = gr.Dataframe(label="Examples", interactive=False, wrap=True, elem_id="evals-examples")
    results = gr.File(label="Results (JSON)", interactive=False, elem_id="evals-results")
    gr.Examples(
        [[key, ctx.asset(f"evals/{spec.sample}")] for key, spec in EVAL_TASKS.items() if key in ctx.specs],
        inputs=[task, dataset],
    )

    @user_errors(ctx.spec.title)
    def run(task: str, dataset: Any, models: str, limit: float, progress: gr.Progress = gr.Progress()):  # noqa: B008
        result = evaluate(ctx, task, dataset, models, int(limit), progress)
        for warning in result.warnings[:5]:
            gr.Warning(warning)
        return result.metrics.round(4), result.examples, str(result.path)

    button.click(run, [task, dataset, models, limit], [metrics, examples, results], api_name="evaluate")
