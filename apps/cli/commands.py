"""Shipping commands: `python app.py download` (prefetch models) and `python app.py deploy` (Spaces).

`app.py` registers them as subcommands: each has an `add_..._arguments(parser)` and a `..._command(args,
settings, specs) -> exit status`; `specs` is the registry's task table, handed down by `app.py`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path

from apps.core.errors import ShowcaseError
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import TaskSpec, default_models
from apps.core.weights import format_bytes

DOWNLOAD_HELP = "fetch the configured models of some tasks (or --all) into the Hugging Face cache"
DEPLOY_HELP = "create or update a Hugging Face Space running this app (--dry-run lists the files)"

ROOT = Path(__file__).resolve().parent.parent.parent
PIPELINE_VARIABLE = "SHOWCASE_PIPELINE"  # settings.pipeline: serve only this pipeline file

# Exactly what a Space needs to run the app: code, examples, dependency lists and the README (whose
# front matter configures the Space). Tests, CI and benchmarks stay home.
SPACE_FILES = ["app.py", "apps/**/*.py", "apps/*.py", "assets/*", "requirements.txt", "packages.txt", "README.md"]
SPACE_IGNORE = ["**/__pycache__/**", "*.pyc", "*.pyi"]


def space_files(root: Path = ROOT) -> list[str]:
    """The repository-relative paths `deploy` uploads, sorted (the same filter upload_folder applies)."""
    from huggingface_hub.utils import filter_repo_objects

    paths = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
    return list(filter_repo_objects(paths, allow_patterns=SPACE_FILES, ignore_patterns=SPACE_IGNORE))


def pipeline_path_in_space(pipeline: Path, root: Path = ROOT) -> str:
    """Where a pipeline file is in the Space: its own path when `deploy` uploads it anyway (a shipped
    example under assets/), else `pipelines/NAME`."""
    try:
        relative = pipeline.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        relative = None
    return relative if relative is not None and relative in space_files(root) else f"pipelines/{pipeline.name}"


def deploy(
    space_id: str, *, dry_run: bool = False, private: bool = False, root: Path = ROOT, pipeline: Path | None = None
) -> list[str]:
    """Create or update the Gradio Space `space_id` with the app's files; returns the uploaded paths.

    With `pipeline` (a checked pipeline file) the Space serves only that pipeline: the file goes up too, and
    the Space variable SHOWCASE_PIPELINE names it. Without, a SHOWCASE_PIPELINE left by an earlier
    deploy is removed, so the Space serves the whole app again.
    """
    ModelRef.parse(space_id)  # same id rules as models: org/name
    files = space_files(root)
    target = pipeline_path_in_space(pipeline, root) if pipeline is not None else None
    extra = target is not None and target not in files
    if extra:
        files = sorted([*files, target])
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(space_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    api.upload_folder(
        repo_id=space_id,
        repo_type="space",
        folder_path=root,
        allow_patterns=SPACE_FILES,
        ignore_patterns=SPACE_IGNORE,
        commit_message="Deploy Open Model Showcase",
    )
    if pipeline is not None and target is not None:
        if extra:
            api.upload_file(
                path_or_fileobj=str(pipeline),
                path_in_repo=target,
                repo_id=space_id,
                repo_type="space",
                commit_message=f"Deploy the pipeline {pipeline.name}",
            )
        api.add_space_variable(
            space_id, PIPELINE_VARIABLE, target, description="The pipeline file this Space serves alone."
        )
    elif PIPELINE_VARIABLE in api.get_space_variables(space_id):
        api.delete_space_variable(space_id, PIPELINE_VARIABLE)
    return files


def snapshot_bytes(folder: Path) -> int:
    """Size of a model folder on disk (cache snapshots are symlinks into blobs: follow them)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def download(refs: Iterable[tuple[str, ModelRef]], *, offline: bool = False) -> list[tuple[str, str, int, str]]:
    """Fetch each (task, ref) into the Hugging Face cache; returns (task, model, bytes, error) rows.

    huggingface_hub prints a progress bar per file while downloading.
    """
    from apps.core import hub

    rows = []
    for task, ref in refs:
        try:
            path = hub.fetch(ref, offline=offline, fetch_hint=f"python app.py download {task}")
        except hub.NotCached as exc:  # its advice would be to run this very command
            rows.append((task, str(ref), 0, f"not downloaded: {exc.reason}; check the connection or HF_ENDPOINT"))
            continue
        except ShowcaseError as exc:
            rows.append((task, str(ref), 0, str(exc)))
            continue
        rows.append((task, str(ref), snapshot_bytes(path), ""))
    return rows


def tasks_to_fetch(specs: Mapping[str, TaskSpec], names: list[str], all_tasks: bool) -> list[str]:
    """Task keys with a model: the named ones plus the tasks they use (speech translation → asr, …)."""
    if all_tasks:
        return [key for key, spec in specs.items() if spec.load is not None]
    unknown = [name for name in names if name not in specs]
    if unknown or not names:
        known = ", ".join(key for key, spec in specs.items() if spec.load is not None or spec.uses)
        problem = f"unknown task(s) {', '.join(unknown)}" if unknown else "name the tasks to fetch, or --all"
        raise ShowcaseError(f"{problem}. Tasks: {known}.")
    wanted: list[str] = []
    pending = list(names)
    while pending:
        key = pending.pop(0)
        if key in wanted:
            continue
        wanted.append(key)
        pending.extend(specs[key].uses)
    return [key for key in wanted if specs[key].load is not None]


def add_download_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tasks", nargs="*", metavar="TASK", help="task keys, e.g. chat similarity (see --all)")
    parser.add_argument("--all", dest="all_tasks", action="store_true", help="every task's configured model")


def download_command(args: argparse.Namespace, settings: Settings, specs: Mapping[str, TaskSpec]) -> int:
    """Fetch, then print one row per model with its size on disk; exit status 1 if any failed."""
    from huggingface_hub import constants

    if settings.is_offline:
        print("download needs the Hugging Face Hub: run it without --offline / HF_HUB_OFFLINE=1.")
        return 1
    try:
        tasks = tasks_to_fetch(specs, args.tasks, args.all_tasks)
    except ShowcaseError as exc:
        print(f"download: {exc}")
        return 2
    selection = ModelSelection.from_settings(default_models(specs), settings)
    rows = download([(task, selection.get(task)) for task in tasks])
    width = max(len(model) for _, model, _, _ in rows)
    for task, model, size, error in rows:
        print(f"{task:<22} {model:<{width}}  {f'error: {error}' if error else format_bytes(size)}")
    total = sum(size for _, _, size, _ in rows)
    print(f"{'total':<22} {'':<{width}}  {format_bytes(total)} in {constants.HF_HUB_CACHE}")
    return 1 if any(error for *_, error in rows) else 0


def add_deploy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("space_id", metavar="SPACE_ID", help="the Space, e.g. your-name/open-model-showcase")
    parser.add_argument("--dry-run", action="store_true", help="list the files that would be uploaded; upload nothing")
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    parser.add_argument(
        "--pipeline",
        metavar="FILE",
        type=Path,
        help="a pipeline file (.json/.yaml): the Space serves only it, as `python app.py pipeline FILE` does",
    )


def deploy_command(args: argparse.Namespace, settings: Settings, specs: Mapping[str, TaskSpec]) -> int:
    """Upload the app to a Gradio Space (needs HF_TOKEN or `hf auth login`); --dry-run only lists."""
    try:
        if args.pipeline is not None:
            from apps.pipelines.spec import read_file

            read_file(args.pipeline, specs)  # a file that is not a pipeline is refused before anything is sent
        files = deploy(args.space_id, dry_run=args.dry_run, private=args.private, pipeline=args.pipeline)
    except ShowcaseError as exc:
        print(f"deploy: {exc}")
        return 2
    except Exception as exc:  # auth, network, permissions: say what failed, no traceback
        print(f"deploy: {type(exc).__name__}: {exc}")
        return 1
    verb = "would upload" if args.dry_run else "uploaded"
    print(f"{verb} {len(files)} files to https://huggingface.co/spaces/{args.space_id}:")
    for name in files:
        print(f"  {name}")
    if args.pipeline is not None:
        where = pipeline_path_in_space(args.pipeline)
        print(f"The Space serves only the pipeline {where} (Space variable {PIPELINE_VARIABLE}={where}).")
    return 0
