"""Model finder tab: search the Hub by task, ranking and memory; estimate a model's memory; use a
found model in the tab that runs its task.

The task functions (`find_models`, `estimate_memory`) live in `apps/finder/task.py`, shared with the `find`
and `estimate` commands; this module turns their results into tables, lays out the tab and wires its events.
"""

from __future__ import annotations

import re
from typing import Any

import gradio as gr
import pandas as pd

from apps.core.errors import InputError
from apps.core.spec import TaskSpec
from apps.finder.estimate import ESTIMATE_COLUMNS, FORMULAS
from apps.finder.hub import (
    MAX_RESULTS,
    PRECISIONS,
    RESULT_COLUMNS,
    SORTS,
    TABLE_PRECISIONS,
    app_tags,
    hub_endpoint,
    tasks_for,
)
from apps.finder.memory import DEFAULT_BATCH, DEFAULT_CONTEXT, MAX_BATCH, MAX_CONTEXT
from apps.finder.task import FoundModels, MemoryEstimate, estimate_memory, find_models
from apps.ui.components import SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors

ORIGIN = "model finder (set at run time)"
LICENCES = ("any", "apache-2.0", "mit", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "openrail", "llama3.1", "gemma")
LIBRARIES = ("transformers", "sentence-transformers", "gguf", "any")
_LINK = re.compile(r"^\[([^\]]+)\]\(")
# Each results column's width in px, wide enough for its header and usual values in one piece; model
# ids, tasks and notes wrap within theirs. The table (about 1,600 px) scrolls sideways inside its box
# where it does not fit, instead of squeezing its headers letter by letter.
RESULT_WIDTHS = {
    "model": 230,
    "task": 180,
    "downloads": 100,
    "likes": 70,
    "parameters": 110,
    **dict.fromkeys((PRECISIONS[p] for p in TABLE_PRECISIONS), 90),
    "licence": 120,
    "updated": 110,
    "fits here": 70,
    "cached": 80,
    "note": 240,
}


def results_frame(found: FoundModels) -> pd.DataFrame:
    """The results table, model ids as links to their Hub pages."""
    frame = pd.DataFrame(found.rows, columns=list(found.columns))
    endpoint = hub_endpoint()
    frame["model"] = [f"[{model}]({endpoint}/{model})" for model in frame["model"]]
    return frame


def estimate_frame(result: MemoryEstimate) -> pd.DataFrame:
    """The memory table, one row per dtype."""
    return pd.DataFrame(result.rows, columns=list(result.columns))


def estimate_markdown(result: MemoryEstimate) -> str:
    """The parameter count, its source and the formulas the table uses."""
    return f"{result.summary}\n\n{FORMULAS}\n\n{result.plan_summary}".strip()


def use_in_tab(ctx: TabContext, model: str | None, task: str | None) -> str:
    """Make `model` the configured model of tab `task` (validated; remote code stays as configured)."""
    if not isinstance(model, str) or not model.strip():
        raise InputError("Pick a model from the results (or type a Hub id) first.")
    spec = ctx.specs.get(task or "")
    if spec is None or spec.load is None:
        raise InputError("Choose the tab that should use this model.")
    target = ctx.for_task(spec.key)
    # The tab's own rules: curated models, any Hub id if custom models are allowed, and local
    # folders only under SHOWCASE_LOCAL_MODEL_DIRS.
    ref = target.resolve_model(model_id(model))
    ctx.manager.selection.set(spec.key, ref, origin=ORIGIN)
    code = "" if ctx.manager.trust_remote_code else " Models that ship their own code will not run: remote code is off."
    return (
        f"**{spec.title}** now uses `{ref}`. It loads on its first use there (a model that does not fit "
        f"that task fails then with a message); the System tab shows the change, and the tab's header and "
        f"model picker show it after a page reload.{code}"
    )


def model_id(cell: str) -> str:
    """The model id in a results cell: `[org/name](url)` → `org/name`; anything else as typed."""
    match = _LINK.match(cell.strip())
    return match.group(1) if match else cell.strip()


def target_choices(frame: Any, model: str | None, specs: dict[str, TaskSpec]) -> tuple[list[tuple[str, str]], str]:
    """(tab choices, note) for a model: the tabs that run its Hub task, all tabs if its task is unknown."""
    model = model_id(model or "")
    tag = None
    if isinstance(frame, pd.DataFrame) and not frame.empty and "task" in frame:
        for cell, row_tag in zip(frame["model"], frame["task"], strict=True):
            if model_id(str(cell)) == model:
                tag = str(row_tag) or None
                break
    tasks = tasks_for(tag, specs)
    choices = [(f"{spec.title} ({spec.group})" if spec.group else spec.title, spec.key) for spec in tasks]
    if tag and not tasks:
        return [], f"No tab of this app runs `{tag}` models."
    return choices, "" if tag else "Its task is unknown here: choose the tab that fits it."


def _task_choices(ctx: TabContext) -> list[tuple[str, str]]:
    tags = [(f"{tag} — {', '.join(spec.title for spec in specs)}", tag) for tag, specs in app_tags(ctx.specs).items()]
    return [*tags, ("any task", "any")]


def build_tab(ctx: TabContext) -> None:
    gr.Markdown(f"## {ctx.spec.title}\n\n{ctx.spec.description}")
    choices = _task_choices(ctx)
    with gr.Row():
        task = gr.Dropdown(
            choices=choices,
            value=choices[0][1],
            label="Task",
            info="This app's tasks, or type any Hub pipeline tag.",
            allow_custom_value=True,
            scale=2,
        )
        text = gr.Textbox(label="Search", placeholder="part of the model id, e.g. MiniLM", scale=2)
        sort = gr.Dropdown(choices=[(label, key) for key, label in SORTS.items()], value="downloads", label="Sort")
    with gr.Row():
        max_memory = gr.Textbox(label="Max memory", placeholder="e.g. 4GB (empty: any)", max_lines=1)
        precision = gr.Dropdown(
            choices=[(label, name) for name, label in PRECISIONS.items()],
            value="float16",
            label="at precision",
            info="for the memory limit and “fits here”",
        )
        licence = gr.Dropdown(choices=list(LICENCES), value="any", label="Licence", allow_custom_value=True)
        library = gr.Dropdown(choices=list(LIBRARIES), value="transformers", label="Library", allow_custom_value=True)
        limit = SliderInput(1, MAX_RESULTS, value=20, step=1, label="Results")
    button = gr.Button("Find models", variant="primary")
    gr.Examples(
        [["sentence-similarity", "MiniLM", "1GB"], ["text-generation", "SmolLM2", "4GB"], ["any", "whisper", ""]],
        inputs=[task, text, max_memory],
    )
    summary = gr.Markdown(label="Summary", elem_id="finder-summary")
    table = gr.Dataframe(
        headers=RESULT_COLUMNS,
        datatype=["markdown", *["str"] * (len(RESULT_COLUMNS) - 1)],
        label="Models (inference memory ≈ weights × 1.2; click a row to pick it)",
        interactive=False,
        wrap=True,
        column_widths=[f"{RESULT_WIDTHS[column]}px" for column in RESULT_COLUMNS],
        elem_id="finder-results",
    )
    with gr.Row(equal_height=True):
        pick = gr.Dropdown(choices=[], label="Model", allow_custom_value=True, scale=2, elem_id="finder-pick")
        target = gr.Dropdown(choices=[], label="Use in tab", scale=2, elem_id="finder-target")
        use = gr.Button("Use in tab", scale=1)
    used = gr.Markdown(elem_id="finder-used")
    with gr.Accordion("Estimate memory", open=True):
        with gr.Row(equal_height=True):
            model = gr.Textbox(
                label="Model",
                placeholder="a Hub id (org/name) or a local folder",
                scale=3,
                elem_id="finder-estimate-model",
            )
            estimate_button = gr.Button("Estimate", scale=1)
        with gr.Row():
            context_length = SliderInput(
                1, MAX_CONTEXT, value=DEFAULT_CONTEXT, step=1, label="Context length", info="tokens, for the KV cache"
            )
            batch_size = SliderInput(1, MAX_BATCH, value=DEFAULT_BATCH, step=1, label="Batch size")
        gr.Examples([[spec.default.id] for spec in ctx.specs.values() if spec.default][:3], inputs=[model])
        estimate_text = gr.Markdown(label="Estimate", elem_id="finder-estimate")
        estimate_table = gr.Dataframe(headers=ESTIMATE_COLUMNS, interactive=False, label="Memory by dtype")

    @user_errors(ctx.spec.title)
    def run_find(
        task: str,
        query: str,
        sort: str,
        max_memory: str,
        precision: str,
        licence: str,
        library: str,
        limit: float,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[pd.DataFrame, str]:
        found = find_models(ctx, task, query, sort, max_memory, precision, licence, library, limit, progress)
        return results_frame(found), found.summary

    @user_errors(ctx.spec.title)
    def run_estimate(
        model: str,
        context_length: float = DEFAULT_CONTEXT,
        batch_size: float = DEFAULT_BATCH,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[pd.DataFrame, str]:
        result = estimate_memory(ctx, model, progress, context_length=context_length, batch_size=batch_size)
        return estimate_frame(result), estimate_markdown(result)

    @user_errors(ctx.spec.title)
    def run_use(model_text: str, task_key: str) -> str:
        return use_in_tab(ctx, model_text, task_key)

    def fill_pick(frame: pd.DataFrame) -> dict[str, Any]:
        ids = [model_id(str(cell)) for cell in frame["model"]] if isinstance(frame, pd.DataFrame) else []
        ids = [model for model in ids if model]
        return gr.Dropdown(choices=ids, value=ids[0] if ids else None)

    def fill_target(frame: pd.DataFrame, model_text: str) -> tuple[dict[str, Any], str]:
        options, note = target_choices(frame, model_text, dict(ctx.specs))
        return gr.Dropdown(choices=options, value=options[0][1] if options else None, info=note), ""

    def label_use(task_key: str) -> dict[str, Any]:
        spec = ctx.specs.get(task_key or "")
        return gr.Button(value=f"Use in {spec.title}" if spec else "Use in tab")

    def pick_row(frame: pd.DataFrame, evt: gr.SelectData) -> tuple[str, str]:
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        chosen = model_id(str(frame["model"].iloc[row]))
        return chosen, chosen

    inputs = [task, text, sort, max_memory, precision, licence, library, limit]
    found = gr.on([button.click, text.submit], run_find, inputs, [table, summary], api_name="find_models")
    found.then(fill_pick, table, pick, api_visibility="private")
    pick.change(fill_target, [table, pick], [target, used], api_visibility="private")
    target.change(label_use, target, use, api_visibility="private")
    table.select(pick_row, table, [pick, model], api_visibility="private")
    use.click(run_use, [pick, target], used, api_visibility="private")
    gr.on(
        [estimate_button.click, model.submit],
        run_estimate,
        [model, context_length, batch_size],
        [estimate_table, estimate_text],
        api_name="estimate_memory",
    )
