"""The llama.cpp chat engine on the real SmolLM2 GGUF, the engine choice and its fallback, the de-quantized cache.

The session's real app runs its chat model on llama.cpp when `llama_cpp` is installed (scripts/test.sh
installs it). Tests that need another context size or another file load their own llama.cpp copy of the
same file: that maps the file and takes well under a second (no de-quantization).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SMOLLM2_FILE, smollm2_folder, smollm2_ref

from apps import SPECS
from apps.core.errors import InputError, ModelUnavailable
from apps.core.manager import LoadRequest, ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection
from apps.core.spec import TaskContext
from apps.shared import gguf_cache, llama_engine
from apps.shared.chat_engine import build_messages, load_chat_model
from apps.tasks.chat import reply, stream_chat
from apps.tasks.system import process_markdown, status

QUESTION = "What is the capital of France?"
SYSTEM = "You are a helpful assistant."

needs_llama = pytest.mark.skipif(
    not llama_engine.llama_cpp_installed(), reason=f"llama-cpp-python is not installed ({llama_engine.INSTALL_LINE})"
)


def own_context(settings, options: dict, ref: str | None = None) -> TaskContext:
    """The chat task on a manager of its own (other loader options than the session's app)."""
    manager = ModelManager(
        loaders={"chat": load_chat_model},
        selection=ModelSelection({"chat": ModelRef.parse(ref or smollm2_ref())}),
        budget=None,
        device="cpu",
        offline=True,
        loader_options=options,
    )
    return TaskContext(SPECS["chat"], settings, manager, SPECS)


def block_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import llama_cpp` fail, as when the package is not installed."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)


# -- the engine choice (no model) -----------------------------------------------------------------


def test_engine_setting_resolves_and_falls_back_when_llama_cpp_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    block_llama_cpp(monkeypatch)
    assert not llama_engine.llama_cpp_installed()
    assert llama_engine.gguf_engine("auto") == "transformers"
    assert llama_engine.gguf_engine("transformers") == "transformers"
    assert "pip install llama-cpp-python" in llama_engine.engine_note("auto")
    gguf = LoadRequest("chat", ModelRef("/m", gguf_file="m.gguf"), Path("/m"), "cpu", "float32", False, {})
    assert not llama_engine.wants_llama(gguf)  # auto: transformers, no error
    explicit = LoadRequest("chat", gguf.ref, gguf.path, "cpu", "float32", False, {"gguf_engine": "llama.cpp"})
    with pytest.raises(ModelUnavailable, match="pip install llama-cpp-python"):
        llama_engine.wants_llama(explicit)
    with pytest.raises(InputError):
        llama_engine.gguf_engine("vllm")


def test_a_folder_checkpoint_never_goes_to_llama_cpp() -> None:
    folder = LoadRequest("chat", ModelRef("/m"), Path("/m"), "cpu", "float32", False, {"gguf_engine": "llama.cpp"})
    assert not llama_engine.wants_llama(folder)


@needs_llama
def test_engine_note_is_empty_when_llama_cpp_runs_gguf() -> None:
    assert llama_engine.gguf_engine("auto") == "llama.cpp"
    assert llama_engine.engine_note("auto") == ""
    assert "transformers" in llama_engine.engine_note("transformers")


def test_kv_cache_size_from_metadata() -> None:
    metadata = {
        "general.architecture": "llama",
        "llama.block_count": "30",
        "llama.embedding_length": "576",
        "llama.attention.head_count": "9",
        "llama.attention.head_count_kv": "3",
    }
    # 30 layers x 1024 tokens x 3 KV heads x (64 + 64) values x 2 bytes
    assert llama_engine.kv_cache_bytes(metadata, 1024) == 30 * 1024 * 3 * 128 * 2


# -- the real SmolLM2 on llama.cpp through the app ------------------------------------------------


@pytest.fixture(scope="module")
def llama_chat(real_context) -> TaskContext:
    """The session's real chat model, which runs on llama.cpp."""
    if not llama_engine.llama_cpp_installed():
        pytest.skip(f"llama-cpp-python is not installed ({llama_engine.INSTALL_LINE})")
    ctx = real_context("chat")
    ctx.manager.load("chat")
    return ctx


@pytest.mark.real
def test_real_chat_endpoint_runs_on_llama_cpp_and_follows_up(llama_chat: TaskContext, real_client) -> None:
    first = real_client.predict(QUESTION, [], SYSTEM, 48, 0, 1.0, 1.0, "", api_name="/chat")
    assert "Paris" in first
    row = llama_chat.manager.state_of("chat")
    assert row["engine"] == "llama.cpp" and row["state"] == "loaded"
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first}]
    follow_up = "What is its population?"
    with llama_chat.use() as engine:
        prompt = engine.decode(engine.encode(build_messages(SYSTEM, history, follow_up)))
    # The GGUF's own ChatML template: each turn in <|im_start|>role ... <|im_end|>, ending with the assistant's.
    assert f"<|im_start|>user\n{QUESTION}<|im_end|>" in prompt and first in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    second = real_client.predict(follow_up, history, SYSTEM, 48, 0, 1.0, 1.0, "", api_name="/chat")
    assert "Paris" in second  # "its" only means Paris if the first turn reached the model


@pytest.mark.real
def test_real_status_shows_the_engine_and_its_memory(llama_chat: TaskContext) -> None:
    info = status(llama_chat).tasks["chat"]
    assert info.engine == "llama.cpp"
    with llama_chat.use() as engine:
        file_bytes = (smollm2_folder() / SMOLLM2_FILE).stat().st_size
        assert engine.memory_bytes() == file_bytes + engine.kv_cache_bytes > file_bytes
        assert info.bytes == engine.memory_bytes()


@pytest.mark.real
def test_real_reply_streams_and_ends_its_turn(llama_chat: TaskContext) -> None:
    updates = list(stream_chat(llama_chat, QUESTION, [], SYSTEM, 48, 0, 1.0, 1.0))
    assert len(updates) > 3  # token by token
    assert all(later.reply.startswith(earlier.reply) for earlier, later in itertools.pairwise(updates))
    last = updates[-1]
    assert last.done and "Paris" in last.reply
    assert last.stats.finish_reason == "stop" and 0 < last.stats.completion_tokens < 48
    assert last.stats.first_token_seconds is not None and "tokens/s" in last.note


@pytest.mark.real
def test_real_stop_string_and_token_budget(llama_chat: TaskContext) -> None:
    whole = reply(llama_chat, QUESTION, [], SYSTEM, 48).text
    stopped = reply(llama_chat, QUESTION, [], SYSTEM, 48, stop=["Paris"])
    assert stopped.text == whole[: whole.index("Paris")] and stopped.stats.finish_reason == "stop"
    short = reply(llama_chat, QUESTION, [], SYSTEM, 3)
    assert short.stats.completion_tokens == 3 and short.stats.finish_reason == "length"
    assert whole.startswith(short.text)


@pytest.mark.real
def test_real_seed_makes_a_sampled_reply_reproducible(llama_chat: TaskContext) -> None:
    def sampled(seed: int) -> str:
        return reply(llama_chat, "Write a short poem about the sea.", [], SYSTEM, 24, 1.0, 0.95, seed=seed).text

    first = sampled(7)
    assert sampled(7) == first
    assert len({first, sampled(8), sampled(9)}) > 1  # sampling, not greedy: seeds differ


@pytest.mark.real
def test_real_conversation_is_trimmed_to_the_context(real_settings) -> None:
    if not llama_engine.llama_cpp_installed():
        pytest.skip("llama-cpp-python is not installed")
    ctx = own_context(real_settings, {"gguf_engine": "llama.cpp", "gguf_context": 256})
    with ctx.use() as engine:
        assert engine.context_length == 256 and engine.engine == "llama.cpp"
    filler = "Tell me about rivers. " * 25  # ~125 tokens a turn
    history = []
    for _ in range(3):
        history += [{"role": "user", "content": filler}, {"role": "assistant", "content": "Rivers flow to the sea."}]
    answer = reply(ctx, QUESTION, history, SYSTEM, 32)
    assert "Dropped the 2 oldest turns" in answer.note or "Dropped the 3 oldest turns" in answer.note
    assert "Paris" in answer.text
    assert answer.stats.prompt_tokens + 32 <= 256


@pytest.mark.real
def test_real_gguf_without_a_chat_template_says_so(real_settings, tmp_path: Path) -> None:
    if not llama_engine.llama_cpp_installed():
        pytest.skip("llama-cpp-python is not installed")
    plain = tmp_path / "no-template.gguf"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            "--force",
            "--remove-metadata",
            "tokenizer.chat_template",
            str(smollm2_folder() / SMOLLM2_FILE),
            str(plain),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    ctx = own_context(real_settings, {"gguf_engine": "llama.cpp", "gguf_context": 512}, f"{tmp_path}#{plain.name}")
    with pytest.raises(InputError, match="no chat template in its GGUF metadata"):
        reply(ctx, QUESTION, [], SYSTEM, 8)


# -- the transformers fallback and its de-quantized cache -----------------------------------------


@pytest.mark.real
def test_real_fallback_runs_on_transformers_and_caches_the_dequantized_weights(
    real_settings, real_context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_llama_cpp(monkeypatch)
    cache = tmp_path / "dequantized"
    ctx = own_context(real_settings, {"gguf_engine": "auto", "gguf_cache_dir": str(cache)})
    answer = reply(ctx, QUESTION, [], SYSTEM, 24)
    first_load = ctx.manager.state_of("chat")["load_seconds"]
    assert "Paris" in answer.text
    assert ctx.manager.state_of("chat")["engine"] == "transformers"
    # The System tab says it once, above the table (not an error on the model's row).
    shown = status(real_context("chat"))
    assert "pip install llama-cpp-python" in shown.process.gguf_engine_note
    assert shown.process.gguf_engine_note in process_markdown(shown.as_dict())
    gguf = smollm2_folder() / SMOLLM2_FILE
    copy = gguf_cache.cached_folder(cache, gguf, "float32")
    assert copy is not None and (copy / "model.safetensors").is_file()
    assert not list(cache.glob(".writing-*"))  # written to a temporary folder, renamed when complete

    ctx.manager.unload("chat")
    import transformers

    loaded_from: list[dict] = []
    original = transformers.AutoModelForCausalLM.from_pretrained

    def recording(*args, **kwargs):
        loaded_from.append({"path": args[0], **kwargs})
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", recording)
    again = reply(ctx, QUESTION, [], SYSTEM, 24)
    assert again.text == answer.text  # the same weights, greedy
    assert [call["path"] for call in loaded_from] == [str(copy)] and "gguf_file" not in loaded_from[0]
    second_load = ctx.manager.state_of("chat")["load_seconds"]
    print(f"transformers GGUF load: first {first_load:.1f} s, from the cache {second_load:.1f} s")


def test_cache_key_changes_with_the_file_and_dtype(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF one")
    key = gguf_cache.cache_key(gguf, "float32")
    assert gguf_cache.cache_key(gguf, "bfloat16") != key
    gguf.write_bytes(b"GGUF two, longer")
    assert gguf_cache.cache_key(gguf, "float32") != key
    assert gguf_cache.cached_folder(tmp_path, gguf, "float32") is None


@pytest.mark.real
def test_real_translation_chat_mode_uses_the_llama_cpp_engine(llama_chat: TaskContext, real_context) -> None:
    loads = llama_chat.manager.load_counts.copy()
    result = real_context("translation").run_task("translation", "Good morning.", "English", "French", "chat")
    assert result.text.strip() and result.model == str(llama_chat.configured_model())
    assert llama_chat.manager.load_counts == loads  # the chat model's loaded llama.cpp copy, not another
    assert llama_chat.manager.state_of("chat")["engine"] == "llama.cpp"


@pytest.mark.real
def test_gguf_header_reader_matches_llama_cpp_and_sizes_the_load() -> None:
    path = smollm2_folder() / SMOLLM2_FILE
    metadata = llama_engine.gguf_metadata(path)
    assert metadata["general.architecture"] == "llama" and metadata["llama.context_length"] == 8192
    assert metadata["tokenizer.ggml.tokens"] == 49152  # an array: its length
    assert metadata["tokenizer.chat_template"].startswith("{% for message in messages %}")
    request = LoadRequest("chat", ModelRef(str(path.parent), gguf_file=path.name), path.parent, "cpu", "float32", False)
    small = LoadRequest(*list(request.__dict__.values())[:6], {"gguf_context": 1024})
    # The manager's estimate on llama.cpp: the file (quantized, as loaded) plus the KV cache of the context.
    assert llama_engine.estimate_bytes(small) == path.stat().st_size + llama_engine.kv_cache_bytes(metadata, 1024)
    assert llama_engine.estimate_bytes(request) == path.stat().st_size + llama_engine.kv_cache_bytes(metadata, 8192)


@pytest.mark.real
def test_gguf_header_reader_counts_what_gguf_reader_counts() -> None:
    from gguf import GGUFReader

    from apps.core.weights import read_gguf_header

    path = smollm2_folder() / SMOLLM2_FILE
    metadata, tensors = read_gguf_header(path)
    reader = GGUFReader(str(path))
    assert [(t.name, t.n_elements, t.type_id) for t in tensors] == [
        (t.name, int(t.n_elements), int(t.tensor_type)) for t in reader.tensors
    ]
    assert metadata["llama.block_count"] == reader.fields["llama.block_count"].contents()
