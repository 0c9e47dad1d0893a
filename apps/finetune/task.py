"""The Fine-tune task functions: validate a dataset, train a LoRA adapter (streaming progress), status, stop.

No gradio here: the tab, the API and the CLI (`python app.py finetune`) call these.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core import storage
from apps.core.errors import InputError
from apps.core.refs import ADAPTER_MARK, ModelRef
from apps.core.spec import TaskContext
from apps.core.storage import check_name
from apps.finetune import training
from apps.finetune.data import (
    Dataset,
    Tokenized,
    parse_hub_id,
    preview,
    read_dataset,
    read_hub_dataset,
    split,
    tokenize,
)

PREVIEW_ROWS = 3
POLL_SECONDS = 0.5
# Settings past the API's first ten parameters, in the order `/finetune` and the tab's "More settings" take them;
# each is a CLI flag of the same name (`--gradient-accumulation` …).
MORE_SETTINGS = (
    "epochs",
    "gradient_accumulation",
    "lora_dropout",
    "target_modules",
    "validation_fraction",
    "seed",
    "long_rows",
)


@dataclass
class Validation:
    """What the dataset check found: counts, the split, truncated rows, and the first rows as the model sees them."""

    rows: int
    train: list[Tokenized]
    validation: list[Tokenized]
    truncated: list[int]
    preview: list[list[tuple[str, str | None]]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        tokens = sum(len(t.input_ids) for t in self.train + self.validation)
        lines = [
            f"{self.rows} valid rows: {len(self.train)} for training, {len(self.validation)} for validation; "
            f"{tokens} tokens in all."
        ]
        if self.truncated:
            shown = ", ".join(str(row) for row in self.truncated[:20])
            lines.append(f"Rows longer than the max length were truncated: {shown}.")
        return "\n".join(lines)


@dataclass
class FinetuneProgress:
    """One progress report: the status dict, the loss table, and the adapter ref once one is saved."""

    summary: str
    loss: list[list[Any]]
    adapter: str
    status: dict[str, Any]


def base_model(ctx: TaskContext, model: str | None) -> ModelRef:
    """The base to train: the Chat tab's model unless one is named (curated, a Hub id or a local folder)."""
    if isinstance(model, str) and "+adapter:" in model:
        raise InputError("Train on a base model, not on an adapter: drop the `+adapter:NAME` part.")
    return ctx.for_task("chat").resolve_model(model)


def validate(
    ctx: TaskContext,
    model: str | None,
    dataset: str | None,
    max_length: int = 256,
    dataset_id: str | None = None,
    **options: Any,
) -> Validation:
    """Check the dataset (a file, or a Hub dataset id) against the model's chat template, split it as training
    would (`options`: validation_fraction, seed, long_rows); InputError with the bad rows' numbers."""
    config = training.TrainingConfig.checked(name="check", max_length=max_length, **options)
    parsed = _read(ctx, dataset, dataset_id)
    ref = base_model(ctx, model)
    with ctx.manager.use("chat", ref) as engine:
        tokenizer = engine.tokenizer
        return _tokenized(tokenizer, parsed, config)


def _read(ctx: TaskContext, dataset: str | None, dataset_id: str | None = None) -> Dataset:
    """The dataset file's rows, or a Hub dataset's (`org/name[:split]`); exactly one of the two is given."""
    if dataset_id is not None and not isinstance(dataset_id, str):
        raise InputError("The Hub dataset id must be text such as `org/name`.")
    hub = (dataset_id or "").strip()
    if hub:
        parse_hub_id(hub)  # a malformed id is named as such, whatever else was given
    if hub and dataset:
        raise InputError("Give either a dataset file or a Hub dataset id, not both: clear one of them.")
    if hub:
        parsed = read_hub_dataset(hub)
    elif not dataset or not isinstance(dataset, str):
        raise InputError(
            "Upload a dataset: a .jsonl file (messages, or prompt/response) or a .csv (prompt,response), "
            "or give a Hub dataset id (org/name)."
        )
    else:
        parsed = read_dataset(dataset, ctx.settings.max_upload_bytes)
    parsed.raise_if_invalid()
    return parsed


def _tokenized(tokenizer: Any, parsed: Dataset, config: training.TrainingConfig) -> Validation:
    refuse = config.long_rows == "refuse"
    # Refusing: each row whole, so that a long one is named as such (cut, it may have no reply left to learn).
    limit = sys.maxsize if refuse else config.max_length
    tokenized = [tokenize(tokenizer, example, limit) for example in parsed.examples]
    long = [item for item in tokenized if len(item.input_ids) > config.max_length]
    if long and refuse:
        rows = ", ".join(str(item.row) for item in long[:20]) + (" …" if len(long) > 20 else "")
        raise InputError(
            f"{len(long)} row{'s' if len(long) > 1 else ''} longer than the max length of {config.max_length} "
            f"tokens (long rows: refuse): row {rows}. Raise the max length, shorten them, or choose truncate."
        )
    train, held_out = split(tokenized, config.validation_fraction, config.seed)
    shown = [preview(tokenizer, item) for item in tokenized[:PREVIEW_ROWS]]
    truncated = [item.row for item in tokenized if item.truncated]
    return Validation(len(tokenized), train, held_out, truncated, shown)


def finetune(
    ctx: TaskContext,
    model: str | None,
    dataset: str | None,
    name: str,
    steps: int = 60,
    learning_rate: float = 2e-3,
    lora_r: int = 16,
    lora_alpha: int = 32,
    max_length: int = 256,
    batch_size: int = 2,
    dataset_id: str | None = None,
    epochs: float = 0.0,
    gradient_accumulation: int = 1,
    lora_dropout: float = 0.0,
    target_modules: str = "all-linear",
    validation_fraction: float = 0.2,
    seed: int = 0,
    long_rows: str = "truncate",
    **options: Any,
) -> Iterator[FinetuneProgress]:
    """Train a LoRA adapter NAME on the dataset (a file, or the Hub dataset `dataset_id`), yielding progress until
    the run ends (it keeps going in the background if the caller goes away). The last report carries the adapter
    ref `BASE+adapter:NAME`."""
    config = training.TrainingConfig.checked(
        name=name,
        steps=steps,
        learning_rate=learning_rate,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        max_length=max_length,
        batch_size=batch_size,
        epochs=epochs,
        gradient_accumulation=gradient_accumulation,
        lora_dropout=lora_dropout,
        target_modules=target_modules,
        validation_fraction=validation_fraction,
        seed=seed,
        long_rows=long_rows,
        **options,  # save_every, eval_every (the CLI and tests)
    )
    parsed = _read(ctx, dataset, dataset_id)
    ref = base_model(ctx, model)

    def prepare(trainable: training.Trainable) -> tuple[list[Tokenized], list[Tokenized]]:
        checked = _tokenized(trainable.tokenizer, parsed, config)
        return checked.train, checked.validation

    job = training.start(ctx.manager, ref, config, ctx.settings.data_path, prepare)
    yield from follow(job)


def follow(job: training.Job) -> Iterator[FinetuneProgress]:
    """Progress of `job` every POLL_SECONDS until it ends (the last report is the final state)."""
    last = None
    while True:
        status = job.status()
        key = (status["state"], status["step"], len(job.val_loss))
        if key != last:
            last = key
            yield progress_of(job)
        if not job.running:
            break
        time.sleep(POLL_SECONDS)
    if job.state == "failed":
        raise InputError(f"Training `{job.config.name}` failed: {job.message}")


def progress_of(job: training.Job) -> FinetuneProgress:
    return FinetuneProgress(summary_text(job), job.loss_rows(), job.adapter_ref, job.status())


def summary_text(job: training.Job) -> str:
    status = job.status()
    parts = [f"{job.config.name}: {status['state']}, step {status['step']} of {status['steps']}"]
    if status["train_loss"] is not None:
        parts.append(f"train loss {status['train_loss']:.4f}")
    if status["val_loss"] is not None:
        parts.append(f"validation loss {status['val_loss']:.4f}")
    if status["eta_seconds"] is not None:
        parts.append(f"about {status['eta_seconds']:.0f} s left")
    if status["saved_step"]:
        parts.append(f"saved at step {status['saved_step']}")
    text = ", ".join(parts) + "."
    return f"{text}\n{job.message}" if job.message else text


def status(ctx: TaskContext) -> dict[str, Any]:
    """The running (or last) run's status, or {"state": "idle"}."""
    job = training.current_job()
    return {"state": "idle"} if job is None else job.status()


def stop(ctx: TaskContext) -> dict[str, Any]:
    """Stop the running run after its current step (its last checkpoint is kept); its status."""
    job = training.stop()
    if job is None:
        return {"state": "idle", "message": "No training run is in progress."}
    return job.status()


def adapter_folder(ctx: TaskContext, name: str) -> Path:
    """The saved adapter NAME's folder; InputError if there is none."""
    name = check_name(name, "adapter")
    folder = training.adapters_root(ctx.settings.data_path) / name
    if not (folder / "adapter_config.json").is_file():
        raise InputError(f"There is no adapter `{name}` yet: train one first.")
    return folder


def adapter_ref(ctx: TaskContext, name: str) -> str:
    """`BASE+adapter:NAME` for a saved adapter (its base is in its training.json)."""
    folder = adapter_folder(ctx, name)
    base = (storage.read_json(folder / "training.json") or {}).get("base")
    if not isinstance(base, str) or not base:
        raise InputError(f"Adapter `{name}` does not say which base model it was trained on (no training.json).")
    return f"{base}{ADAPTER_MARK}{folder.name}"


def compare(ctx: TaskContext, prompt: str, name: str, max_new_tokens: int = 64) -> tuple[str, str]:
    """(base model's reply, fine-tuned reply) to one prompt, greedy, with no system prompt (as trained)."""
    tuned = adapter_ref(ctx, name)
    base = tuned.rpartition(ADAPTER_MARK)[0]
    answers = [
        ctx.run_task("chat", prompt, [], "", max_new_tokens, 0.0, 1.0, 1.0, model).text for model in (base, tuned)
    ]
    return answers[0], answers[1]


def merge_and_save(ctx: TaskContext, name: str) -> str:
    """Save base + adapter merged into one full model folder (SHOWCASE_DATA_DIR/merged/NAME); its path."""
    tuned = adapter_ref(ctx, name)
    target = storage.folder(ctx.settings.data_path, "merged") / check_name(name, "adapter")
    with ctx.for_task("chat").use(tuned) as engine:  # the chat loader already merged the adapter in
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        try:
            engine.model.save_pretrained(str(staging))
            engine.tokenizer.save_pretrained(str(staging))
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return str(target)


def push_to_hub(ctx: TaskContext, name: str, repo_id: str, token: str) -> str:
    """Upload the adapter folder (with its model card) to a Hub model repo; the repo's URL."""
    if not token or not token.strip():
        raise InputError("Give a Hugging Face token with write access to push the adapter.")
    ModelRef.parse(repo_id)  # the same id rules as any model: org/name
    folder = adapter_folder(ctx, name)
    from huggingface_hub import HfApi

    api = HfApi(token=token.strip())
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message=f"LoRA adapter {name}")
    return f"https://huggingface.co/{repo_id}"


def cli_command(
    model: str,
    dataset: str,
    name: str,
    steps: Any,
    learning_rate: Any,
    lora_r: Any,
    lora_alpha: Any,
    max_length: Any,
    batch_size: Any,
    dataset_id: str | None = None,
    *more: Any,
) -> str:
    """The `python app.py finetune ...` command that runs the same training as these settings (`more`: the values
    of MORE_SETTINGS, shown only where they differ from the defaults)."""
    parts = ["python app.py finetune"]
    if model and str(model).strip():
        parts.append(f"--model {shlex.quote(str(model).strip())}")
    hub = dataset_id.strip() if isinstance(dataset_id, str) else ""
    data = hub or (Path(dataset).name if dataset else "FILE.jsonl")
    parts.append(f"--data {shlex.quote(data)}")
    parts.append(f"--name {shlex.quote((name or '').strip() or 'NAME')}")
    for flag, value in (
        ("steps", steps),
        ("learning-rate", learning_rate),
        ("lora-r", lora_r),
        ("lora-alpha", lora_alpha),
        ("max-length", max_length),
        ("batch-size", batch_size),
    ):
        if value is not None and str(value).strip():
            parts.append(f"--{flag} {shlex.quote(_number_text(value))}")
    defaults = training.TrainingConfig(name="default")
    for key, value in zip(MORE_SETTINGS, more, strict=False):
        if value is None or not str(value).strip():
            continue
        default = getattr(defaults, key)
        text = str(value).strip() if isinstance(default, str) else _number_text(value)
        if key == "target_modules":
            with contextlib.suppress(InputError):  # a bad list is shown as typed; the run names the problem
                text = training.target_modules_text(text)
        if text != (default if isinstance(default, str) else _number_text(default)):
            parts.append(f"--{key.replace('_', '-')} {shlex.quote(text)}")
    return " ".join(parts)


def _number_text(value: Any) -> str:
    """A slider's number as the CLI reads it: 60.0 → 60 (its whole-number flags refuse "60.0"), 0.002 → 0.002."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"
