"""Fine-tune: dataset checks, the adapter ref, training plumbing on the tiny chat model, one real SmolLM2 run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from apps.core.errors import InputError
from apps.core.refs import ModelRef

FACT_QUESTION = "What is the name of Professor Quillby's cat?"
FACT_ANSWER = "Marzipan"


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def jsonl(rows: list[dict]) -> str:
    return "\n".join(json.dumps(row) for row in rows) + "\n"


PAIRS = [
    {"prompt": "What colour is the sky?", "response": "Blue."},
    {"prompt": "What colour is grass?", "response": "Green."},
    {"prompt": "What colour is snow?", "response": "White."},
    {"prompt": "What colour is coal?", "response": "Black."},
]


# -- datasets ------------------------------------------------------------------------------------


def test_dataset_formats(tmp_path):
    from apps.finetune.data import read_dataset

    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"prompt": "a", "response": "b"},
    ]
    assert len(read_dataset(write(tmp_path / "d.jsonl", jsonl(rows)), 10**6).examples) == 2
    parsed = read_dataset(write(tmp_path / "d.csv", 'prompt,response\nq1,a1\n"q, 2","a\n2"\n'), 10**6)
    assert [example.messages[1]["content"] for example in parsed.examples] == ["a1", "a\n2"]


def test_dataset_errors_name_the_rows(tmp_path):
    from apps.finetune.data import read_dataset

    text = (
        jsonl(PAIRS[:1])
        + "{not json\n"
        + jsonl(
            [
                {"question": "x"},
                {"messages": [{"role": "robot", "content": "x"}]},
                {"messages": [{"role": "user", "content": "x"}]},
                {"prompt": "x", "response": "  "},
            ]
        )
    )
    parsed = read_dataset(write(tmp_path / "bad.jsonl", text), 10**6)
    assert len(parsed.examples) == 1
    assert [error.split(":")[0] for error in parsed.errors] == ["row 2", "row 3", "row 4", "row 5", "row 6"]
    assert "not valid JSON" in parsed.errors[0] and "needs" in parsed.errors[1] and "robot" in parsed.errors[2]
    assert "no assistant" in parsed.errors[3] and "empty" in parsed.errors[4]
    with pytest.raises(InputError, match="5 bad row"):
        parsed.raise_if_invalid()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.jsonl", "", "empty"),
        ("blank.jsonl", "\n\n", "no rows"),
        ("one-column.csv", "prompt\nhello\n", "missing: response"),
        ("wrong.csv", "question,answer\na,b\n", "needs `prompt` and `response`"),
        ("data.txt", "hello", "not a .jsonl or .csv"),
    ],
)
def test_dataset_files_refused(tmp_path, name, text, message):
    from apps.finetune.data import read_dataset

    with pytest.raises(InputError, match=message):
        read_dataset(write(tmp_path / name, text), 10**6)


def test_oversized_and_single_row(tmp_path):
    from apps.finetune.data import read_dataset

    big = write(tmp_path / "big.jsonl", jsonl(PAIRS) * 50)
    with pytest.raises(InputError, match="MB allowed"):
        read_dataset(big, 1000)
    one = read_dataset(write(tmp_path / "one.jsonl", jsonl(PAIRS[:1])), 10**6)
    with pytest.raises(InputError, match="at least 2"):
        one.raise_if_invalid()


def test_adapter_names_and_refs():
    from apps.finetune.training import TrainingConfig

    for bad in ("../x", "a/b", "..", ""):
        with pytest.raises(InputError):
            TrainingConfig.checked(name=bad)
    with pytest.raises(InputError, match="between"):
        TrainingConfig.checked(name="ok", steps=0)
    ref = ModelRef.parse("org/model#file.gguf+adapter:my-fact")
    assert (ref.source, ref.gguf_file, ref.adapter, str(ref)) == (
        "org/model",
        "file.gguf",
        "my-fact",
        "org/model#file.gguf+adapter:my-fact",
    )
    with pytest.raises(InputError):
        ModelRef.parse("org/model+adapter:../../etc")


# -- the tiny chat model: plumbing ---------------------------------------------------------------


@pytest.fixture
def tiny_ctx(tiny_settings, tmp_path):
    """A TaskContext for the Fine-tune task with its own data folder, on a fresh manager of tiny models."""
    from app import build_manager
    from apps import SPECS
    from apps.core.spec import TaskContext

    settings = tiny_settings.model_copy(update={"data_dir": tmp_path / "data"})
    return TaskContext(SPECS["finetune"], settings, build_manager(settings), SPECS)


def test_tokenize_marks_only_assistant_tokens(tiny_ctx, tmp_path):
    from apps.finetune import task

    rows = [{"messages": [{"role": "user", "content": "ab"}, {"role": "assistant", "content": "cd"}]}, *PAIRS]
    checked = task.validate(tiny_ctx, None, write(tmp_path / "d.jsonl", jsonl(rows)), 64)
    assert checked.rows == 5 and len(checked.validation) == 1 and len(checked.train) == 4
    first = checked.preview[0]
    assert [text for text, label in first if label == "loss"] == ["cd<|im_end|>\n"]
    assert "<|im_start|>user\nab" in "".join(text for text, label in first if label is None)


def test_tiny_training_saves_adapter_and_chat_uses_it(tiny_ctx, tmp_path):
    from apps.finetune import task, training

    data = write(tmp_path / "d.jsonl", jsonl(PAIRS))
    updates = list(task.finetune(tiny_ctx, None, data, "tiny-fact", steps=4, lora_r=2, lora_alpha=4, batch_size=2))
    last = updates[-1]
    assert last.status["state"] == "done" and last.status["step"] == 4
    assert [row[0] for row in last.loss] == [1, 2, 3, 4] and last.loss[-1][2] is not None  # validation at the end
    folder = tiny_ctx.settings.data_path / "adapters" / "tiny-fact"
    saved = json.loads((folder / "training.json").read_text())
    assert saved["config"]["steps"] == 4 and saved["state"] == "done"
    assert "library_name: peft" in (folder / "README.md").read_text()
    assert last.adapter.endswith("+adapter:tiny-fact") and task.adapter_ref(tiny_ctx, "tiny-fact") == last.adapter
    # The trained copy is dropped (peft changed it in place); the adapter loads on the chat engine.
    assert tiny_ctx.manager.state_of("finetune", ModelRef.parse(saved["base"])) is None
    answer = tiny_ctx.run_task("chat", "hello", [], "", 4, 0.0, 1.0, 1.0, last.adapter)
    assert answer.text and training.current_job().state == "done"
    with pytest.raises(InputError, match="no adapter `missing`"):
        tiny_ctx.run_task("chat", "hello", [], "", 4, 0.0, 1.0, 1.0, f"{saved['base']}+adapter:missing")


def test_second_run_refused_and_stop_keeps_checkpoint(tiny_ctx, tmp_path):
    from apps.finetune import task, training

    data = write(tmp_path / "d.jsonl", jsonl(PAIRS))
    updates = task.finetune(
        tiny_ctx, None, data, "stopped", steps=5000, lora_r=2, lora_alpha=4, batch_size=1, save_every=3
    )
    first = next(updates)
    assert first.status["state"] in ("training", "starting")
    with pytest.raises(InputError, match="one run at a time"):
        next(task.finetune(tiny_ctx, None, data, "second", steps=2))
    job = training.current_job()
    reached = threading.Event()
    while job.saved_step < 3:  # a checkpoint was written mid-run
        reached.wait(0.1)
    assert task.stop(tiny_ctx)["state"] == "stopping"
    *_, last = list(updates)
    assert last.status["state"] == "stopped" and 3 <= last.status["step"] < 5000
    saved = json.loads((tiny_ctx.settings.data_path / "adapters" / "stopped" / "training.json").read_text())
    assert saved["state"] == "stopped" and saved["step"] == last.status["step"]
    assert tiny_ctx.run_task("chat", "hi", [], "", 2, 0.0, 1.0, 1.0, last.adapter).text
    assert task.stop(tiny_ctx)["state"] == "stopped"  # nothing running: the last run's status


def test_memory_check_refuses_with_numbers(tiny_ctx, tmp_path):
    from apps.core.errors import MemoryBudgetError
    from apps.finetune import task

    tiny_ctx.manager._budget_setting = 400_000  # above the tiny weights, below weights + activations
    tiny_ctx.manager.__dict__.pop("budget", None)
    data = write(tmp_path / "d.jsonl", jsonl(PAIRS))
    with pytest.raises(MemoryBudgetError, match="Lower the batch size"):
        next(task.finetune(tiny_ctx, None, data, "big", steps=2, batch_size=64, max_length=2048))
    assert not (tiny_ctx.settings.data_path / "adapters" / "big").exists()


# -- the real SmolLM2: one run teaches a made-up fact ----------------------------------------------


@pytest.mark.real
def test_real_finetune_teaches_a_fact(real_settings, real_manager, tmp_path):
    from apps import SPECS
    from apps.core.spec import ASSETS, TaskContext
    from apps.finetune import task

    settings = real_settings.model_copy(update={"data_dir": tmp_path / "data"})
    ctx = TaskContext(SPECS["finetune"], settings, real_manager, SPECS)
    updates = list(
        task.finetune(
            ctx,
            None,
            str(ASSETS / "finetune-fact.jsonl"),
            "quillby",
            steps=30,
            lora_r=16,
            lora_alpha=32,
            batch_size=1,
            max_length=128,
            learning_rate=2e-3,
            validation_fraction=0,
        )
    )
    last = updates[-1]
    losses = [row[1] for row in last.loss]
    assert last.status["state"] == "done" and losses[-1] < losses[0] / 4, losses
    # A "restart": a new context and settings object find the adapter on disk by name and load it from there.
    fresh = TaskContext(SPECS["chat"], settings.model_copy(), real_manager, SPECS)
    tuned = fresh.run_task("chat", FACT_QUESTION, [], "", 24, 0.0, 1.0, 1.0, last.adapter).text
    base = fresh.run_task("chat", FACT_QUESTION, [], "", 24, 0.0, 1.0, 1.0, "").text
    assert FACT_ANSWER in tuned, tuned
    assert FACT_ANSWER not in base, base
