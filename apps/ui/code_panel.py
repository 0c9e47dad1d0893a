""" "Use it in code" in every tab: the Python of the tab's last run (or its defaults), and a notebook of it.

The app builder adds `build_code_panel` under each tab and calls `record_calls` once the app is built: it
wraps every public endpoint so that the task's last call is kept (apps/shared/code.py `LastCalls`). The
System tab holds the public `/code(task)` endpoint (`build_code_lookup`), for any task.
"""

from __future__ import annotations

import functools
import inspect
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gradio as gr

from apps.core.errors import InputError
from apps.core.refs import ModelRef
from apps.core.spec import TaskContext, TaskSpec
from apps.shared.code import APP_URL_PLACEHOLDER, Call, LastCalls, markdown, reference_call, render, write_notebook
from apps.ui.context import TabContext
from apps.ui.errors import user_errors

NOTEBOOK_DIR = Path(tempfile.gettempdir()) / "showcase-code"  # gradio serves files it is given from the temp dir


def app_url(request: gr.Request | None) -> str:
    """This app's address as the browser or client reached it (the placeholder when not known)."""
    headers = getattr(request, "headers", None) or {}
    host = headers.get("x-forwarded-host") or headers.get("host")
    if not host:
        return APP_URL_PLACEHOLDER
    scheme = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip()
    return f"{scheme}://{host}/"


def call_model(ctx: TaskContext, call: Call) -> ModelRef | None:
    """The model a call ran with (the tab's own when it named none or a bad one); None without one model."""
    if ctx.spec.code is None or ctx.spec.load is None:
        return None
    text = call.inputs.get("model")
    try:
        ref = ctx.resolve_model(text if isinstance(text, str) else None)
    except InputError:
        ref = ctx.configured_model()
    return ref.base  # an adapter is the Fine-tune tab's; its code loads the base model


def session_of(request: gr.Request | None) -> str:
    """The session a request belongs to (a browser page, a gradio_client Client); "" when not known."""
    return (getattr(request, "session_hash", None) if request is not None else None) or ""


def code_for(ctx: TaskContext, calls: LastCalls, url: str = APP_URL_PLACEHOLDER, session: str = "") -> tuple[str, str]:
    """(markdown with the three snippets, path of the notebook) for the task's last call in this session,
    or its defaults."""
    call = calls.get(ctx.spec.key, session)
    note = "Settings of your last run." if call else "Default settings: run the tab, then show the code again."
    if call is None:
        call = reference_call(ctx.spec)
    else:  # any parameter the call did not name (an older client) has its reference value
        call = Call(call.api_name, {**reference_call(ctx.spec, call.api_name).inputs, **call.inputs})
    snippets = render(ctx.spec, call, call_model(ctx, call), url)
    NOTEBOOK_DIR.mkdir(parents=True, exist_ok=True)
    path = write_notebook(snippets, Path(tempfile.mkdtemp(dir=NOTEBOOK_DIR)))
    return markdown(snippets, note), str(path)


def build_code_panel(ctx: TabContext) -> None:
    """The collapsible "Use it in code" section under a tab's result (its events are kept out of the API)."""
    with gr.Accordion("Use it in code", open=False, elem_id=f"code-{ctx.spec.key}") as accordion:
        code = gr.Markdown("Open this section after a run to see its Python.")
        with gr.Row():
            refresh = gr.Button("Show the code of my last run", size="sm")
            notebook = gr.File(label="Notebook for Colab or Kaggle (.ipynb)", interactive=False)

    @user_errors("Use it in code")
    def show(request: gr.Request) -> tuple[str, str]:
        return code_for(ctx, ctx.calls, app_url(request), session_of(request))

    for event in (accordion.expand, refresh.click):
        event(show, None, [code, notebook], api_visibility="private")


def build_code_lookup(ctx: TabContext) -> None:
    """Any task's code by its key: the public `/code(task)` endpoint (in the System tab)."""
    choices = [(spec.title, key) for key, spec in ctx.specs.items() if spec.requests]  # tasks with endpoints
    with gr.Accordion("Use any tab in code", open=False, elem_id="code-lookup"):
        with gr.Row():
            task = gr.Dropdown(choices=choices, value="chat", label="Code of the task", allow_custom_value=True)
            button = gr.Button("Show its code", size="sm")
        code = gr.Markdown(label="code")
        notebook = gr.File(label="Notebook for Colab or Kaggle (.ipynb)", interactive=False)

    @user_errors("Use it in code")
    def code_of_task(task: str, request: gr.Request) -> tuple[str, str]:
        """Python for the task's last settings (or its defaults), three ways, and a notebook of it."""
        key = check_task(task, ctx.specs)
        return code_for(ctx.for_task(key), ctx.calls, app_url(request), session_of(request))

    button.click(code_of_task, [task], [code, notebook], api_name="code")


def check_task(task: Any, specs: Mapping[str, TaskSpec]) -> str:
    """The task's key, from its key or its title; InputError naming the tasks for anything else."""
    if isinstance(task, str):
        text = task.strip()
        for key, spec in specs.items():
            if text.casefold() in (key.casefold(), spec.title.casefold()):
                if not spec.requests:
                    raise InputError(f"The {spec.title} tab has no API endpoint, so there is no code to call it with.")
                return key
    shown = repr(task)[:40]
    raise InputError(f"There is no task {shown}: choose one of {', '.join(specs)}.")


def _recorder(fn: Callable[..., Any], task: str, api_name: str, names: tuple[str, ...], calls: LastCalls) -> Any:
    """`fn` that first keeps its public inputs (by name) as the task's last call."""
    signature = inspect.signature(fn)

    def record(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            return  # gradio will refuse the call itself
        from gradio.context import LocalContext  # the running event's request: whose session this is

        session = session_of(LocalContext.request.get(None))
        calls.record(task, Call(api_name, {name: bound[name] for name in names if name in bound}), session)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            record(args, kwargs)
            yield from fn(*args, **kwargs)

        return gen_wrapper
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        return fn  # none of our task endpoints; left unrecorded rather than wrapped wrongly

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        record(args, kwargs)
        return fn(*args, **kwargs)

    return wrapper


def record_calls(demo: gr.Blocks, specs: Mapping[str, TaskSpec], calls: LastCalls) -> None:
    """Keep each task's last call from its public endpoints (the parameters its reference request names)."""
    endpoints = {request.api_name: (spec.key, request) for spec in specs.values() for request in spec.requests}
    for block_fn in demo.fns.values():
        found = endpoints.get(f"/{block_fn.api_name}") if block_fn.api_name else None
        if found is None or block_fn.fn is None or block_fn.api_visibility == "private" or found[1].api_name == "/code":
            continue
        task, request = found
        block_fn.fn = _recorder(block_fn.fn, task, request.api_name, tuple(request.inputs), calls)
