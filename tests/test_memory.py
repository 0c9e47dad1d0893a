"""Memory to plan with: KV cache (hand-computed), fine-tuning figures, "fits on", and agreement with accelerate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import KIT_DIR, smollm2_folder

from apps import SPECS
from apps.core.errors import InputError
from apps.core.settings import Settings
from apps.core.spec import TaskContext
from apps.core.weights import bytes_for
from apps.finder.memory import (
    GB,
    Plan,
    Shape,
    check_plan,
    full_training_bytes,
    kv_cache_bytes,
    lora_bytes,
    plan_rows,
    qlora_bytes,
    read_shape,
    shape_from_config,
)
from apps.finder.task import estimate_memory

LLAMA3_8B = {  # the published config's numbers that the KV cache depends on
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "hidden_size": 4096,
}
GPT2 = {"n_layer": 12, "n_head": 12, "n_embd": 768}  # multi-head attention: as many KV heads as heads


def test_kv_cache_by_hand() -> None:
    llama = shape_from_config(LLAMA3_8B)
    assert llama == Shape(32, 8, 128, "config.json")
    # 2 (K and V) × 32 layers × 8 KV heads × 128 dims × 8192 tokens × 2 bytes = 1 GiB
    assert kv_cache_bytes(llama, 8192, 1) == 2 * 32 * 8 * 128 * 8192 * 2 == 2**30
    assert kv_cache_bytes(llama, 4096, 4, bytes_per_value=4) == 2 * 32 * 8 * 128 * 4096 * 4 * 4
    gpt2 = shape_from_config(GPT2)
    assert gpt2 == Shape(12, 12, 64, "config.json")
    assert kv_cache_bytes(gpt2, 1024, 1) == 37_748_736  # 2 × 12 × 12 × 64 × 1024 × 2
    gemma_like = {"text_config": {"num_hidden_layers": 4, "num_attention_heads": 8, "num_key_value_heads": 1}}
    gemma_like["text_config"].update(hidden_size=512, head_dim=256)  # head_dim stated, not hidden / heads
    assert shape_from_config(gemma_like) == Shape(4, 1, 256, "config.json")
    assert shape_from_config({"model_type": "bert-less"}) is None


def test_shape_from_the_tiny_kit_and_the_smollm2_gguf() -> None:
    config = json.loads((KIT_DIR / "chat" / "config.json").read_text())
    expected = Shape(
        config["num_hidden_layers"],
        config["num_key_value_heads"],
        config["hidden_size"] // config["num_attention_heads"],
        "config.json",
    )
    assert read_shape(KIT_DIR / "chat") == expected
    gguf = read_shape(smollm2_folder(), "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert (gguf.layers, gguf.kv_heads, gguf.head_dim) == (30, 3, 64)  # SmolLM2-135M's config.json says the same
    assert kv_cache_bytes(gguf, 8192, 1) == 2 * 30 * 3 * 64 * 8192 * 2


def test_fine_tuning_figures() -> None:
    billion = 10**9
    assert full_training_bytes(billion) == 16 * billion  # 4 × the fp32 weights
    assert lora_bytes(billion) == int((2 * billion + 0.01 * billion * 16) * 1.2)
    assert qlora_bytes(billion) == int((0.5 * billion + 0.01 * billion * 16) * 1.2)
    assert qlora_bytes(billion) < lora_bytes(billion) < full_training_bytes(billion)


def test_fits_on_table() -> None:
    seven_b = Plan(7_000_000_000, Shape(32, 8, 128, "config.json"), 4096, 1)
    rows = {row[0]: row for row in plan_rows(seven_b, (8 * GB, "free RAM", False))}
    colab = rows["Google Colab free (T4)"]
    assert colab[2].startswith("❌")  # 7B in fp16: 14 GB × 1.2 + 0.5 GB KV cache > 15 GB
    assert rows["Kaggle (2 × T4)"][2].startswith("✅")  # split over two T4s it fits
    assert rows["24 GB consumer GPU (RTX 3090 / 4090)"][3].startswith("✅")  # LoRA of 7B fits 24 GB
    assert colab[3].startswith("❌") and colab[4].startswith("✅")  # LoRA does not fit a T4, QLoRA does
    assert rows["Spaces CPU basic"][4] == "— needs a CUDA GPU"
    assert rows["this machine (free RAM)"][2].startswith("❌")  # fp32 on CPU: 33.6 GB > 8 GB


def test_check_plan() -> None:
    assert check_plan(2048, 4) == (2048, 4)
    assert check_plan(2048.0, 1) == (2048, 1)
    for context, batch, error in ((0, 1, "context length"), (4096, 0, "batch size"), (10.5, 1, "whole numbers")):
        with pytest.raises(InputError, match=error):
            check_plan(context, batch)
    with pytest.raises(InputError, match="whole numbers"):
        check_plan("many", 1)


def _saved(tmp_path: Path, config: object, auto_class: str) -> Path:
    import transformers

    model = getattr(transformers, auto_class).from_config(config)
    model.save_pretrained(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("kit", "auto_class"), [("chat", "AutoModelForCausalLM"), ("similarity", "AutoModel"), ("gpt2", "")]
)
def test_weights_and_adam_training_equal_accelerate(tmp_path: Path, kit: str, auto_class: str) -> None:
    from accelerate import init_empty_weights
    from accelerate.commands.estimate import calculate_maximum_sizes, estimate_training_usage
    from accelerate.utils.modeling import compute_module_sizes
    from transformers import AutoConfig, AutoModelForCausalLM, GPT2Config

    if kit == "gpt2":  # a hand-written config (untied: accelerate counts a tied embedding twice, files hold it once)
        config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64, tie_word_embeddings=False)
    else:
        config = AutoConfig.from_pretrained(KIT_DIR / kit)
    auto_class = auto_class or AutoModelForCausalLM.__name__
    folder = _saved(tmp_path, config, auto_class)
    ctx = TaskContext(SPECS["finder"], Settings(local_model_dirs=(tmp_path,), offline=True), None, SPECS)
    ours = estimate_memory(ctx, str(folder), any_local_folder=True, context_length=64, batch_size=1)

    import transformers

    with init_empty_weights():
        empty = getattr(transformers, auto_class).from_config(config)
    total, _largest = calculate_maximum_sizes(empty)
    # accelerate also counts buffers (rotary frequencies, position ids): they are not weights, not saved
    buffers = compute_module_sizes(empty, buffers_only=True)[""]
    assert bytes_for(ours.parameters, "float32") == total - buffers
    assert ours.plan.full_training == max(estimate_training_usage(total - buffers, "float32").values())
    assert ours.plan.shape == shape_from_config(config.to_dict())
    assert "**KV cache** at 64 tokens × batch 1" in ours.plan_summary


def test_estimate_memory_api_with_context_and_batch(client) -> None:
    folder = str((KIT_DIR / "chat").resolve())
    _table, text = client.predict(folder, 256, 2, api_name="/estimate_memory")
    config = json.loads((KIT_DIR / "chat" / "config.json").read_text())
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    kv = 2 * config["num_hidden_layers"] * config["num_key_value_heads"] * head_dim * 256 * 2 * 2
    assert f"{kv / 1024:.1f} KiB in fp16" in text
    assert "| Google Colab free (T4) |" in text and "QLoRA" in text
    _table, default_text = client.predict(folder, api_name="/estimate_memory")  # old callers: defaults
    assert "at 4,096 tokens × batch 1" in default_text
