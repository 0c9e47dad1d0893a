"""`python app.py pipeline FILE`: serve one pipeline (a .json or .yaml file) as its own small Gradio app."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import gradio as gr

from apps.core.errors import ShowcaseError
from apps.core.manager import ModelManager
from apps.core.settings import Settings
from apps.core.spec import TaskContext, TaskSpec
from apps.pipelines.spec import Pipeline, read_file
from apps.pipelines.tab import build_app

PIPELINE_HELP = "serve one pipeline (a .json or .yaml file, e.g. assets/pipelines/voice-assistant.json) as its own app"


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the pipeline file; the app's --host and --port say where it is served")


def launch_pipeline(
    pipeline: Pipeline,
    settings: Settings,
    manager: ModelManager,
    specs: Mapping[str, TaskSpec],
    prevent_thread_lock: bool = False,
) -> gr.Blocks:
    """Serve the pipeline's app on the settings' host and port; with `prevent_thread_lock`, return at once
    (`demo.close()` stops it)."""
    ctx = TaskContext(specs["pipelines"], settings, manager, specs)
    demo = build_app(ctx, pipeline).queue(default_concurrency_limit=1)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=settings.max_upload_bytes,
        prevent_thread_lock=prevent_thread_lock,
        quiet=True,
    )
    return demo


def pipeline_command(
    args: argparse.Namespace, settings: Settings, specs: Mapping[str, TaskSpec], manager: ModelManager
) -> int:
    """Check the pipeline file and serve it until interrupted; exit status 2 for a file that is not a pipeline."""
    return serve_file(args.file, settings, specs, manager)


def serve_file(path: str | Path, settings: Settings, specs: Mapping[str, TaskSpec], manager: ModelManager) -> int:
    """Serve the pipeline in `path` until interrupted (also `python app.py` with SHOWCASE_PIPELINE set)."""
    try:
        pipeline = read_file(path, specs)
    except ShowcaseError as exc:
        print(f"pipeline: {exc}")
        return 2
    print(f"Pipeline {pipeline.name} on http://{settings.host}:{settings.port}/", flush=True)
    launch_pipeline(pipeline, settings, manager, specs)
    return 0
