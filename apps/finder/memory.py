"""Model finder, memory to plan with: the KV cache at a context length, LoRA / QLoRA / full fine-tuning, "fits on".

The architecture (layers, key/value heads, head dim) comes from `config.json` or a GGUF file's metadata, never
the weights. Weights and full training with Adam are `apps.core.weights`' arithmetic (that of
`accelerate estimate-memory`); the rest is written out in `PLAN_FORMULAS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps.core import libraries
from apps.core.errors import InputError
from apps.core.weights import INFERENCE_OVERHEAD, bytes_for, format_bytes, training_bytes

GB = 10**9  # machines are sold in decimal gigabytes
MAX_CONTEXT = 131_072  # 128k tokens: the longest context most open models state
MAX_BATCH = 1024
DEFAULT_CONTEXT = 4096
DEFAULT_BATCH = 1
LORA_TRAINABLE = 0.01  # LoRA r≈16 on every linear layer trains about 1 % of the parameters
ADAM_BYTES_PER_TRAINABLE = 16  # fp32 weight 4 + gradient 4 + two Adam states 8
ACTIVATIONS = 1.2  # activations and framework overhead on top, as for inference


@dataclass(frozen=True)
class Shape:
    """What the KV cache depends on: layers, key/value heads, head dimension (and where they were read)."""

    layers: int
    kv_heads: int
    head_dim: int
    source: str


@dataclass(frozen=True)
class Machine:
    """A machine people run models on: its memory, and whether that memory is a GPU's."""

    name: str
    memory: int
    gpu: bool
    gpus: int = 1  # memory is per GPU; a model may be split across them for inference


MACHINES = (
    Machine("Google Colab free (T4)", 15 * GB, True),
    Machine("Kaggle (2 × T4)", 15 * GB, True, gpus=2),
    Machine("Kaggle (P100)", 16 * GB, True),
    Machine("Spaces CPU basic", 16 * GB, False),
    Machine("Spaces ZeroGPU (H200 slice)", 70 * GB, True),
    Machine("24 GB consumer GPU (RTX 3090 / 4090)", 24 * GB, True),
)

PLAN_COLUMNS = ["machine", "memory", "inference", "LoRA", "QLoRA"]
PLAN_FORMULAS = (
    "**Planning figures**: KV cache = 2 (keys and values) × layers × key/value heads × head dim × context "
    "length × batch size × bytes per value (fp16 2; fp32 4 on CPU) · inference = weights × "
    f"{INFERENCE_OVERHEAD} + KV cache · LoRA = fp16 base weights + {LORA_TRAINABLE:.0%} of the parameters "
    f"trained with Adam in fp32 ({ADAM_BYTES_PER_TRAINABLE} bytes each), × {ACTIVATIONS} for activations · "
    "QLoRA = the same with a 4-bit base (0.5 bytes per parameter; needs a CUDA GPU for bitsandbytes) · full "
    "training with Adam = 4 × the fp32 weights (accelerate's count). GPUs use fp16/bf16, CPUs fp32."
)


def check_plan(context_length: Any, batch_size: Any) -> tuple[int, int]:
    """(context length, batch size) as whole numbers in range; InputError otherwise."""
    try:
        context, batch = int(context_length), int(batch_size)
    except (TypeError, ValueError):
        raise InputError("The context length and batch size must be whole numbers.") from None
    if context != context_length or batch != batch_size:
        raise InputError("The context length and batch size must be whole numbers.")
    if not 1 <= context <= MAX_CONTEXT:
        raise InputError(f"The context length must be between 1 and {MAX_CONTEXT:,} tokens.")
    if not 1 <= batch <= MAX_BATCH:
        raise InputError(f"The batch size must be between 1 and {MAX_BATCH:,}.")
    return context, batch


# -- the architecture -----------------------------------------------------------------------------


def shape_from_config(config: dict[str, Any], source: str = "config.json") -> Shape | None:
    """The KV-cache shape from a transformers config dict (a multimodal model's `text_config` if it has one)."""
    config = config.get("text_config") or config
    layers = config.get("num_hidden_layers") or config.get("n_layer") or config.get("num_layers")
    heads = config.get("num_attention_heads") or config.get("n_head")
    kv_heads = config.get("num_key_value_heads") or config.get("multi_query_group_num") or heads
    if config.get("multi_query") is True:
        kv_heads = 1
    hidden = config.get("hidden_size") or config.get("n_embd") or config.get("d_model")
    head_dim = config.get("head_dim") or (hidden // heads if hidden and heads else None)
    if not (isinstance(layers, int) and isinstance(kv_heads, int) and isinstance(head_dim, int)):
        return None
    return Shape(layers, kv_heads, head_dim, source)


def shape_from_gguf(path: Path) -> Shape | None:
    """The KV-cache shape from a GGUF file's metadata (`{arch}.block_count`, `.attention.head_count_kv`, …)."""
    with libraries.imports("finder.memory.gguf"):
        from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        if field is None or not field.data:
            return None
        return field.contents()

    arch = value("general.architecture")
    if not isinstance(arch, str):
        return None
    layers = value(f"{arch}.block_count")
    heads = value(f"{arch}.attention.head_count")
    kv_heads = value(f"{arch}.attention.head_count_kv") or heads
    head_dim = value(f"{arch}.attention.key_length")
    if head_dim is None and heads:
        embedding = value(f"{arch}.embedding_length")
        head_dim = embedding // heads if embedding else None
    if not all(isinstance(number, int) for number in (layers, kv_heads, head_dim)):
        return None
    return Shape(int(layers), int(kv_heads), int(head_dim), f"the GGUF metadata of `{path.name}`")


def read_shape(folder: Path, gguf_file: str | None = None) -> Shape | None:
    """The KV-cache shape of a local model folder (its GGUF file's metadata, or config.json); None if unknown."""
    if gguf_file:
        return shape_from_gguf(folder / gguf_file)
    config = folder / "config.json" if folder.is_dir() else folder.parent / "config.json"
    if config.is_file():
        try:
            return shape_from_config(json.loads(config.read_text()))
        except (ValueError, OSError):
            return None
    ggufs = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    return shape_from_gguf(ggufs[0]) if ggufs else None


# -- the arithmetic -------------------------------------------------------------------------------


def kv_cache_bytes(shape: Shape, context_length: int, batch_size: int, bytes_per_value: float = 2) -> int:
    """Keys and values of every layer for `batch_size` sequences of `context_length` tokens."""
    return int(2 * shape.layers * shape.kv_heads * shape.head_dim * context_length * batch_size * bytes_per_value)


def lora_bytes(parameters: int, base_bytes_per_parameter: float = 2) -> int:
    """LoRA fine-tuning: the frozen base at `base_bytes_per_parameter` (fp16 2, 4-bit 0.5) + the adapters with Adam."""
    adapters = parameters * LORA_TRAINABLE * ADAM_BYTES_PER_TRAINABLE
    return int((parameters * base_bytes_per_parameter + adapters) * ACTIVATIONS)


def qlora_bytes(parameters: int) -> int:
    """QLoRA: LoRA on a 4-bit base."""
    return lora_bytes(parameters, 0.5)


def full_training_bytes(parameters: int) -> int:
    """Full fine-tuning with Adam in fp32 at batch size 1 (accelerate's count: 4 × the fp32 weights)."""
    return int(training_bytes(parameters, "float32") or 0)


@dataclass(frozen=True)
class Plan:
    """Memory for one model at one context length and batch size, on GPU (fp16) and CPU (fp32)."""

    parameters: int
    shape: Shape | None
    context_length: int
    batch_size: int

    def kv_cache(self, gpu: bool = True) -> int | None:
        if self.shape is None:
            return None
        return kv_cache_bytes(self.shape, self.context_length, self.batch_size, 2 if gpu else 4)

    def inference(self, gpu: bool = True) -> int:
        weights = bytes_for(self.parameters, "float16" if gpu else "float32")
        return int(weights * INFERENCE_OVERHEAD) + (self.kv_cache(gpu) or 0)

    @property
    def lora(self) -> int:
        return lora_bytes(self.parameters)

    @property
    def qlora(self) -> int:
        return qlora_bytes(self.parameters)

    @property
    def full_training(self) -> int:
        return full_training_bytes(self.parameters)


def _fits(needed: int, machine: Machine, split: bool) -> str:
    memory = machine.memory * (machine.gpus if split else 1)
    return f"✅ {format_bytes(needed)}" if needed <= memory else f"❌ {format_bytes(needed)}"


def plan_rows(plan: Plan, here: tuple[int, str, bool] | None = None) -> list[list[str]]:
    """The "fits on" table in PLAN_COLUMNS order; `here` = (bytes free, what, is a GPU) for this machine."""
    machines = list(MACHINES)
    if here is not None:
        free, what, gpu = here
        machines.insert(0, Machine(f"this machine ({what})", free, gpu))
    rows = []
    for machine in machines:
        inference = _fits(plan.inference(machine.gpu), machine, split=True)
        if machine.gpu:
            lora, qlora = _fits(plan.lora, machine, split=False), _fits(plan.qlora, machine, split=False)
        else:  # CPU training is fp32 LoRA; 4-bit bitsandbytes kernels need CUDA
            lora, qlora = _fits(lora_bytes(plan.parameters, 4), machine, split=False), "— needs a CUDA GPU"
        rows.append([machine.name, format_bytes(machine.memory), inference, lora, qlora])
    return rows


def plan_markdown(plan: Plan, here: tuple[int, str, bool] | None = None) -> str:
    """Markdown: the KV cache, fine-tuning figures, and the "fits on" table."""
    lines = []
    if plan.shape is None:
        lines.append(
            "KV cache: unknown (no config.json or GGUF metadata with layers, key/value heads and head dim); "
            "inference below counts the weights only."
        )
    else:
        shape = plan.shape
        lines.append(
            f"**KV cache** at {plan.context_length:,} tokens × batch {plan.batch_size}: "
            f"{format_bytes(plan.kv_cache(True) or 0)} in fp16 ({shape.layers} layers × {shape.kv_heads} "
            f"key/value heads × head dim {shape.head_dim}, from {shape.source})."
        )
    lines.append(
        f"**Fine-tuning**: LoRA ≈ {format_bytes(plan.lora)}, QLoRA (4-bit base) ≈ {format_bytes(plan.qlora)}, "
        f"full training with Adam ≈ {format_bytes(plan.full_training)}."
    )
    table = ["| " + " | ".join(PLAN_COLUMNS) + " |", "|" + "---|" * len(PLAN_COLUMNS)]
    table += ["| " + " | ".join(row) + " |" for row in plan_rows(plan, here)]
    return "\n\n".join([" ".join(lines), "\n".join(table), PLAN_FORMULAS])
