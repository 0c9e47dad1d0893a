"""Fine-tune: dataset checks, the adapter ref, training plumbing on the tiny chat model, one real SmolLM2 run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apps.core.errors import InputError
from apps.core.refs import ModelRef

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.mark.parametrize(
    "values, message",
    [
        ({"lora_dropout": 0.95}, "LoRA dropout must be between 0 and 0.9"),
        ({"lora_dropout": float("nan")}, "LoRA dropout must be between"),
        ({"validation_fraction": 0.6}, "validation fraction must be between 0 and 0.5"),
        ({"epochs": -1}, "Epochs must be between 0 and 1000"),
        ({"gradient_accumulation": 0}, "gradient accumulation must be between 1 and 256"),
        ({"seed": -3}, "seed must be between"),
        ({"seed": 1.5}, "seed must be a whole number"),
        ({"target_modules": "q_proj; rm -rf /"}, "not `q_proj;`"),
        ({"target_modules": "all-linear,q_proj"}, "Target modules must be `all-linear` or layer names"),
        ({"target_modules": ["q_proj"]}, "Target modules must be text"),
        ({"long_rows": "shorten"}, "Long rows must be `truncate` or `refuse`"),
        ({"warmup": 3}, "Unknown training setting `warmup`"),
    ],
)
def test_more_settings_are_checked(values, message):
    from apps.finetune.training import TrainingConfig

    with pytest.raises(InputError, match=message):
        TrainingConfig.checked(name="ok", **values)


def test_more_settings_as_peft_and_the_trainer_take_them():
    from apps.finetune.training import TrainingConfig

    config = TrainingConfig.checked(name="ok", target_modules=" q_proj, v_proj  q_proj ", long_rows="Refuse", seed="7")
    assert (config.target_modules, config.modules, config.long_rows, config.seed) == (
        "q_proj,v_proj",
        ["q_proj", "v_proj"],
        "refuse",
        7,
    )
    assert TrainingConfig.checked(name="ok", target_modules="  ").modules == "all-linear"  # blank: the default
    # Steps, or enough optimizer steps for the epochs: 10 rows, batch 2 × accumulation 2 = 3 steps a pass.
    assert TrainingConfig.checked(name="ok", steps=7).total_steps(10) == 7
    assert TrainingConfig.checked(name="ok", epochs=2, batch_size=2, gradient_accumulation=2).total_steps(10) == 6
    assert TrainingConfig.checked(name="ok", epochs=0.5, batch_size=4).total_steps(10) == 2


# -- the tiny chat model: plumbing ---------------------------------------------------------------


@pytest.fixture
def tiny_ctx(tiny_settings, tmp_path):
    """A TaskContext for the Fine-tune task with its own data folder, on a fresh manager of tiny models."""
    from app import build_manager
    from apps import SPECS
    from apps.core.spec import TaskContext

    settings = tiny_settings.model_copy(update={"data_dir": tmp_path / "data"})
    return TaskContext(SPECS["finetune"], settings, build_manager(settings), SPECS)


def test_200_mb_file_is_refused_before_reading(tiny_ctx, tmp_path):
    from apps.finetune import task

    big = tmp_path / "huge.jsonl"
    with big.open("wb") as file:  # sparse: 200 MB on paper, nothing on disk
        file.truncate(200_000_000)
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"200\.0 MB, more than the 50 MB allowed"):
        next(task.finetune(tiny_ctx, None, str(big), "huge", steps=2))
    assert time.perf_counter() - started < 5


# -- Hub datasets ---------------------------------------------------------------------------------


@pytest.fixture
def hub_datasets(monkeypatch, tmp_path):
    """`datasets.load_dataset` answering Hub ids from local JSON files (the Hub is unreachable here): the
    app's code path runs on real `datasets` objects; `calls` records what it asked for."""
    import datasets

    real_load = datasets.load_dataset
    files: dict[str, Path] = {}
    calls: list[tuple[str, str]] = []

    def load_dataset(path: str, split: str | None = None, **kwargs):
        calls.append((path, split))
        if path not in files:
            return real_load(path, split=split, **kwargs)  # offline: datasets' own ConnectionError
        return real_load("json", data_files={"train": str(files[path])}, split=split, cache_dir=str(tmp_path / "c"))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)

    def add(repo: str, rows: list[dict]) -> None:
        files[repo] = Path(write(tmp_path / f"{repo.replace('/', '__')}.jsonl", jsonl(rows)))

    add.calls = calls
    return add


def test_hub_dataset_rows_are_checked_like_a_file(hub_datasets):
    from apps.finetune.data import read_hub_dataset

    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    hub_datasets("org/chat-set", [chat, chat, {"messages": [{"role": "robot", "content": "x"}]}])
    parsed = read_hub_dataset("org/chat-set:train")
    assert hub_datasets.calls == [("org/chat-set", "train")]
    assert len(parsed.examples) == 2 and parsed.examples[0].messages == chat["messages"]
    assert parsed.errors == ["row 3: message 1 has role `robot`; use one of system, user, assistant."]
    hub_datasets("org/pairs", PAIRS)
    assert [e.messages[1]["content"] for e in read_hub_dataset("org/pairs").examples] == [
        "Blue.",
        "Green.",
        "White.",
        "Black.",
    ]
    hub_datasets("org/wrong", [{"question": "q", "answer": "a"}, {"question": "q", "answer": "a"}])
    with pytest.raises(InputError, match="columns question, answer; it needs `messages`"):
        read_hub_dataset("org/wrong")
    with pytest.raises(InputError, match="has no split `test`"):
        read_hub_dataset("org/pairs:test")


@pytest.mark.parametrize("bad", ["../etc", "org/name/extra", "a b", "org/name:", "assets"])
def test_hub_dataset_ids_refused(bad):
    from apps.finetune.data import read_hub_dataset

    with pytest.raises(InputError, match=r"not a Hub dataset|names a path on the server"):
        read_hub_dataset(bad)


def test_hub_unreachable_says_so(hub_datasets):
    from apps.finetune.data import read_hub_dataset

    with pytest.raises(InputError, match="Could not reach the Hugging Face Hub to load the dataset `nobody/none`"):
        read_hub_dataset("nobody/none")  # HF_HUB_OFFLINE=1 (conftest): datasets refuses without a request


def test_tiny_training_on_a_hub_dataset(tiny_ctx, hub_datasets):
    from apps.finetune import task

    hub_datasets("org/pairs", PAIRS)
    *_, last = task.finetune(tiny_ctx, None, None, "from-hub", steps=2, lora_r=2, lora_alpha=4, dataset_id="org/pairs")
    assert last.status["state"] == "done" and last.adapter.endswith("+adapter:from-hub")
    with pytest.raises(InputError, match="not both"):
        next(task.finetune(tiny_ctx, None, str(ROOT / "assets/finetune-fact.jsonl"), "x", dataset_id="org/pairs"))


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


def test_epochs_accumulation_and_chosen_layers_shape_the_run(tiny_ctx, tmp_path):
    """Two epochs of 4 training rows at batch 1 × accumulation 2 = 4 steps; LoRA only on q_proj and v_proj, with
    the parameter count the memory check uses; no validation rows when the fraction is 0."""
    from peft import PeftConfig

    from apps.finetune import task, training

    data = write(tmp_path / "d.jsonl", jsonl(PAIRS))
    options = dict(epochs=2, gradient_accumulation=2, target_modules="q_proj,v_proj", validation_fraction=0)
    updates = list(
        task.finetune(tiny_ctx, None, data, "layers", 99, 2e-3, 2, 4, 64, 1, "", lora_dropout=0.1, **options)
    )
    last = updates[-1]
    assert last.status["state"] == "done" and (last.status["step"], last.status["steps"]) == (4, 4)
    assert all(row[2] is None for row in last.loss)  # nothing held out
    folder = tiny_ctx.settings.data_path / "adapters" / "layers"
    adapter = PeftConfig.from_pretrained(str(folder))
    assert set(adapter.target_modules) == {"q_proj", "v_proj"} and adapter.lora_dropout == 0.1
    from safetensors import safe_open

    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as weights:
        shapes = [weights.get_slice(key).get_shape() for key in weights.keys()]  # noqa: SIM118
    from conftest import KIT_DIR
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(KIT_DIR / "finetune"))
    counted = training.lora_parameters(base, training.TrainingConfig.checked(name="x", lora_r=2, **options))
    assert sum(a * b for a, b in shapes) == counted > 0
    assert "4 of 4" in (folder / "README.md").read_text()


def test_a_layer_the_model_lacks_is_named_with_the_ones_it_has(tiny_ctx, tmp_path):
    from apps.finetune import task

    data = write(tmp_path / "d.jsonl", jsonl(PAIRS))
    with pytest.raises(InputError, match=r"No layer of this model is named nope_proj: its linear layers are .*q_proj"):
        list(task.finetune(tiny_ctx, None, data, "nope", steps=2, lora_r=2, lora_alpha=4, target_modules="nope_proj"))


def test_long_rows_truncated_or_refused_naming_them(tiny_ctx, tmp_path):
    from apps.finetune import task

    rows = [*PAIRS, {"prompt": "Tell me a story.", "response": "Once upon a time there was a cat. " * 20}]
    data = write(tmp_path / "d.jsonl", jsonl(rows))
    kept = task.validate(tiny_ctx, None, data, 64)
    assert kept.truncated == [5] and "truncated: 5" in kept.summary
    with pytest.raises(InputError, match=r"1 row longer than the max length of 64 tokens \(long rows: refuse\): row 5"):
        task.validate(tiny_ctx, None, data, 64, long_rows="refuse")
    assert task.validate(tiny_ctx, None, data, 4096, long_rows="refuse").truncated == []
    with pytest.raises(InputError, match="row 5"):
        list(task.finetune(tiny_ctx, None, data, "long", steps=2, max_length=64, long_rows="refuse"))


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


@pytest.fixture
def trained(tiny_ctx, tmp_path):
    """A tiny adapter `tiny-done`, trained for 2 steps; (ctx, its ref)."""
    from apps.finetune import task

    data = write(tmp_path / "d.jsonl", jsonl(PAIRS))
    *_, last = task.finetune(tiny_ctx, None, data, "tiny-done", steps=2, lora_r=2, lora_alpha=4, batch_size=2)
    assert last.status["state"] == "done"
    return tiny_ctx, last.adapter


def test_base_vs_fine_tuned_and_merge_and_save(trained):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from apps.finetune import task

    ctx, ref = trained
    base, tuned = task.compare(ctx, "hello", "tiny-done", max_new_tokens=4)
    assert isinstance(base, str) and isinstance(tuned, str) and (base or tuned)
    assert tuned == ctx.run_task("chat", "hello", [], "", 4, 0.0, 1.0, 1.0, ref).text  # greedy: the same reply
    folder = Path(task.merge_and_save(ctx, "tiny-done"))
    assert folder == ctx.settings.data_path / "merged" / "tiny-done"
    assert (folder / "config.json").is_file() and list(folder.glob("*.safetensors"))
    merged = AutoModelForCausalLM.from_pretrained(str(folder))  # a plain model: no peft needed to load it
    assert not hasattr(merged, "peft_config") and AutoTokenizer.from_pretrained(str(folder)).chat_template
    with pytest.raises(InputError, match="no adapter `nope`"):
        task.merge_and_save(ctx, "nope")


def test_push_to_hub_uploads_the_adapter_with_its_card(trained, monkeypatch):
    import huggingface_hub

    from apps.finetune import task

    calls = []

    class FakeApi:  # no network: records what the app asks the Hub for
        def __init__(self, token=None):
            calls.append(("token", token))

        def create_repo(self, repo_id, exist_ok=False, **kwargs):
            calls.append(("create_repo", repo_id, exist_ok))

        def upload_folder(self, folder_path, repo_id, commit_message="", **kwargs):
            calls.append(("upload", repo_id, sorted(p.name for p in Path(folder_path).iterdir())))

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    ctx, _ref = trained
    assert task.push_to_hub(ctx, "tiny-done", "someone/tiny-done", " hf_secret ") == (
        "https://huggingface.co/someone/tiny-done"
    )
    assert calls[:2] == [("token", "hf_secret"), ("create_repo", "someone/tiny-done", True)]
    uploaded = calls[2][2]
    assert {"README.md", "adapter_config.json", "training.json"} <= set(uploaded), uploaded
    calls.clear()
    for bad_name, repo, token, message in [
        ("tiny-done", "someone/x", "", "Give a Hugging Face token"),
        ("tiny-done", "not a repo!!", "t", "not a valid model id"),
        ("missing", "someone/x", "t", "no adapter `missing`"),
        ("../x", "someone/x", "t", "cannot be a adapter name"),
    ]:
        with pytest.raises(InputError, match=message):
            task.push_to_hub(ctx, bad_name, repo, token)
    assert not [call for call in calls if call[0] != "token"]  # nothing was created or uploaded


def test_page_reload_reattaches_to_the_running_job(tiny_ctx, tmp_path):
    from app import build_demo
    from apps.finetune import task, training

    demo = build_demo(tiny_ctx.settings, tiny_ctx.manager)
    (poll,) = [fn for fn in demo.page_load_handlers if fn.__name__ == "finetune_poll"]
    data = write(tmp_path / "d.jsonl", jsonl(PAIRS))
    updates = task.finetune(tiny_ctx, None, data, "long-run", steps=5000, lora_r=2, lora_alpha=4, batch_size=1)
    next(updates)
    try:
        job = training.current_job()
        while job.step < 2:
            time.sleep(0.05)
        summary, loss, _adapter, chart = poll()  # what a freshly loaded page shows
        assert summary.startswith("long-run: training, step ") and "of 5000" in summary
        assert len(loss) >= 1 and list(chart.columns) == ["step", "loss", "split"]
    finally:
        task.stop(tiny_ctx)
        *_, last = list(updates)
    assert last.status["state"] == "stopped"
    assert poll()[0].startswith("long-run: stopped")  # after the run: its final state


def test_cli_command_is_what_the_cli_reads():
    import app
    from apps.finetune import task

    text = task.cli_command("org/model", "/tmp/x/my data.jsonl", "fact", 30.0, 0.002, 8.0, 16.0, 128.0, 1.0)
    assert text == (
        "python app.py finetune --model org/model --data 'my data.jsonl' --name fact --steps 30 "
        "--learning-rate 0.002 --lora-r 8 --lora-alpha 16 --max-length 128 --batch-size 1"
    )
    args = app.parse_args(text.split(" ", 2)[2].replace("'my data.jsonl'", "my.jsonl").split())
    assert (args.command, args.base_model, args.data, args.name, args.steps, args.learning_rate) == (
        "finetune",
        "org/model",
        "my.jsonl",
        "fact",
        30,
        0.002,
    )
    assert (args.lora_r, args.lora_alpha, args.max_length, args.batch_size, args.model) == (8, 16, 128, 1, [])
    hub = task.cli_command("", None, "fact", 60, 0.002, 16, 32, 256, 2, "org/set:train")
    assert "--data org/set:train" in hub and "--model" not in hub
    # The further settings appear where they differ from the defaults, and the CLI reads them back.
    defaults = task.cli_command(
        "", None, "fact", 60, 0.002, 16, 32, 256, 2, "", 0, 1.0, 0, "all-linear", 0.2, 0, "truncate"
    )
    assert defaults == task.cli_command("", None, "fact", 60, 0.002, 16, 32, 256, 2, "")
    more = task.cli_command(
        "", None, "fact", 60, 0.002, 16, 32, 256, 2, "", 1.5, 4.0, 0.05, "q_proj,v_proj", 0.1, 7.0, "refuse"
    )
    assert more.endswith(
        "--epochs 1.5 --gradient-accumulation 4 --lora-dropout 0.05 --target-modules q_proj,v_proj "
        "--validation-fraction 0.1 --seed 7 --long-rows refuse"
    )
    args = app.parse_args(more.split(" ", 2)[2].split())
    assert [getattr(args, key) for key in task.MORE_SETTINGS] == [1.5, 4, 0.05, "q_proj,v_proj", 0.1, 7, "refuse"]


# -- the command line: progress, Ctrl-C, and the process killed mid-run ---------------------------


def cli(tiny_ctx, *args: str, **popen) -> subprocess.Popen:
    """`python app.py finetune ARGS` on the tiny kit, with tiny_ctx's data folder."""
    from conftest import KIT_DIR

    env = {
        **os.environ,
        "SHOWCASE_DATA_DIR": str(tiny_ctx.settings.data_path),
        "SHOWCASE_LOCAL_MODEL_DIRS": json.dumps([str(KIT_DIR)]),
        "PYTHONUNBUFFERED": "1",
    }
    models = str(tiny_ctx.settings.models_file)
    command = [sys.executable, "app.py", "--models", models, "--offline", "--memory-budget", "none", "finetune"]
    return subprocess.Popen(
        [*command, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **popen
    )


FACT = str(ROOT / "assets" / "finetune-fact.jsonl")
SMALL = ("--lora-r", "2", "--lora-alpha", "4", "--max-length", "64", "--batch-size", "1")


def test_cli_trains_with_the_same_progress(tiny_ctx):
    process = cli(tiny_ctx, "--data", FACT, "--name", "cli-run", "--steps", "3", *SMALL)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("cli-run: ") and any(
        line.startswith("cli-run: done, step 3 of 3, train loss") for line in lines
    ), out
    assert lines[-1].startswith("Adapter: ") and "+adapter:cli-run" in lines[-1]
    assert json.loads((tiny_ctx.settings.data_path / "adapters/cli-run/training.json").read_text())["step"] == 3
    bad = cli(tiny_ctx, "--data", FACT, "--name", "../escape", "--steps", "3")
    out, _ = bad.communicate(timeout=300)
    assert bad.returncode == 2 and "cannot be a adapter name" in out, out
    assert not (tiny_ctx.settings.data_path.parent / "escape").exists()


def _wait_for(predicate, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_ctrl_c_stops_the_cli_and_keeps_the_adapter(tiny_ctx):
    process = cli(tiny_ctx, "--data", FACT, "--name", "interrupted", "--steps", "10000", *SMALL)
    first = process.stdout.readline()
    assert first.startswith("interrupted: "), first
    saw_step = ""
    while "step 0 of" in saw_step or not saw_step:
        saw_step = process.stdout.readline()
        assert saw_step, "the run ended early"
    process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        raise AssertionError(f"still running 120 s after Ctrl-C; its last lines:\n{out[-2000:]}") from None
    assert process.returncode == 0, out
    assert out.count("Stopping after the current step") == 1 and "interrupted: stopped, step " in out, out
    saved = json.loads((tiny_ctx.settings.data_path / "adapters/interrupted/training.json").read_text())
    assert saved["state"] == "stopped" and 0 < saved["step"] < 10000


def test_killed_mid_run_leaves_the_last_checkpoint_loadable(tiny_ctx):
    from apps.finetune import task

    process = cli(tiny_ctx, "--data", FACT, "--name", "killed", "--steps", "10000", "--save-every", "2", *SMALL)
    folder = tiny_ctx.settings.data_path / "adapters" / "killed"
    try:
        _wait_for(lambda: (folder / "training.json").is_file() or process.poll() is not None)
        time.sleep(0.5)  # past the first checkpoint: the kill may land anywhere, even in the middle of a save
    finally:
        process.kill()  # SIGKILL: no handler runs, nothing is cleaned up
        process.wait(timeout=30)
    saved = json.loads((folder / "training.json").read_text())
    assert saved["state"] == "checkpoint" and saved["step"] % 2 == 0 and saved["step"] >= 2
    ref = task.adapter_ref(tiny_ctx, "killed")  # a new process would see exactly this folder
    assert tiny_ctx.run_task("chat", "hi", [], "", 2, 0.0, 1.0, 1.0, ref).text is not None
    # Training again under the name after the crash works and replaces the checkpoint.
    *_, last = task.finetune(tiny_ctx, None, FACT, "killed", steps=2, lora_r=2, lora_alpha=4, max_length=64)
    assert last.status["state"] == "done"
    assert json.loads((folder / "training.json").read_text())["state"] == "done"


# -- the bench harness ---------------------------------------------------------------------------


def test_bench_runs_and_reports_a_finite_ratio(tmp_path):
    import math

    out = tmp_path / "bench-finetune.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.finetune", "--rounds", "1", "--steps", "5", "--out", str(out)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(out.read_text())
    assert math.isfinite(measured["ratio"]) and measured["ratio"] > 0
    assert len(measured["app_step_s"]) == len(measured["bare_step_s"]) == 2  # 5 steps − 2 warm-up → 2 intervals
    assert "ratio app / bare:" in result.stdout


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
