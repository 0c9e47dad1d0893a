"""Model finder, its task functions: search the Hub for models, estimate one model's memory.

No gradio: the Model finder tab (`apps/finder/tab.py`) turns the results into its tables, and the `find`
and `estimate` commands (`apps/cli/finder.py`) print them; both call these two functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core.errors import InputError
from apps.core.manager import ProgressFn
from apps.core.spec import TaskContext
from apps.finder.estimate import ESTIMATE_COLUMNS, Estimate, estimate, estimate_rows, estimate_summary
from apps.finder.hub import (
    RESULT_COLUMNS,
    Found,
    Query,
    estimate_device,
    free_memory,
    parse_query,
    result_rows,
    search,
    search_summary,
)
from apps.finder.memory import DEFAULT_BATCH, DEFAULT_CONTEXT, Plan, Shape, check_plan, plan_markdown, read_shape


@dataclass(frozen=True)
class FoundModels:
    """What a search found: the results table's rows, a summary, and where they came from."""

    rows: list[list[Any]]  # one per model, in RESULT_COLUMNS order; model ids plain (the tab makes links)
    summary: str  # markdown: what was searched, where the results come from, what “fits here” compares with
    offline: bool  # True: the Hub was not asked or did not answer, and the rows are the local cache's models
    reason: str  # why the Hub was not used ("" when it was)
    query: Query  # the validated search
    found: list[Found] = field(default_factory=list)  # the models themselves, as the rows show them
    free_bytes: int = 0  # memory free on the device models would run on, which “fits here” compares with
    columns: tuple[str, ...] = tuple(RESULT_COLUMNS)


@dataclass(frozen=True)
class MemoryEstimate:
    """A model's parameter count and the memory it needs per dtype, read from its weights' headers."""

    model: str  # the model as read: a Hub ref (org/name[@revision][#file.gguf]) or a local path
    parameters: int
    source: str  # where the count was read from, in words
    rows: list[list[str]]  # one per dtype, in ESTIMATE_COLUMNS order
    summary: str  # markdown: the count by stored dtype, its source, the largest tensor
    estimate: Estimate  # the count itself (by dtype, largest tensor, file sizes)
    columns: tuple[str, ...] = tuple(ESTIMATE_COLUMNS)
    plan: Plan | None = None  # KV cache at a context length and batch size, fine-tuning, "fits on"
    plan_summary: str = ""  # markdown: the plan's figures and its "fits on" table


def find_models(
    ctx: TaskContext,
    task: str | None,
    query: str | None = "",
    sort: str | None = "downloads",
    max_memory: str | float | None = "",
    precision: str | None = "float16",
    licence: str | None = "any",
    library: str | None = "transformers",
    limit: float | None = 20,
    progress: ProgressFn | None = None,
) -> FoundModels:
    """The Hub's models for a task (a Hub pipeline tag, a task key of this app, or "any"), ranked and filtered.

    Offline, or when the Hub does not answer within seconds, the models of the local cache instead (and the
    summary says so). Raises InputError for input a person has to fix.
    """
    search_query = parse_query(ctx.specs, task, query, sort, max_memory, precision, licence, library, limit)
    if progress is not None:
        progress(None, desc="Asking the Hub…")
    result = search(search_query, offline=ctx.settings.is_offline)
    free, what = free_memory(estimate_device(ctx.settings.device))
    return FoundModels(
        rows=result_rows(result.found, search_query.precision, free),
        summary=search_summary(result, free, what),
        offline=not result.online,
        reason=result.reason,
        query=search_query,
        found=result.found,
        free_bytes=free,
    )


def estimate_memory(
    ctx: TaskContext,
    model: str | None,
    progress: ProgressFn | None = None,
    *,
    any_local_folder: bool = False,
    context_length: int = DEFAULT_CONTEXT,
    batch_size: int = DEFAULT_BATCH,
) -> MemoryEstimate:
    """The memory `model` needs per dtype, from its weight headers (no weights are downloaded).

    `model` is a Hub id or a local folder. Visitors may read only folders under SHOWCASE_LOCAL_MODEL_DIRS and
    the configured models' own; `any_local_folder` (the command line, run by the machine's owner) reads any.
    The plan adds the KV cache at `context_length` × `batch_size` (from config.json or GGUF metadata, where
    the folder or the cache has them), LoRA / QLoRA / full fine-tuning, and which machines each fits on.
    """
    if not isinstance(model, str) or not model.strip():
        raise InputError("Enter a Hub model id (org/name) or a local model folder to estimate.")
    context_length, batch_size = check_plan(context_length, batch_size)
    if progress is not None:
        progress(None, desc="Reading weight headers…")
    roots: tuple[Path, ...] | None = None
    if not any_local_folder:
        selection = ctx.manager.selection
        configured = tuple(Path(ref.source) for ref in map(selection.get, selection.tasks()) if ref.is_local)
        roots = (*ctx.settings.local_model_dirs, *configured)
    result = estimate(model, local_roots=roots, offline=ctx.settings.is_offline)
    plan = Plan(result.count.total, _shape_of(result), context_length, batch_size)
    device = estimate_device(ctx.settings.device)
    free, what = free_memory(device)
    return MemoryEstimate(
        model=str(result.ref),
        parameters=result.count.total,
        source=result.source,
        rows=estimate_rows(result.count),
        summary=estimate_summary(result),
        estimate=result,
        plan=plan,
        plan_summary=plan_markdown(plan, (free, what, device.startswith("cuda"))),
    )


def _shape_of(result: Estimate) -> Shape | None:
    """The KV-cache shape from the model's local folder or its cached copy; None where neither is here."""
    from apps.core.hub import cached_path

    path = Path(result.ref.source) if result.ref.is_local else cached_path(result.ref)
    if path is None:
        return None
    try:
        return read_shape(path, result.ref.gguf_file)
    except (OSError, ValueError):
        return None
