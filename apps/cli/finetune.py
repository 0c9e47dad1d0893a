"""`python app.py finetune --model REF --data FILE --name NAME [...]`: the Fine-tune tab's run in a terminal.

It calls the same task function as the tab and `/finetune` (`apps/finetune/task.py`) and prints the same
progress lines (state, step of steps, train and validation loss, time left, last checkpoint). Ctrl-C stops
the run after its current step and keeps the adapter as of that step, as the tab's Stop button does.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apps.core.errors import ShowcaseError
from apps.core.manager import ModelManager
from apps.core.settings import Settings
from apps.core.spec import TaskContext, TaskSpec

FINETUNE_HELP = "train a LoRA adapter on a chat model from a .jsonl/.csv file or a Hub dataset (the Fine-tune tab)"


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    from apps.finetune.training import TrainingConfig

    defaults = TrainingConfig(name="default")
    # dest base_model: the serving flag `--model TASK=REF` (before the command) keeps its own meaning.
    parser.add_argument(
        "--model",
        dest="base_model",
        default="",
        metavar="REF",
        help="base chat model: a Hub id, a local folder, FOLDER#FILE.gguf (default: the Chat tab's model)",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="a .jsonl (messages, or prompt/response) or .csv (prompt,response) file, or a Hub dataset id "
        "org/name[:split]",
    )
    parser.add_argument("--name", required=True, help="the adapter's name (saved in SHOWCASE_DATA_DIR/adapters/NAME)")
    parser.add_argument("--steps", type=int, default=defaults.steps, help=f"optimizer steps (default {defaults.steps})")
    parser.add_argument(
        "--learning-rate", type=float, default=defaults.learning_rate, help=f"default {defaults.learning_rate}"
    )
    parser.add_argument("--lora-r", type=int, default=defaults.lora_r, help=f"LoRA rank (default {defaults.lora_r})")
    parser.add_argument("--lora-alpha", type=int, default=defaults.lora_alpha, help=f"default {defaults.lora_alpha}")
    parser.add_argument(
        "--max-length",
        type=int,
        default=defaults.max_length,
        help=f"tokens per example (default {defaults.max_length})",
    )
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"default {defaults.batch_size}")
    parser.add_argument(
        "--epochs",
        type=float,
        default=defaults.epochs,
        help="passes over the training rows; above 0 it replaces --steps (default 0: train for --steps)",
    )
    parser.add_argument(
        "--gradient-accumulation",
        type=int,
        default=defaults.gradient_accumulation,
        help=f"batches per optimizer step (default {defaults.gradient_accumulation})",
    )
    parser.add_argument(
        "--lora-dropout", type=float, default=defaults.lora_dropout, help=f"default {defaults.lora_dropout}"
    )
    parser.add_argument(
        "--target-modules",
        default=defaults.target_modules,
        help="the layers LoRA adapts: all-linear, or names such as q_proj,v_proj (default all-linear)",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=defaults.validation_fraction,
        help=f"rows held out for the validation loss, 0 to 0.5 (default {defaults.validation_fraction})",
    )
    parser.add_argument(
        "--seed", type=int, default=defaults.seed, help=f"the split and training seed (default {defaults.seed})"
    )
    parser.add_argument(
        "--long-rows",
        choices=("truncate", "refuse"),
        default=defaults.long_rows,
        help="rows longer than --max-length: truncate them, or refuse the dataset naming them (default truncate)",
    )
    parser.add_argument(
        "--save-every",
        type=int,
        default=defaults.save_every,
        help=f"save a checkpoint every N steps (default {defaults.save_every})",
    )


def dataset_source(data: str) -> tuple[str | None, str | None]:
    """(file, Hub dataset id) for `--data`: an existing file, or else a Hub id."""
    path = Path(data).expanduser()
    if path.is_file() or path.suffix.lower() in (".jsonl", ".json", ".csv"):
        return str(path), None
    return None, data


def finetune_command(
    args: argparse.Namespace, settings: Settings, specs: Mapping[str, TaskSpec], manager: ModelManager
) -> int:
    """Train, printing a progress line whenever the step or a loss changes; exit status 0 when the run ends
    done or stopped (the adapter is saved), 1 when it fails, 2 for bad input."""
    from apps.finetune import task, training

    ctx = TaskContext(specs["finetune"], settings, manager, specs)
    dataset, dataset_id = dataset_source(args.data)
    updates = task.finetune(
        ctx,
        args.base_model,
        dataset,
        args.name,
        args.steps,
        args.learning_rate,
        args.lora_r,
        args.lora_alpha,
        args.max_length,
        args.batch_size,
        dataset_id,
        save_every=args.save_every,
        **{key: getattr(args, key) for key in task.MORE_SETTINGS},
    )
    interrupted = threading.Event()

    def on_interrupt(signum: int, frame: Any) -> None:
        # Ctrl-C asks the run to stop and never raises: a KeyboardInterrupt that lands while the main thread runs
        # a finalizer (__del__, the garbage collector) is printed as "Exception ignored" and lost, and the run
        # went on training (seen once in CI). Ctrl-C again changes nothing; the run ends after its step.
        interrupted.set()
        training.stop()

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if main_thread else None
    last = None
    announced = False
    try:
        for update in updates:
            last = update
            if interrupted.is_set() and not announced:
                announced = True
                training.stop()  # again: a Ctrl-C while the model was loading found no run to stop yet
                print("Stopping after the current step (the adapter as of that step is kept)…", flush=True)
            print(update.summary.splitlines()[0], flush=True)
    except ShowcaseError as exc:
        print(f"finetune: {exc}", flush=True)
        return 1 if last is not None else 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        job = training.current_job()
        if job is not None and job.thread is not None:
            # The run's thread unloads its model after reporting the end: a process exiting under it aborts.
            job.thread.join()
    if last is None:
        return 1
    message = last.status.get("message")
    if message:
        print(message)
    if last.adapter:
        print(f"Adapter: {last.adapter} (a model for the Chat tab, /chat and /v1)")
    return 0 if last.status["state"] in ("done", "stopped") else 1
