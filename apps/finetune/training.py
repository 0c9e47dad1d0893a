"""LoRA training with peft + transformers' Trainer, one run at a time, in a background thread.

The trainable copy of the base model is loaded through the model manager by the `finetune` task's own
loader (`load_trainable`): peft injects LoRA layers into the model it wraps, so it must never be the copy
the Chat tab is answering with. The manager counts that copy in the memory budget while the run holds it;
`memory_needed` adds the LoRA parameters, their optimizer state and the activations, and the run makes
room (evicting idle models) or refuses with the numbers before the first step.

The adapter is saved atomically to SHOWCASE_DATA_DIR/adapters/NAME every `save_every` steps and at the
end (or on Stop), with its training config (`training.json`) and a model card (`README.md`), so a run that
is stopped or killed leaves the last checkpoint loadable as `BASE+adapter:NAME`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from apps.core import libraries, storage
from apps.core.errors import InputError, MemoryBudgetError, ShowcaseError
from apps.core.manager import LoadRequest, ModelManager
from apps.core.refs import ModelRef
from apps.core.weights import format_bytes
from apps.finetune.data import IGNORE_INDEX, Tokenized

log = logging.getLogger("showcase.finetune")

ADAPTERS = "adapters"  # the folder under SHOWCASE_DATA_DIR
ADAM_STATES = 2  # AdamW keeps two moments per trainable parameter
ACTIVATION_FACTOR = 16  # hidden-size floats kept per token and layer for backward (attention + MLP), measured loosely


LONG_ROWS = ("truncate", "refuse")  # what happens to a row longer than the max length
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@dataclass(frozen=True)
class TrainingConfig:
    """What one run does; `TrainingConfig.checked(...)` validates what a visitor typed."""

    name: str
    steps: int = 60
    learning_rate: float = 2e-3
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str = "all-linear"  # peft's shortcut: every linear layer except the output head
    max_length: int = 256
    batch_size: int = 2
    gradient_accumulation: int = 1
    validation_fraction: float = 0.2
    seed: int = 0
    epochs: float = 0.0  # above 0: passes over the training rows, instead of `steps`
    long_rows: str = "truncate"  # or "refuse": a row over max_length is an error naming it
    eval_every: int = 10
    save_every: int = 20

    @classmethod
    def checked(cls, **values: Any) -> TrainingConfig:
        """A config from user values; InputError names the setting out of range."""
        whole = {
            "steps": (1, 10_000),
            "lora_r": (1, 256),
            "lora_alpha": (1, 1024),
            "max_length": (16, 8192),
            "batch_size": (1, 256),
            "gradient_accumulation": (1, 256),
            "seed": (0, 2**32 - 1),
            "eval_every": (1, 10_000),
            "save_every": (0, 10_000),
        }
        fractions = {  # (low, high, the sentence when out of range)
            "lora_dropout": (0.0, 0.9, "LoRA dropout must be between 0 and 0.9 (0.05 is common)."),
            "validation_fraction": (0.0, 0.5, "The validation fraction must be between 0 and 0.5 (0 = none)."),
            "epochs": (0.0, 1000.0, "Epochs must be between 0 and 1000 (0 = train for the number of steps)."),
        }
        out: dict[str, Any] = {"name": storage.check_name(values.pop("name", None), "adapter")}
        for key, value in values.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue  # left empty: the default
            if key in whole:
                low, high = whole[key]
                try:
                    number = int(value)
                except (TypeError, ValueError):
                    raise InputError(f"{key.replace('_', ' ')} must be a whole number.") from None
                if number != value and not isinstance(value, str) and float(value) != number:
                    raise InputError(f"{key.replace('_', ' ')} must be a whole number.")
                if not low <= number <= high:
                    raise InputError(f"{key.replace('_', ' ')} must be between {low} and {high}.")
                out[key] = number
            elif key in fractions:
                low, high, sentence = fractions[key]
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    raise InputError(sentence) from None
                if not low <= number <= high:  # NaN fails both comparisons
                    raise InputError(sentence)
                out[key] = number
            elif key == "learning_rate":
                try:
                    rate = float(value)
                except (TypeError, ValueError):
                    raise InputError("The learning rate must be a number such as 0.0002.") from None
                if not 0 < rate <= 1:
                    raise InputError("The learning rate must be above 0 and at most 1 (try 0.0002 to 0.002).")
                out[key] = rate
            elif key == "target_modules":
                out[key] = target_modules_text(value)
            elif key == "long_rows":
                choice = str(value).strip().lower()
                if choice not in LONG_ROWS:
                    raise InputError("Long rows must be `truncate` or `refuse`.")
                out[key] = choice
            else:
                raise InputError(f"Unknown training setting `{key}`.")
        return cls(**out)

    @property
    def modules(self) -> str | list[str]:
        """`target_modules` as peft takes it: "all-linear", or a list of module names."""
        if self.target_modules == "all-linear":
            return "all-linear"
        return self.target_modules.split(",")

    def total_steps(self, train_rows: int) -> int:
        """Optimizer steps of the run: `steps`, or enough for `epochs` passes over `train_rows` rows."""
        if self.epochs <= 0:
            return self.steps
        per_epoch = math.ceil(train_rows / self.batch_size / self.gradient_accumulation)
        return max(1, math.ceil(self.epochs * per_epoch))


def target_modules_text(value: Any) -> str:
    """ "all-linear", or module names such as `q_proj,v_proj` (commas or spaces); InputError otherwise."""
    if not isinstance(value, str):
        raise InputError("Target modules must be text: `all-linear`, or names such as `q_proj,v_proj`.")
    if len(value) > 2000:
        raise InputError(f"Target modules are {len(value):,} characters long: list layer names such as q_proj,v_proj.")
    names = [name for name in re.split(r"[,\s]+", value.strip()) if name]
    if not names or names == ["all-linear"]:
        return "all-linear"
    bad = [name for name in names if not MODULE_NAME.fullmatch(name)]
    if bad or "all-linear" in names:
        raise InputError(
            f"Target modules must be `all-linear` or layer names such as `q_proj,v_proj`; not `{(bad or names)[0]}`."
        )
    return ",".join(dict.fromkeys(names))


@dataclass
class Job:
    """One training run as the tab, the API and the CLI see it."""

    config: TrainingConfig
    base: str
    state: str = "starting"  # starting, training, stopping, done, stopped, failed
    step: int = 0
    total: int = 0
    train_loss: list[tuple[int, float]] = field(default_factory=list)
    val_loss: list[tuple[int, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    message: str = ""
    adapter_ref: str = ""
    saved_step: int = 0
    step_ends: list[float] = field(default_factory=list)  # time.perf_counter() as each step ended (bench.finetune)
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.state in ("starting", "training", "stopping")

    @property
    def eta_seconds(self) -> float | None:
        if self.step <= 0 or not self.running:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed / self.step * (self.total - self.step)

    def status(self) -> dict[str, Any]:
        """A JSON-able summary for `/finetune_status` and the tab."""
        eta = self.eta_seconds
        return {
            "name": self.config.name,
            "base": self.base,
            "state": self.state,
            "step": self.step,
            "steps": self.total,
            "train_loss": self.train_loss[-1][1] if self.train_loss else None,
            "val_loss": self.val_loss[-1][1] if self.val_loss else None,
            "eta_seconds": None if eta is None else round(eta, 1),
            "elapsed_seconds": round((self.finished or time.monotonic()) - self.started, 1),
            "saved_step": self.saved_step,
            "adapter": self.adapter_ref,
            "message": self.message,
        }

    def loss_rows(self) -> list[list[Any]]:
        """[step, train loss, validation loss or None], one row per logged step."""
        validation = dict(self.val_loss)
        return [[step, round(loss, 4), _round(validation.get(step))] for step, loss in self.train_loss]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


_lock = threading.Lock()
_current: Job | None = None  # the running job, or the last one (for re-attaching after a page reload)


def current_job() -> Job | None:
    return _current


# -- the model ------------------------------------------------------------------------------------


@dataclass
class Trainable:
    """A freshly loaded base model (this copy is trained, never shared) and its tokenizer."""

    model: Any
    tokenizer: Any
    name: str


def load_trainable(request: LoadRequest) -> Trainable:
    """The `finetune` task's loader: tokenizer + causal LM (GGUF de-quantized to `request.dtype`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from apps.shared import gguf_cache

    options: dict[str, Any] = {"trust_remote_code": request.trust_remote_code, "local_files_only": True}
    # float16 weights cannot carry float32 LoRA gradients well on CPU; train in float32 or bfloat16.
    dtype = "float32" if request.dtype == "float16" and request.device == "cpu" else request.dtype
    # A GGUF base de-quantized once (by the chat engine or an earlier run) loads from its plain copy in seconds.
    cache_dir = request.options.get("gguf_cache_dir")
    gguf_path = request.path / request.ref.gguf_file if request.ref.gguf_file else None
    cached = None
    if gguf_path is not None and cache_dir and gguf_path.is_file():
        cached = gguf_cache.cached_folder(Path(cache_dir), gguf_path, dtype)
    if cached is not None:
        tokenizer = AutoTokenizer.from_pretrained(str(cached), **options)
        model = AutoModelForCausalLM.from_pretrained(str(cached), dtype=dtype, **options)
        model.to(request.device)
        return Trainable(model, tokenizer, request.ref.name)
    if request.ref.gguf_file:
        options["gguf_file"] = request.ref.gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(request.path), **options)
    model = AutoModelForCausalLM.from_pretrained(str(request.path), dtype=dtype, **options)
    if gguf_path is not None and cache_dir and gguf_path.is_file():
        gguf_cache.store(Path(cache_dir), gguf_path, dtype, model, tokenizer)
    if request.ref.gguf_file:
        # The weights are plain floats once de-quantized, but transformers still marks the model as GGUF-quantized
        # and the Trainer refuses to train those: clear the mark.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    model.to(request.device)
    return Trainable(model, tokenizer, request.ref.name)


def lora_config(config: TrainingConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.modules,
        task_type="CAUSAL_LM",
    )


def lora_parameters(model: Any, config: TrainingConfig) -> int:
    """LoRA parameters peft would add: r × (in + out) for each targeted linear layer (all-linear: all but the head)."""
    import torch

    head = model.get_output_embeddings()
    names = None if config.modules == "all-linear" else set(config.modules)
    total = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or module is head:
            continue
        # peft matches a listed name against the end of a module's dotted path
        if names is None or any(name == key or name.endswith(f".{key}") for key in names):
            total += config.lora_r * (module.in_features + module.out_features)
    return total


def memory_needed(model: Any, config: TrainingConfig) -> dict[str, int]:
    """Bytes beyond the loaded weights a run needs: LoRA weights, their gradients and AdamW state, activations."""
    element = next(model.parameters()).element_size()
    lora = lora_parameters(model, config) * 4  # peft keeps LoRA weights in float32
    model_config = model.config
    hidden = getattr(model_config, "hidden_size", 1024)
    layers = getattr(model_config, "num_hidden_layers", 12)
    vocab = getattr(model_config, "vocab_size", 32000)
    tokens = config.batch_size * config.max_length
    activations = tokens * (hidden * layers * ACTIVATION_FACTOR + vocab * 2) * element
    return {"lora": lora, "optimizer": lora * (1 + ADAM_STATES), "activations": activations}


def check_memory(manager: ModelManager, weights: int, extra: dict[str, int], config: TrainingConfig) -> None:
    """Evict idle models to make room for the run, or refuse with the numbers and what to change."""
    if manager.budget is None:
        return
    needed = sum(extra.values())
    free = manager.make_room(needed)
    if needed <= free:
        return
    parts = ", ".join(f"{key} {format_bytes(value)}" for key, value in extra.items())
    raise MemoryBudgetError(
        f"Training needs about {format_bytes(needed)} beyond the model's weights ({format_bytes(weights)}): "
        f"{parts}; only {format_bytes(max(free, 0))} of the {format_bytes(manager.budget)} memory budget is free "
        f"(models in use cannot be unloaded). Lower the batch size (now {config.batch_size}) or the max length "
        f"(now {config.max_length}), lower LoRA r (now {config.lora_r}), or raise SHOWCASE_MEMORY_BUDGET."
    )


# -- saving ---------------------------------------------------------------------------------------


def adapters_root(data_path: Path) -> Path:
    return storage.folder(data_path, ADAPTERS)


def save_adapter(
    model: Any, tokenizer: Any, folder: Path, config: TrainingConfig, base: str, info: dict[str, Any]
) -> None:
    """Write the adapter, its config and card into a staging folder, then swap it in for `folder`.

    A crash leaves either the previous checkpoint or this one in place (plus, at worst, a staging folder).
    """
    root = folder.parent
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        training = {"base": base, "config": asdict(config), **info}
        storage.write_json(staging / "training.json", training)
        storage.write_text(staging / "README.md", model_card(config, base, info))
        old = None
        if folder.exists():
            old = root / f".{folder.name}.old-{time.monotonic_ns()}"
            folder.rename(old)
        staging.rename(folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def model_card(config: TrainingConfig, base: str, info: dict[str, Any]) -> str:
    """A Hub model card (README.md with YAML front matter) for the adapter."""
    base_name = Path(base.partition("#")[0]).name if base.startswith("/") else base.partition("#")[0]
    return (
        "---\n"
        f"base_model: {base_name}\n"
        "library_name: peft\n"
        "tags: [lora, peft, open-model-showcase]\n"
        "---\n\n"
        f"# {config.name}\n\n"
        f"A LoRA adapter for `{base_name}`, trained with the Open Model Showcase Fine-tune tab "
        "(peft + transformers Trainer; loss on the assistant's turns only).\n\n"
        f"- Steps: {info.get('step')} of {info.get('steps', config.steps)} ({info.get('state')})\n"
        f"- Examples: {info.get('train_examples')} training, {info.get('validation_examples')} validation\n"
        f"- LoRA: r {config.lora_r}, alpha {config.lora_alpha}, dropout {config.lora_dropout}, "
        f"modules {config.target_modules}\n"
        f"- Learning rate {config.learning_rate}, batch {config.batch_size} × {config.gradient_accumulation}, "
        f"max length {config.max_length}, seed {config.seed}\n"
        f"- Last train loss: {info.get('train_loss')}; last validation loss: {info.get('val_loss')}\n\n"
        f"Use it in the app as `{base}+adapter:{config.name}`.\n"
    )


# -- the run --------------------------------------------------------------------------------------


def collate(batch: list[dict[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch: padding carries no attention and no loss."""
    import torch

    longest = max(len(item["input_ids"]) for item in batch)
    ids, labels, mask = [], [], []
    for item in batch:
        gap = longest - len(item["input_ids"])
        ids.append(item["input_ids"] + [pad_id] * gap)
        labels.append(item["labels"] + [IGNORE_INDEX] * gap)
        mask.append([1] * len(item["input_ids"]) + [0] * gap)
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


def start(
    manager: ModelManager,
    ref: ModelRef,
    config: TrainingConfig,
    data_path: Path,
    prepare: Callable[[Trainable], tuple[list[Tokenized], list[Tokenized]]],
) -> Job:
    """Start a run in a background thread; InputError if one is running already.

    `prepare(trainable)` returns the (train, validation) examples, tokenized with the loaded model's tokenizer.
    Returns once the model is loaded, the data prepared and the memory checked: a refusal raises here.
    """
    global _current
    with _lock:
        if _current is not None and _current.running:
            raise InputError(
                f"A training run (`{_current.config.name}`, step {_current.step} of {_current.total}) is in "
                "progress: wait for it to finish, or stop it first (one run at a time)."
            )
        job = Job(config, str(ref), total=config.steps)
        _current = job
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _run_and_drop(job, manager, ref, data_path, ready, prepare)
        except BaseException as exc:  # the thread reports to the job; nothing escapes as a traceback
            job.state = "failed"
            job.message = str(exc) if isinstance(exc, ShowcaseError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, ShowcaseError):
                log.exception("training %s failed", config.name)
            failure.append(exc)
        finally:
            job.finished = job.finished or time.monotonic()
            ready.set()

    job.thread = threading.Thread(target=run, name=f"finetune-{config.name}", daemon=True)
    job.thread.start()
    ready.wait()  # the model is loaded and the memory checked (or the run failed): report a refusal now
    if failure and job.step == 0 and isinstance(failure[0], ShowcaseError):
        raise failure[0]
    return job


def stop() -> Job | None:
    """Ask the running job to stop after its current step (it saves its last checkpoint); the job, or None."""
    job = _current
    if job is not None and job.running:
        job.state = "stopping"
        job.stop_event.set()
    return job


def _run(
    job: Job,
    manager: ModelManager,
    ref: ModelRef,
    data_path: Path,
    ready: threading.Event,
    prepare: Callable[[Trainable], tuple[list[Tokenized], list[Tokenized]]],
) -> None:
    # transformers and peft import lazily: a first import beside another thread's model load can fail halfway
    # ("cannot import name ..."), so it happens under the library lock like every load.
    with libraries.exclusive():
        import torch
        from peft import get_peft_model
        from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

    config = job.config
    folder = adapters_root(data_path) / config.name
    with manager.use("finetune", ref) as trainable:
        try:
            train, validation = prepare(trainable)
            weights = sum(p.numel() * p.element_size() for p in trainable.model.parameters())
            job.total = config.total_steps(len(train))
            check_memory(manager, weights, memory_needed(trainable.model, config), config)
            try:
                model = get_peft_model(trainable.model, lora_config(config))
            except ValueError as exc:  # peft: "Target modules {...} not found in the base model"
                if "arget module" not in str(exc):
                    raise
                linear = sorted(
                    {n.rsplit(".", 1)[-1] for n, m in trainable.model.named_modules() if isinstance(m, torch.nn.Linear)}
                )
                raise InputError(
                    f"No layer of this model is named {config.target_modules}: its linear layers are "
                    f"{', '.join(linear)} (or use all-linear)."
                ) from None
            ready.set()
            job.state = "stopping" if job.stop_event.is_set() else "training"

            def info(state: str) -> dict[str, Any]:
                return {
                    "state": state,
                    "step": job.step,
                    "steps": job.total,
                    "train_examples": len(train),
                    "validation_examples": len(validation),
                    "train_loss": job.train_loss[-1][1] if job.train_loss else None,
                    "val_loss": job.val_loss[-1][1] if job.val_loss else None,
                    "loss": job.loss_rows(),
                }

            def save(state: str) -> None:
                save_adapter(model, trainable.tokenizer, folder, config, job.base, info(state))
                job.saved_step = job.step
                job.adapter_ref = f"{job.base}+adapter:{config.name}"

            class Progress(TrainerCallback):
                def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
                    logs = logs or {}
                    if "loss" in logs:
                        job.train_loss.append((state.global_step, float(logs["loss"])))
                    if "eval_loss" in logs:
                        job.val_loss.append((state.global_step, float(logs["eval_loss"])))

                def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                    job.step_ends.append(time.perf_counter())
                    job.step = state.global_step
                    if job.stop_event.is_set():
                        control.should_training_stop = True
                    elif config.save_every and job.step % config.save_every == 0 and job.step < job.total:
                        save("checkpoint")

            pad_id = trainable.tokenizer.pad_token_id
            if pad_id is None:
                pad_id = trainable.tokenizer.eos_token_id or 0
            cuda = torch.cuda.is_available() and str(next(model.parameters()).device).startswith("cuda")
            arguments = TrainingArguments(
                output_dir=str(storage.folder(data_path, ADAPTERS, f".{config.name}.run")),
                max_steps=job.total,
                per_device_train_batch_size=config.batch_size,
                per_device_eval_batch_size=config.batch_size,
                gradient_accumulation_steps=config.gradient_accumulation,
                learning_rate=config.learning_rate,
                lr_scheduler_type="constant",  # short runs: a decaying rate would spend half of them barely moving
                warmup_steps=0,
                weight_decay=0.0,
                logging_steps=1,
                eval_strategy="steps" if validation else "no",
                eval_steps=config.eval_every,
                save_strategy="no",  # the callback saves the adapter itself, atomically, where the app finds it
                report_to="none",
                seed=config.seed,
                use_cpu=not cuda,
                bf16=cuda and torch.cuda.is_bf16_supported(),
                dataloader_num_workers=0,
                remove_unused_columns=False,
                disable_tqdm=True,
            )
            rows = [{"input_ids": t.input_ids, "labels": t.labels} for t in train]
            held_out = [{"input_ids": t.input_ids, "labels": t.labels} for t in validation]
            trainer = Trainer(
                model=model,
                args=arguments,
                train_dataset=rows,
                eval_dataset=held_out or None,
                data_collator=lambda batch: collate(batch, pad_id),
                callbacks=[Progress()],
            )
            trainer.remove_callback(PrinterCallback)  # with tqdm off it would print every log line to stdout
            if not job.stop_event.is_set():
                trainer.train()
            if validation and (not job.val_loss or job.val_loss[-1][0] != job.step):
                job.val_loss.append((job.step, float(trainer.evaluate()["eval_loss"])))
            stopped = job.stop_event.is_set() and job.step < job.total
            final = "stopped" if stopped else "done"
            if job.step > 0:
                save(final)
            job.state = final
            job.finished = time.monotonic()
            job.message = (
                f"Stopped at step {job.step} of {job.total}; the adapter as of that step is saved."
                if stopped
                else f"Trained {job.step} steps."
            )
        finally:
            shutil.rmtree(data_path / ADAPTERS / f".{config.name}.run", ignore_errors=True)


def _run_and_drop(job: Job, manager: ModelManager, ref: ModelRef, *args: Any) -> None:
    """`_run`, then unload the trained copy: peft changed it in place, so no later run may start from it."""
    try:
        _run(job, manager, ref, *args)
    finally:
        with contextlib.suppress(InputError):
            manager.unload("finetune", ref)
