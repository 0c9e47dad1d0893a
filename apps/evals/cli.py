"""`python app.py eval TASK --data FILE --model A --model B`: evaluate models on a dataset from the shell."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping

from apps.core.errors import ShowcaseError
from apps.core.manager import ModelManager
from apps.core.settings import ModelSelection, Settings, parse_bytes
from apps.core.spec import TaskContext, TaskSpec, default_models
from apps.evals.evaluate import DEFAULT_LIMIT, EVAL_TASKS, evaluate

EVAL_HELP = "evaluate models on a dataset (.csv/.jsonl, or .zip with metadata.csv) with the task's metrics"


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=sorted(EVAL_TASKS), help="the task to evaluate")
    parser.add_argument("--data", required=True, help="the dataset file")
    # dest differs from the serving flag `--model TASK=REF`: here each value is one model to evaluate.
    parser.add_argument(
        "--model", dest="eval_models", action="append", default=[], metavar="REF", help="a model (repeatable)"
    )
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"rows to evaluate (default {DEFAULT_LIMIT})")


def _manager(settings: Settings, specs: Mapping[str, TaskSpec]) -> ModelManager:
    budget = settings.memory_budget.strip().lower()
    return ModelManager(
        loaders={spec.key: spec.load for spec in specs.values() if spec.load is not None},
        selection=ModelSelection.from_settings(default_models(specs), settings),
        budget="auto" if budget == "auto" else parse_bytes(settings.memory_budget),
        device=settings.device,
        dtype=settings.dtype,
        offline=settings.is_offline,
        trust_remote_code=settings.trust_remote_code,
        wait_seconds=settings.load_wait_seconds,
    )


def _number(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4f}"


def eval_command(args: argparse.Namespace, settings: Settings, specs: Mapping[str, TaskSpec]) -> int:
    """Print the metrics table (and warnings); exit status 1 when the evaluation could not run."""
    context = TaskContext(specs[args.task], settings, _manager(settings, specs), specs)

    def progress(value: object, desc: str = "", **_: object) -> None:
        if isinstance(value, tuple) and desc:
            print(f"  {desc}", flush=True)

    try:
        result = evaluate(context, args.task, args.data, "\n".join(args.eval_models), args.limit, progress)
    except ShowcaseError as exc:
        print(f"eval: {exc}")
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}")
    width = max(len(str(model)) for model in result.metrics["model"])
    print(f"{'model':<{width}}  {'metric':<12} {'value':>9} {'95% CI':>21} {'n':>6}")
    for row in result.metrics.itertuples():
        interval = f"[{_number(row.ci_low)}, {_number(row.ci_high)}]"
        print(f"{row.model:<{width}}  {row.metric:<12} {_number(row.value):>9} {interval:>21} {row.n:>6}")
    print(f"results: {result.path}")
    return 0
