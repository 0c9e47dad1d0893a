"""System tab: per task, its configured model, state and memory; the process and its budget."""

from __future__ import annotations

import os
import platform
from typing import Any

import gradio as gr
import pandas as pd

from apps.core.weights import format_bytes
from apps.ui.context import TabContext
from apps.ui.errors import user_errors


def process_rss() -> int:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


def status(ctx: TabContext) -> dict[str, Any]:
    """Every task's configured model and its state, plus process memory and the budget."""
    manager = ctx.manager
    tasks: dict[str, Any] = {}
    for key, spec in ctx.specs.items():
        if spec.load is None:
            continue
        ref = manager.selection.get(key)
        row = manager.state_of(key, ref) or {}
        tasks[key] = {
            "title": spec.title,
            "model": str(ref),
            "origin": manager.selection.origin(key),
            "state": row.get("state", "not loaded"),
            "bytes": row.get("bytes", 0),
            "device": row.get("device", ""),
            "dtype": row.get("dtype", ""),
            "in_use": row.get("in_use", 0),
            "error": row.get("error", ""),
        }
    budget = manager.budget
    return {
        "tasks": tasks,
        "loaded": manager.snapshot(),
        "process": {
            "rss_bytes": process_rss(),
            "models_bytes": manager.used_bytes(),
            "budget_bytes": budget,
            "device": manager.device,
            "offline": manager.offline,
            "trust_remote_code": manager.trust_remote_code,
            "python": platform.python_version(),
        },
        "events": list(manager.events)[-20:],
    }


def status_table(data: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "task": info["title"],  # the tab's name; /status keeps the task keys
            "model": info["model"],
            "set by": info["origin"],
            "state": info["state"],
            "memory": format_bytes(info["bytes"]) if info["bytes"] else "",
            "device": info["device"],
            "error": info["error"],
        }
        for key, info in data["tasks"].items()
    ]
    return pd.DataFrame(rows, columns=["task", "model", "set by", "state", "memory", "device", "error"])


def process_markdown(data: dict[str, Any]) -> str:
    process = data["process"]
    budget = process["budget_bytes"]
    budget_text = format_bytes(budget) if budget else "no limit"
    evictions = sum(1 for event in data["events"] if event["action"] == "evict")
    return (
        f"**Process memory (RSS):** {format_bytes(process['rss_bytes'])} · "
        f"**models:** {format_bytes(process['models_bytes'])} of a budget of {budget_text} · "
        f"**device:** {process['device']} · **offline:** {'yes' if process['offline'] else 'no'} · "
        f"**recent evictions:** {evictions}"
    )


def build_tab(ctx: TabContext) -> None:
    gr.Markdown(f"## {ctx.spec.title}\n\n{ctx.spec.description}")
    summary = gr.Markdown()
    table = gr.Dataframe(
        interactive=False,
        wrap=True,
        label="Tasks and their models",
        # task, model, set by, state, memory, device, error: short columns keep their words whole
        column_widths=["15%", "27%", "16%", "10%", "11%", "8%", "13%"],
        elem_id="system-table",
    )
    with gr.Row():
        task = gr.Dropdown(
            choices=[(spec.title, key) for key, spec in ctx.specs.items() if spec.load is not None],
            label="Task",
            scale=2,
        )
        load = gr.Button("Load")
        unload = gr.Button("Unload")
        unload_all = gr.Button("Unload all idle")
        refresh = gr.Button("Refresh", variant="primary")
    message = gr.Markdown(elem_id="system-message")
    with gr.Accordion("Raw status (the /status API)", open=False):
        raw = gr.JSON(label="Status", elem_id="system-status")

    def render(data: dict[str, Any]) -> tuple[pd.DataFrame, str]:
        return status_table(data), process_markdown(data)

    @user_errors("Loading")
    def do_load(key: str, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:  # noqa: B008
        if not key:
            return "Choose a task first."
        ctx.manager.load(key, progress=progress)
        return f"Loaded the model of **{ctx.specs[key].title}**."

    @user_errors("Unloading")
    def do_unload(key: str) -> str:
        if not key:
            return "Choose a task first."
        done = ctx.manager.unload(key)
        return f"Unloaded the model of **{ctx.specs[key].title}**." if done else "That model was not loaded."

    def do_unload_all() -> str:
        return f"Unloaded {ctx.manager.unload_all()} idle model(s)."

    refreshed = refresh.click(lambda: status(ctx), None, raw, api_name="status")
    refreshed.then(render, raw, [table, summary], api_visibility="private")
    for button, fn, inputs in ((load, do_load, [task]), (unload, do_unload, [task]), (unload_all, do_unload_all, [])):
        button.click(fn, inputs, message, api_visibility="private").then(
            lambda: status(ctx), None, raw, api_visibility="private"
        ).then(render, raw, [table, summary], api_visibility="private")
    ctx.on_page_load(lambda: status(ctx), [raw])
    ctx.on_page_load(lambda: render(status(ctx)), [table, summary])
