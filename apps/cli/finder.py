"""`python app.py find …` and `python app.py estimate MODEL`: the model finder's tables in a terminal.

`app.py` registers these as subcommands; each pair here is (add its arguments, run it). They print
the same tables as the Model finder tab, from the same task functions (`apps/finder/task.py`).
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from apps.core.errors import ShowcaseError
from apps.core.manager import ModelManager
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import TaskContext, TaskSpec, default_models

FIND_HELP = "search the Hub for models by task, ranking and memory (the Model finder tab)"
ESTIMATE_HELP = "estimate a model's memory from its weight headers, without downloading it"


def add_find_arguments(parser: argparse.ArgumentParser) -> None:
    from apps.finder.hub import MAX_RESULTS, PRECISIONS, SORTS

    parser.add_argument(
        "--task",
        required=True,
        help="Hub pipeline tag (e.g. text-classification), one of this app's task keys, or `any`",
    )
    parser.add_argument("--search", default="", help="text the model id must contain")
    parser.add_argument("--sort", default="downloads", choices=list(SORTS), help="ranking (default downloads)")
    parser.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="most inference memory at --precision, e.g. 4GB or 1.5GiB (default: no limit)",
    )
    parser.add_argument(
        "--precision",
        default="float16",
        choices=list(PRECISIONS),
        help="dtype for --max-memory and the 'fits here' column (default float16)",
    )
    parser.add_argument("--licence", "--license", default="", help="Hub licence id, e.g. apache-2.0 (default any)")
    parser.add_argument("--library", default="transformers", help="Hub library tag (default transformers; `any`)")
    parser.add_argument("--limit", type=int, default=20, help=f"number of results, 1-{MAX_RESULTS} (default 20)")
    _add_offline(parser)


def finder_context(settings: Settings, specs: Mapping[str, TaskSpec]) -> TaskContext:
    """The Model finder's task context for a command: these settings, the registry, and no model loaded."""
    manager = ModelManager(
        loaders={},
        selection=ModelSelection(default_models(specs)),
        budget=None,
        device=settings.device,
        offline=settings.is_offline,
    )
    return TaskContext(specs["finder"], settings, manager, specs)


def find_command(args: argparse.Namespace, settings: Settings, specs: Mapping[str, TaskSpec]) -> int:
    """Print the search summary and the results table; exit status 0, or 1 with a message."""
    from apps.finder.task import find_models

    try:
        found = find_models(
            finder_context(settings, specs),
            args.task,
            args.search,
            args.sort,
            args.max_memory,
            args.precision,
            args.licence,
            args.library,
            args.limit,
        )
    except ShowcaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(_wrap(found.summary))
    print()
    print(text_table(found.columns, found.rows) if found.rows else "(no models)")
    return 0


def add_estimate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "estimate_model",
        metavar="MODEL",
        help="Hub id (org/name[@revision][#file.gguf]), a local model folder, or a .safetensors file",
    )
    parser.add_argument("--context-length", type=int, default=4096, help="tokens, for the KV cache (default 4096)")
    parser.add_argument("--batch-size", type=int, default=1, help="sequences at once, for the KV cache (default 1)")
    _add_offline(parser)


def estimate_command(args: argparse.Namespace, settings: Settings, specs: Mapping[str, TaskSpec]) -> int:
    """Print the parameter count and the memory table with its formulas; exit status 0, or 1."""
    from apps.finder.estimate import FORMULAS
    from apps.finder.task import estimate_memory

    try:
        # The machine's owner runs commands: any local folder may be read, not only the allowed ones.
        result = estimate_memory(
            finder_context(settings, specs),
            args.estimate_model,
            any_local_folder=True,
            context_length=args.context_length,
            batch_size=args.batch_size,
        )
    except ShowcaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(_wrap(result.summary))
    print()
    print(text_table(result.columns, result.rows))
    print()
    print(_wrap(FORMULAS))
    if result.plan_summary:
        print()
        print(result.plan_summary)
    return 0


def _add_offline(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: without the flag, leave `python app.py --offline find …` (the top-level flag) as it is.
    parser.add_argument(
        "--offline", action="store_true", default=argparse.SUPPRESS, help="never contact the Hub; use the local cache"
    )


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as an aligned plain-text table (numbers right-aligned, with thousands separators)."""

    def cell(value: Any) -> str:
        return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)

    cells = [[cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    numeric = [any(isinstance(row[i], int) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if number else value.ljust(width)
            for value, width, number in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(list(headers)), line(["-" * width for width in widths]), *(line(row) for row in cells)])


def _wrap(markdown: str, width: int = 100) -> str:
    """Markdown made plain for a terminal: no bold markers or backticks, wrapped."""
    text = re.sub(r"\*\*|`", "", markdown)
    return "\n".join(textwrap.fill(paragraph, width) for paragraph in text.split("\n\n"))
