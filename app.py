"""Open Model Showcase: find open models on the Hugging Face Hub and run them in one Gradio app.

`python app.py` serves the app (see `python app.py --help`). Importing this module builds nothing:
no model is loaded and no network is touched until someone uses a tab.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import gradio as gr
import uvicorn
from fastapi import FastAPI

from apps import DEFAULT_MODELS, SPECS, TASKS
from apps.cli import commands
from apps.cli import finder as finder_cli
from apps.cli import finetune as finetune_cli
from apps.core.manager import ModelManager
from apps.core.settings import ModelSelection, Settings, default_data_dir, parse_bytes
from apps.core.spec import TaskSpec
from apps.evals import cli as evals_cli
from apps.monitoring import gradio_hook, tracing
from apps.monitoring.metrics import METRICS
from apps.pipelines import serve as pipeline_serve
from apps.serving import guard, mcp, openai_api
from apps.shared import remote
from apps.shared.code import LastCalls
from apps.ui.code_panel import build_code_panel, record_calls
from apps.ui.context import TabContext

CSS = """
/* As wide as the window up to 1280 px, whatever a tab holds (gradio sizes it to its content). */
.gradio-container { max-width: 1280px !important; width: 100%; margin: auto; }
/* A wide table (results, examples) or gallery scrolls or shrinks inside its own box instead of
   widening the whole page on a phone: its content no longer sets the box's minimum width. */
.gradio-container .block:has(table), .gradio-container .block:has(.grid-container) { contain: inline-size; }
/* Text a model or a user wrote (a URL, a path, a hash, a pasted token) wraps wherever it has to.
   `anywhere`, unlike the components' own `break-word`, also shrinks the text's minimum width, so one
   long word can neither stretch its chat bubble, label or caption nor, through them, the page.
   !important: the components set `break-word` with selectors of every specificity. */
.gradio-container :is(.prose, .prose code, dt, .output-class, .json-node, .caption-label, .caption) {
    overflow-wrap: anywhere !important;
}
/* A gallery's captions wrap too; a long one scrolls in a few lines rather than covering the picture. */
.gradio-container :is(.caption-label, .caption) { white-space: normal !important; overflow-y: auto !important; }
.gradio-container .caption-label { max-height: 50%; }
.gradio-container .caption { max-height: 4.5em; flex-shrink: 0; }
/* …and in the enlarged view the picture makes room for a caption of several lines above the thumbnails
   (gradio keeps 60 px under the picture for their strip). */
.gradio-container .preview:has(.caption) { padding-bottom: 60px; box-sizing: border-box; }
.gradio-container .preview:has(.caption) .media-button { flex: 1 1 0; min-height: 0; height: auto; }
/* A table in markdown keeps its headers' words whole (no "d o w n l o a d s"); its cells wrap as above,
   and a table too wide for its box scrolls sideways inside it. */
.gradio-container .prose table {
    display: block; width: max-content; max-width: 100%; overflow-x: auto; padding: 0; border: none;
}
.gradio-container .prose th { overflow-wrap: normal; word-break: normal; }
/* Code keeps its lines and scrolls sideways inside its own box; a chat bubble holding code takes
   the conversation's whole width (a contained block adds no width to a bubble sized by its text). */
.gradio-container pre { max-width: 100%; overflow-x: auto; contain: inline-size; }
.gradio-container .message-row:has(pre), .gradio-container .message-row:has(pre) :is(.message, .flex-wrap) {
    width: 100%;
}
"""


class Command(NamedTuple):
    """A `python app.py NAME …` subcommand; its code lives in its own module."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[
        [argparse.Namespace, Settings, Mapping[str, TaskSpec]], int
    ]  # (args, settings, registry) → exit status


# Subcommands besides serving (plain `python app.py [flags]` serves). Add one line per command; its
# argument names must not reuse the serving flags' names (`--model`, `--dtype`, …) unless they mean
# the same thing.
COMMANDS: dict[str, Command] = {
    "find": Command(finder_cli.FIND_HELP, finder_cli.add_find_arguments, finder_cli.find_command),
    "estimate": Command(finder_cli.ESTIMATE_HELP, finder_cli.add_estimate_arguments, finder_cli.estimate_command),
    "download": Command(commands.DOWNLOAD_HELP, commands.add_download_arguments, commands.download_command),
    "deploy": Command(commands.DEPLOY_HELP, commands.add_deploy_arguments, commands.deploy_command),
    "pipeline": Command(
        pipeline_serve.PIPELINE_HELP,
        pipeline_serve.add_pipeline_arguments,
        lambda args, settings, specs: pipeline_serve.pipeline_command(args, settings, specs, build_manager(settings)),
    ),
    "eval": Command(evals_cli.EVAL_HELP, evals_cli.add_eval_arguments, evals_cli.eval_command),
    "finetune": Command(
        finetune_cli.FINETUNE_HELP,
        finetune_cli.add_finetune_arguments,
        lambda args, settings, specs: finetune_cli.finetune_command(args, settings, specs, build_manager(settings)),
    ),
}


def build_manager(settings: Settings) -> ModelManager:
    """The one model manager, with each task's configured model (registry < file < env < flags)."""
    loaders = {spec.key: spec.load for spec in TASKS if spec.load is not None}
    selection = ModelSelection.from_settings(DEFAULT_MODELS, settings)
    return ModelManager(
        loaders=loaders,
        selection=selection,
        budget="auto" if settings.memory_budget.strip().lower() == "auto" else parse_bytes(settings.memory_budget),
        device=settings.device,
        dtype=settings.dtype,
        offline=settings.is_offline,
        trust_remote_code=settings.trust_remote_code,
        wait_seconds=settings.load_wait_seconds,
        loader_options={
            "gguf_engine": settings.gguf_engine,
            "gguf_context": settings.gguf_context,
            # De-quantized GGUF checkpoints for the transformers engine (apps/shared/gguf_cache.py).
            "gguf_cache_dir": str((settings.data_dir or default_data_dir()) / "cache" / "dequantized"),
        },
        remote_loaders=remote.remote_loaders(settings),
    )


def groups() -> dict[str, list[TaskSpec]]:
    """Registry order, grouped: {group title: its task specs}."""
    grouped: dict[str, list[TaskSpec]] = {}
    for spec in TASKS:
        grouped.setdefault(spec.group or spec.title, []).append(spec)
    return grouped


def build_tab(
    spec: TaskSpec, settings: Settings, manager: ModelManager, page_load: list[Any], calls: LastCalls
) -> None:
    with gr.Tab(spec.title, id=spec.key, elem_id=f"tab-{spec.key}"):
        ctx = TabContext(spec, settings, manager, SPECS, page_load, calls)
        spec.build(ctx)
        if spec.requests and spec.key != "system":  # the System tab has the lookup for every task instead
            build_code_panel(ctx)


def build_demo(settings: Settings | None = None, manager: ModelManager | None = None) -> gr.Blocks:
    """The whole app: one tab per registry entry, each built by its own module."""
    settings = settings or Settings()
    manager = manager or build_manager(settings)
    page_load: list[Any] = []
    calls = LastCalls()  # every task's last call, for the "Use it in code" sections
    with gr.Blocks(title="Open Model Showcase") as demo:
        gr.Markdown(
            "# Open Model Showcase\nRun open models from the Hugging Face Hub. Models load on first use "
            "(the first request of a tab downloads and loads its model, with progress)."
        )
        # Tabs that do not fit the width wrap onto another row (phones) rather than hide in a menu.
        with gr.Tabs(overflow_behavior="wrap"):
            for group, specs in groups().items():
                if len(specs) == 1:  # a group of one is just a tab
                    build_tab(specs[0], settings, manager, page_load, calls)
                    continue
                with (
                    gr.Tab(group, id=f"group-{group.lower()}", elem_id=f"group-{group.lower()}"),
                    gr.Tabs(overflow_behavior="wrap"),
                ):
                    for spec in specs:
                        build_tab(spec, settings, manager, page_load, calls)
        for fn, outputs in page_load:
            demo.load(fn, None, outputs, api_visibility="private")
    record_calls(demo, SPECS, calls)
    demo.manager = manager  # type: ignore[attr-defined]  # for tests and the System tab
    demo.code_calls = calls  # type: ignore[attr-defined]  # for tests
    if settings.metrics or tracing.requested():  # traces pass through the same seam, metrics on or off
        gradio_hook.instrument(demo, metrics=METRICS if settings.metrics else None, known_models=known_models(manager))
    demo.page_load_handlers = tuple(fn for fn, _outputs in page_load)  # type: ignore[attr-defined]  # for tests
    demo.settings = settings  # type: ignore[attr-defined]
    return demo


# What the app serves on its port besides the Gradio app: functions that add routes to the FastAPI app
# (app, demo, settings) → None, e.g. the OpenAI-compatible API under /v1. Gradio is mounted after them at "/".
ROUTES: list[Callable[[FastAPI, gr.Blocks, Settings], None]] = [gradio_hook.add_metrics_route]
ROUTES.append(openai_api.routes(SPECS))  # /v1: the OpenAI-compatible API


def known_models(manager: ModelManager) -> set[str]:
    """Model names that may be metric labels: every task's configured and curated models (others: `custom`)."""
    names: set[str] = set()
    for spec in TASKS:
        refs = [card.ref for card in spec.cards]
        if spec.load is not None:
            refs.append(manager.selection.get(spec.key))
        for ref in refs:
            names |= {ref.name, ref.source, str(ref)}
    return names


def server_app(demo: gr.Blocks, settings: Settings) -> FastAPI:
    """One FastAPI app for the port: the ROUTES first, then the Gradio app (page, its API, uploads) at `/`."""
    app = FastAPI(title="Open Model Showcase", docs_url=None, redoc_url=None, openapi_url=None)
    for add_routes in ROUTES:
        add_routes(app, demo, settings)
    serve_mcp = mcp.enabled(settings)
    if serve_mcp:
        mcp.describe_tools(demo, TASKS)
        # Outermost, so no request reaches the MCP server (mounted inside the Gradio app) without the key.
        app.add_middleware(mcp.McpGuard, settings=settings)
    app = gr.mount_gradio_app(
        app,
        demo.queue(default_concurrency_limit=1),
        path="/",
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=settings.max_upload_bytes,
        theme=gr.themes.Soft(),
        css=CSS,
        auth=guard.ui_auth(settings),
        # Gradio's MCP server at /gradio_api/mcp/; mount_gradio_app runs its lifespan with the app's.
        mcp_server=serve_mcp,
    )
    if serve_mcp:
        mcp.name_tools(demo)
    return app


class Server(uvicorn.Server):
    """The app's HTTP server: in the foreground (`python app.py`) or in a thread of this process (tests, bench)."""

    thread: threading.Thread | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own version re-raises Ctrl-C once it has shut down, from inside the event loop, which
        # cancels the app's shutdown half-way (a traceback instead of a quiet exit). Only the main thread
        # can take signals; a server in a thread is stopped with close().
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def run_in_thread(self, start_seconds: float = 30.0) -> None:
        self.thread = threading.Thread(target=self.run, name="showcase-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + start_seconds
        while not self.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"The server did not start on {self.config.host}:{self.config.port}: is the port in use?"
                )
            time.sleep(0.005)

    def close(self) -> None:
        """Stop serving (what `demo.close()` calls, as for a server gradio started itself)."""
        self.should_exit = True
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=10)


def launch(demo: gr.Blocks, settings: Settings, *, prevent_thread_lock: bool = False, quiet: bool = False) -> Server:
    """Serve the app on the settings' host and port; returns at once with `prevent_thread_lock` (then
    `demo.close()` or the returned server's `close()` stops it), else serves until interrupted."""
    config = uvicorn.Config(
        server_app(demo, settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        # Open streams (a client's event stream, a reply being generated) may hold a graceful shutdown open
        # forever: after a few seconds they are cut.
        timeout_graceful_shutdown=3,
    )
    server = Server(config)
    # demo.close() then closes its queue and this server, as it would after gradio's own launch().
    demo.server, demo.is_running = server, True
    if not quiet:
        print(f"Open Model Showcase on http://{settings.host}:{settings.port}/", flush=True)
    if prevent_thread_lock:
        server.run_in_thread()
        return server
    server.run()
    return server


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Open Model Showcase: run open models in one Gradio app.")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 7860)")
    parser.add_argument("--memory-budget", help="e.g. 4GB, 1500MiB, none (default auto)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", help="auto, float32, float16, bfloat16")
    parser.add_argument("--offline", action="store_true", default=None, help="use only cached/local models")
    parser.add_argument("--models", dest="models_file", help="TOML file mapping task → model")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="TASK=REF",
        help="model for a task, e.g. chat=HuggingFaceTB/SmolLM2-135M-Instruct (repeatable)",
    )
    parser.add_argument("--trust-remote-code", action="store_true", default=None, help="allow models' own code")
    parser.add_argument("-v", "--verbose", action="store_true", help="log model loads and evictions")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands (default: serve the app)")
    for name, command in COMMANDS.items():
        command.add_arguments(commands.add_parser(name, help=command.help, description=command.help))
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags override environment variables, which override defaults."""
    env = Settings()
    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("host", "port", "memory_budget", "device", "dtype", "offline", "models_file", "trust_remote_code")
        if getattr(args, name) is not None
    }
    models = dict(env.models)
    for item in args.model:
        task, sep, ref = item.partition("=")
        if not sep or not task.strip() or not ref.strip():
            raise SystemExit(f"--model expects TASK=REF, got {item!r}")
        models[task.strip()] = ref.strip()
    return Settings(**overrides, models=models)


def main(argv: Sequence[str] | None = None) -> int | None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s")
    settings = settings_from_args(args)
    if settings.offline:
        # Libraries below read this too (transformers, sentence-transformers).
        os.environ["HF_HUB_OFFLINE"] = "1"
        import huggingface_hub.constants

        huggingface_hub.constants.HF_HUB_OFFLINE = True
    unknown = set(settings.models) - set(SPECS)
    if unknown:
        raise SystemExit(f"Unknown task(s) in model settings: {', '.join(sorted(unknown))}")
    if args.command:
        return COMMANDS[args.command].run(args, settings, SPECS)
    if settings.pipeline is not None:  # a Space deployed with `deploy --pipeline FILE` serves only that pipeline
        return pipeline_serve.serve_file(settings.pipeline, settings, SPECS, build_manager(settings))
    launch(build_demo(settings), settings)
    return None


def __getattr__(name: str) -> Any:
    # `demo` for `gradio app.py` and other tools that look for it; built only when asked for.
    if name == "demo":
        return build_demo()
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
