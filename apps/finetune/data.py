"""Fine-tuning datasets: read a .jsonl or .csv file or a Hub dataset, check every row, tokenize with the chat template.

Rows become conversations (`[{"role", "content"}, ...]`). Every problem is reported with its row number
before any training starts, so a dataset never fails silently halfway through a run. Tokenizing marks the
tokens that carry loss (the assistant's turns) so the preview can show them and the trainer can mask the rest.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core import libraries
from apps.core.errors import InputError

ROLES = ("system", "user", "assistant")
MAX_ERRORS_SHOWN = 20  # a file with thousands of bad rows gets the first ones, and the count
IGNORE_INDEX = -100  # labels with this value carry no loss (transformers' convention)
MIN_ROWS = 2  # one row cannot be split into training and validation, nor teach anything general
MAX_HUB_ROWS = 100_000  # the rows of a Hub dataset's split that are checked and used (a file has its byte cap)
# `org/name` or a legacy `name`, optionally `:split` (default train), as the Hub spells dataset ids.
HUB_DATASET_PATTERN = re.compile(
    r"(?P<repo>[A-Za-z0-9][\w.-]{0,95}(?:/[A-Za-z0-9][\w.-]{0,95})?)(?::(?P<split>\w[\w.-]{0,63}))?"
)

Message = dict[str, str]


@dataclass
class Example:
    """One valid row: its number in the file (1-based, header excluded for CSV) and its conversation."""

    row: int
    messages: list[Message]


@dataclass
class Dataset:
    """The valid rows and a message per bad row ("row 3: ...")."""

    examples: list[Example]
    errors: list[str] = field(default_factory=list)

    def raise_if_invalid(self) -> None:
        """InputError listing the bad rows (the first MAX_ERRORS_SHOWN), or when too few rows are left."""
        if self.errors:
            shown = "\n".join(self.errors[:MAX_ERRORS_SHOWN])
            more = len(self.errors) - MAX_ERRORS_SHOWN
            tail = f"\n… and {more} more." if more > 0 else ""
            raise InputError(f"The dataset has {len(self.errors)} bad row(s); fix them and try again:\n{shown}{tail}")
        if len(self.examples) < MIN_ROWS:
            raise InputError(
                f"The dataset has {len(self.examples)} row(s): give at least {MIN_ROWS} examples "
                "(a few dozen is better) so that some can be kept aside for validation."
            )


def read_dataset(path: str | Path, max_bytes: int) -> Dataset:
    """Read and check a .jsonl or .csv file; InputError for a file that cannot be a dataset at all."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No dataset file at `{path.name}`: upload a .jsonl or .csv file.")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"The dataset is {size / 1e6:.1f} MB, more than the {max_bytes / 1e6:.0f} MB allowed "
            "(SHOWCASE_MAX_UPLOAD_MB): use a smaller sample."
        )
    if size == 0:
        raise InputError("The dataset file is empty: give one example per line (.jsonl) or per row (.csv).")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("The dataset is not UTF-8 text: save it as UTF-8 .jsonl or .csv.") from None
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return parse_jsonl(text)
    if suffix == ".csv":
        return parse_csv(text)
    raise InputError(f"`{path.name}` is not a .jsonl or .csv file.")


def parse_hub_id(dataset_id: str) -> tuple[str, str]:
    """(repo id, split) of `org/name[:split]`; InputError for anything else."""
    text = dataset_id.strip()
    match = HUB_DATASET_PATTERN.fullmatch(text)
    if not match or ".." in text:
        raise InputError(
            f"“{text[:80]}” is not a Hub dataset id: use `org/name` (optionally `org/name:split`; the default split is "
            "train), or upload a .jsonl or .csv file instead."
        )
    if Path(match["repo"]).exists():
        # `datasets` would read a folder of the server's by that name instead of asking the Hub.
        raise InputError(f"`{match['repo']}` names a path on the server, not a Hub dataset: upload the file instead.")
    return match["repo"], match["split"] or "train"


def read_hub_dataset(dataset_id: str) -> Dataset:
    """Load a split of a Hub dataset with `datasets` and check its rows like a file's (row numbers from 1).

    Its columns must be `messages`, or `prompt` and `response`. Offline (HF_HUB_OFFLINE=1), only a dataset
    already in the `datasets` cache loads; otherwise InputError says the Hub cannot be reached.
    """
    repo, split = parse_hub_id(dataset_id)
    with libraries.exclusive():  # a first import of datasets (pyarrow, pandas) beside a model load can fail halfway
        import datasets

    try:
        loaded = datasets.load_dataset(repo, split=split)
    except ConnectionError as exc:
        raise InputError(
            f"Could not reach the Hugging Face Hub to load the dataset `{repo}` ({_reason(exc)}), and it is not in "
            "the local `datasets` cache: check the connection (and HF_HUB_OFFLINE), or save the dataset as a .jsonl "
            "file and upload that."
        ) from None
    except FileNotFoundError as exc:  # datasets' DatasetNotFoundError is one
        raise InputError(
            f"There is no dataset `{repo}` on the Hub (or it is private or gated): {_reason(exc)}"
        ) from None
    except ValueError as exc:  # an unknown split: its message lists the ones there are
        raise InputError(f"Dataset `{repo}` has no split `{split}`: {_reason(exc)}") from None
    if isinstance(loaded, dict):  # a DatasetDict (no split asked for) cannot happen with split=; be safe
        raise InputError(f"Name a split of `{repo}`: `{repo}:train`.")
    columns = list(loaded.column_names)
    if "messages" not in columns and not {"prompt", "response"} <= set(columns):
        raise InputError(
            f"Dataset `{repo}` has columns {', '.join(columns[:12])}; it needs `messages` (chat format), or "
            "`prompt` and `response`."
        )
    wanted = ["messages"] if "messages" in columns else ["prompt", "response"]
    dataset = Dataset([])
    for number, row in enumerate(loaded.select_columns(wanted).select(range(min(len(loaded), MAX_HUB_ROWS))), 1):
        _add(dataset, number, dict(row))
    if not dataset.examples and not dataset.errors:
        raise InputError(f"The split `{split}` of dataset `{repo}` has no rows.")
    return dataset


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def parse_jsonl(text: str) -> Dataset:
    """One JSON object a line: `{"messages": [...]}` or `{"prompt": ..., "response": ...}`."""
    dataset = Dataset([])
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            dataset.errors.append(f"row {number}: not valid JSON ({exc.msg} at column {exc.colno}).")
            continue
        _add(dataset, number, row)
    if not dataset.examples and not dataset.errors:
        raise InputError("The dataset file has no rows: give one JSON object per line.")
    return dataset


def parse_csv(text: str) -> Dataset:
    """A header row with `prompt` and `response` columns, then one example a row."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in (reader.fieldnames or [])]
    if not columns:
        raise InputError("The CSV file has no header row: its first line must be `prompt,response`.")
    missing = [name for name in ("prompt", "response") if name not in columns]
    if missing:
        raise InputError(
            f"The CSV file has columns {', '.join(columns)}; it needs `prompt` and `response` "
            f"(missing: {', '.join(missing)})."
        )
    reader.fieldnames = columns
    dataset = Dataset([])
    for number, row in enumerate(reader, start=1):
        _add(dataset, number, {"prompt": row.get("prompt"), "response": row.get("response")})
    if not dataset.examples and not dataset.errors:
        raise InputError("The CSV file has a header but no rows.")
    return dataset


def _add(dataset: Dataset, number: int, row: Any) -> None:
    try:
        dataset.examples.append(Example(number, row_messages(row)))
    except InputError as exc:
        dataset.errors.append(f"row {number}: {exc}")


def row_messages(row: Any) -> list[Message]:
    """The conversation of one row; InputError saying what is wrong with it."""
    if not isinstance(row, dict):
        raise InputError('each row must be a JSON object: {"messages": [...]} or {"prompt": ..., "response": ...}.')
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            raise InputError("`messages` must be a non-empty list of {role, content} objects.")
        out = []
        for index, message in enumerate(messages, start=1):
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                raise InputError(f"message {index} needs `role` and `content`.")
            role, content = message["role"], message["content"]
            if role not in ROLES:
                raise InputError(f"message {index} has role `{str(role)[:40]}`; use one of {', '.join(ROLES)}.")
            if not isinstance(content, str) or not content.strip():
                raise InputError(f"message {index} ({role}) has empty text.")
            out.append({"role": role, "content": content})
        if not any(message["role"] == "assistant" for message in out):
            raise InputError("there is no assistant message, so nothing to learn.")
        if out[0]["role"] == "assistant" or (out[0]["role"] == "system" and len(out) > 1 and out[1]["role"] != "user"):
            raise InputError("the conversation must start with a user message (after an optional system one).")
        return out
    if "prompt" in row or "response" in row:
        prompt, response = row.get("prompt"), row.get("response")
        for name, value in (("prompt", prompt), ("response", response)):
            if value is None:
                raise InputError(f"`{name}` is missing.")
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"`{name}` is empty.")
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    keys = ", ".join(sorted(str(key) for key in row)[:8]) or "none"
    raise InputError(f'has fields {keys}; it needs "messages", or "prompt" and "response".')


# -- tokenizing -----------------------------------------------------------------------------------


@dataclass
class Tokenized:
    """One example as the model sees it: token ids and labels (IGNORE_INDEX where no loss is taken)."""

    row: int
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False


def _template_ids(tokenizer: Any, messages: list[Message], generation_prompt: bool) -> list[int]:
    encoded = tokenizer.apply_chat_template(
        messages, add_generation_prompt=generation_prompt, tokenize=True, return_dict=True
    )
    return list(encoded["input_ids"])


def tokenize(tokenizer: Any, example: Example, max_length: int) -> Tokenized:
    """Token ids through the chat template; only the assistant turns (and their end-of-turn) carry loss.

    Each assistant turn's tokens are found by rendering the conversation up to it: the template's
    prefix for "the assistant speaks next" ends where that turn's own tokens start.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise InputError("The model has no chat template: fine-tune an instruction-tuned chat model.")
    ids = _template_ids(tokenizer, example.messages, False)
    labels = [IGNORE_INDEX] * len(ids)
    for index, message in enumerate(example.messages):
        if message["role"] != "assistant":
            continue
        start = len(_template_ids(tokenizer, example.messages[:index], True))
        end = len(_template_ids(tokenizer, example.messages[: index + 1], False))
        labels[start:end] = ids[start:end]
    truncated = len(ids) > max_length
    ids, labels = ids[:max_length], labels[:max_length]
    if all(label == IGNORE_INDEX for label in labels):
        raise InputError(
            f"row {example.row}: with max length {max_length} tokens no assistant text is left; "
            "raise the max length or shorten the prompt."
        )
    return Tokenized(example.row, ids, labels, truncated)


def split(examples: list[Any], validation_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """(train, validation): a seeded shuffle; at least one validation example, at least one for training."""
    order = list(examples)
    random.Random(seed).shuffle(order)
    count = min(len(order) - 1, max(1, round(len(order) * validation_fraction))) if validation_fraction > 0 else 0
    return order[count:], order[:count]


def preview(tokenizer: Any, tokenized: Tokenized) -> list[tuple[str, str | None]]:
    """(text, "loss" or None) pieces of one example, for gr.HighlightedText: the loss-carrying tokens marked."""
    pieces: list[tuple[str, str | None]] = []
    run: list[int] = []
    carrying: bool | None = None
    for token, label in zip(tokenized.input_ids, tokenized.labels, strict=True):
        marked = label != IGNORE_INDEX
        if carrying is not None and marked != carrying:
            pieces.append((tokenizer.decode(run), "loss" if carrying else None))
            run = []
        run.append(token)
        carrying = marked
    if run:
        pieces.append((tokenizer.decode(run), "loss" if carrying else None))
    return pieces
