"""System: per task, its configured model, state and memory (a model two tasks share counted once); the process."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from typing import Any

import gradio as gr
import pandas as pd

from apps.core.spec import TaskContext
from apps.core.weights import format_bytes
from apps.shared.llama_engine import engine_note
from apps.shared.remote import reachable
from apps.ui.code_panel import build_code_lookup
from apps.ui.context import TabContext
from apps.ui.errors import user_errors


def process_rss() -> int:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


@dataclass(frozen=True)
class TaskStatus:
    """One task with a model: what it is configured with, and the state of that model's loaded copy."""

    title: str
    model: str
    origin: str  # where the configured model comes from (registry default, models file, …)
    state: str  # loading, loaded, failed, or "not loaded"
    # The loaded copy's bytes, counted once: tasks that share one copy (shared_with) show them on the first of
    # them in registry order and 0 on the others, so the tasks' bytes add up to the models' memory.
    bytes: int
    device: str
    dtype: str
    in_use: int  # requests using the copy now (all the tasks that share it)
    error: str
    shared_with: list[str]  # the other tasks configured with the same model and loader: one copy for all
    engine: str = ""  # what runs the loaded copy: "transformers", "llama.cpp", … ('' while not loaded)
    # A task on a remote OpenAI-compatible server: {"server", "model", "reachable"}; None for a local model.
    remote: dict[str, Any] | None = None


@dataclass(frozen=True)
class ProcessStatus:
    """The server process: its memory, the models' memory and budget, and how models are loaded."""

    rss_bytes: int
    models_bytes: int  # every loaded copy once
    budget_bytes: int | None  # None: no limit
    device: str
    offline: bool
    trust_remote_code: bool
    python: str
    # Said once, not per model: GGUF chat models run on transformers because llama-cpp-python is missing
    # (or the setting asks for it); '' when llama.cpp runs them.
    gguf_engine_note: str = ""


@dataclass(frozen=True)
class Status:
    """What /status answers: every task with a model, the loaded copies, the process, the latest events."""

    tasks: dict[str, TaskStatus]
    loaded: list[dict[str, Any]]  # one row per loaded copy (the manager's snapshot), with every task using it
    process: ProcessStatus
    events: list[dict[str, Any]]  # the manager's last 20 loads, evictions, unloads and failures

    def as_dict(self) -> dict[str, Any]:
        """The JSON the /status endpoint returns."""
        return asdict(self)


def status(ctx: TaskContext) -> Status:
    """Every task's configured model and its state (a shared copy's bytes counted once), and the process."""
    manager = ctx.manager
    with_models = [key for key, spec in ctx.specs.items() if spec.load is not None]
    copies: dict[tuple[str, ...], list[str]] = {}  # model key → the tasks configured with it, in registry order
    for key in with_models:
        copies.setdefault(manager.model_key(key), []).append(key)
    tasks: dict[str, TaskStatus] = {}
    for key in with_models:
        spec = ctx.specs[key]
        ref = manager.selection.get(key)
        sharing = copies[manager.model_key(key, ref)]
        row = manager.state_of(key, ref) or {}
        remote = None
        if ref.is_remote:  # no memory, no device: the server, and whether it answers now
            remote = {"server": ref.remote_url, "model": ref.remote_model, "reachable": reachable(ref, ctx.settings)}
            row = {**row, "state": "remote, " + ("reachable" if remote["reachable"] else "unreachable")}
        tasks[key] = TaskStatus(
            title=spec.title,
            model=str(ref),
            origin=manager.selection.origin(key),
            state=row.get("state", "not loaded"),
            bytes=row.get("bytes", 0) if sharing[0] == key else 0,
            device=row.get("device", ""),
            dtype=row.get("dtype", ""),
            in_use=row.get("in_use", 0),
            error=row.get("error", ""),
            shared_with=[other for other in sharing if other != key],
            engine=row.get("engine", ""),
            remote=remote,
        )
    process = ProcessStatus(
        rss_bytes=process_rss(),
        models_bytes=manager.used_bytes(),
        budget_bytes=manager.budget,
        device=manager.device,
        offline=manager.offline,
        trust_remote_code=manager.trust_remote_code,
        python=platform.python_version(),
        gguf_engine_note=engine_note(getattr(ctx.settings, "gguf_engine", "auto")),
    )
    return Status(tasks, manager.snapshot(), process, list(manager.events)[-20:])


STATUS_COLUMNS = ["task", "model", "set by", "state", "memory", "device", "engine", "error"]


def status_table(data: dict[str, Any]) -> pd.DataFrame:
    """One row per task (by its tab's name); a copy shared by several tasks shows its memory once."""
    titles = {key: info["title"] for key, info in data["tasks"].items()}
    rows = []
    for info in data["tasks"].values():
        memory = format_bytes(info["bytes"]) if info["bytes"] else ""
        if info["shared_with"]:
            others = ", ".join(titles[other] for other in info["shared_with"])
            memory = f"{memory}, shared with {others}" if memory else f"shared with {others}"
        rows.append(
            [
                info["title"],
                info["model"],
                info["origin"],
                info["state"],
                memory,
                info["device"],
                info.get("engine", ""),
                info["error"],
            ]
        )
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def process_markdown(data: dict[str, Any]) -> str:
    """The process line above the table: RSS, the models' memory (each copy once) and the budget."""
    process = data["process"]
    budget = process["budget_bytes"]
    budget_text = format_bytes(budget) if budget else "no limit"
    evictions = sum(1 for event in data["events"] if event["action"] == "evict")
    note = process.get("gguf_engine_note") or ""
    return (
        f"**Process memory (RSS):** {format_bytes(process['rss_bytes'])} · "
        f"**models:** {format_bytes(process['models_bytes'])} of a budget of {budget_text} · "
        f"**device:** {process['device']} · **offline:** {'yes' if process['offline'] else 'no'} · "
        f"**recent evictions:** {evictions}" + (f"\n\nℹ️ {note}" if note else "")
    )


def build_tab(ctx: TabContext) -> None:
    gr.Markdown(f"## {ctx.spec.title}\n\n{ctx.spec.description}")
    summary = gr.Markdown()
    table = gr.Dataframe(
        interactive=False,
        wrap=True,
        label="Tasks and their models",
        # task, model, set by, state, memory, device, engine, error: short columns keep their words whole
        column_widths=["14%", "24%", "14%", "9%", "11%", "7%", "9%", "12%"],
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
    build_code_lookup(ctx)

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
        if not done:
            return "That model was not loaded."
        shared = [
            spec.title
            for other, spec in ctx.specs.items()
            if other != key and spec.load is not None and ctx.manager.model_key(other) == ctx.manager.model_key(key)
        ]
        also = f", the copy {' and '.join(shared)} used too" if shared else ""
        return f"Unloaded the model of **{ctx.specs[key].title}**{also}."

    def do_unload_all() -> str:
        return f"Unloaded {ctx.manager.unload_all()} idle model(s)."

    def current() -> dict[str, Any]:
        return status(ctx).as_dict()

    refreshed = refresh.click(current, None, raw, api_name="status")
    refreshed.then(render, raw, [table, summary], api_visibility="private")
    for button, fn, inputs in ((load, do_load, [task]), (unload, do_unload, [task]), (unload_all, do_unload_all, [])):
        button.click(fn, inputs, message, api_visibility="private").then(
            current, None, raw, api_visibility="private"
        ).then(render, raw, [table, summary], api_visibility="private")
    ctx.on_page_load(current, [raw])
    ctx.on_page_load(lambda: render(current()), [table, summary])
