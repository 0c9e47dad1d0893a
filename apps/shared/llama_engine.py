"""The llama.cpp chat engine: a GGUF checkpoint run by `llama-cpp-python`, quantized as it is on disk.

transformers de-quantizes a GGUF file to float and runs it at a fraction of llama.cpp's speed (SmolLM2-135M
Q4_1 on 2 cores: ~13 tokens/s against ~96), so a chat model whose reference names a GGUF file runs here when
`llama_cpp` is installed (setting `gguf_engine`, `SHOWCASE_GGUF_ENGINE`). It is an optional dependency:
`pip install llama-cpp-python==0.3.36` (it builds llama.cpp from source: gcc, g++ and cmake, a few minutes).

The conversation is formatted by the GGUF's own chat template (its `tokenizer.chat_template` metadata,
rendered with Jinja as transformers renders it), never by a guessed format. A GGUF without one cannot hold a
conversation: the chat says so (`chat_engine.require_template`).
"""

from __future__ import annotations

import codecs
import importlib.util
import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from apps.core import libraries
from apps.core.errors import InputError, ModelUnavailable
from apps.core.manager import LoadRequest
from apps.core.weights import gguf_metadata
from apps.shared.chat_engine import (
    DOCUMENT_SEPARATOR,
    GenerationSettings,
    GenerationStats,
    Message,
    _held_back,
    _stop_at,
    render_with_system_fallback,
)
from apps.shared.structured import TokenMask, llama_token_mask

log = logging.getLogger("showcase.llama")

ENGINES = ("auto", "llama.cpp", "transformers")
INSTALL_LINE = "pip install llama-cpp-python==0.3.36"
DEFAULT_CONTEXT = 8192  # the most tokens of context a GGUF gets unless `gguf_context` says otherwise
KV_BYTES_PER_VALUE = 2  # llama.cpp keeps its KV cache in float16 by default

_fallback_logged = threading.Event()


def llama_cpp_installed() -> bool:
    """Whether `llama_cpp` can be imported (without importing it: that loads the native library)."""
    return importlib.util.find_spec("llama_cpp") is not None


def gguf_engine(setting: str = "auto") -> str:
    """The engine GGUF chat models run on for a `gguf_engine` setting: "llama.cpp" or "transformers"."""
    if setting not in ENGINES:
        raise InputError(f"gguf_engine must be one of {', '.join(ENGINES)}, not {setting!r}.")
    if setting == "auto":
        return "llama.cpp" if llama_cpp_installed() else "transformers"
    return setting


def engine_note(setting: str = "auto") -> str:
    """A line for the System tab when GGUF chat models fall back to transformers; '' when llama.cpp runs them."""
    if setting == "auto" and not llama_cpp_installed():
        return (
            "GGUF chat models run on transformers (de-quantized, several times slower) because llama-cpp-python "
            f"is not installed; `{INSTALL_LINE}` makes them run on llama.cpp."
        )
    if setting == "transformers":
        return "GGUF chat models run on transformers (SHOWCASE_GGUF_ENGINE=transformers)."
    return ""


def wants_llama(request: LoadRequest) -> bool:
    """Whether this load of a chat model goes to llama.cpp (a GGUF file, and the setting allows it)."""
    if not request.ref.gguf_file:
        return False
    setting = str(request.options.get("gguf_engine", "auto"))
    engine = gguf_engine(setting)
    if setting == "llama.cpp" and not llama_cpp_installed():
        raise ModelUnavailable(
            f"SHOWCASE_GGUF_ENGINE is llama.cpp but llama-cpp-python is not installed: run `{INSTALL_LINE}`, "
            "or set SHOWCASE_GGUF_ENGINE=auto to run GGUF models on transformers."
        )
    if engine == "transformers" and setting == "auto" and not _fallback_logged.is_set():
        _fallback_logged.set()
        log.info("llama-cpp-python is not installed: GGUF chat models run on transformers (%s)", INSTALL_LINE)
    return engine == "llama.cpp"


# -- the engine -----------------------------------------------------------------------------------


@dataclass
class LlamaChat:
    """A GGUF model on llama.cpp, with the chat template from its metadata (None when it has none)."""

    llama: Any  # llama_cpp.Llama
    chat_template: str | None
    name: str
    file_bytes: int
    kv_cache_bytes: int
    engine: str = field(default="llama.cpp")
    # One llama.cpp context holds one sequence: generations on the same model take turns.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def context_length(self) -> int:
        return int(self.llama.n_ctx())

    def memory_bytes(self) -> int:
        """What the model holds: its mapped file plus the KV cache for the whole context."""
        return self.file_bytes + self.kv_cache_bytes

    def encode(self, messages: list[Message]) -> list[int]:
        return render_with_system_fallback(self._render_ids, messages)

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def decode(self, ids: list[int]) -> str:
        """The text of token ids, special tokens included (for looking at a prompt)."""
        return self.llama.detokenize(ids, special=True).decode("utf-8", errors="replace")

    def stream(self, input_ids: list[int], settings: GenerationSettings, stats: GenerationStats) -> Iterator[str]:
        return _stream(self, input_ids, settings, stats)

    def text_ids(self, text: str) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def start_ids(self) -> list[int]:
        """What a plain text follows: the document separator where the vocabulary has it (DOCUMENT_SEPARATOR),
        else the beginning-of-text token, else end-of-text."""
        separator = self.llama.tokenize(DOCUMENT_SEPARATOR.encode(), add_bos=False, special=True)
        if len(separator) == 1:
            return separator
        bos = self.llama.token_bos()
        return [bos if bos >= 0 else self.llama.token_eos()]

    def log_likelihood(self, context_ids: list[int], continuation_ids: list[int]) -> float:
        """Σ ln p(continuation token | everything before it), a token at a time.

        A context made without `logits_all` keeps only the last position's logits, so each continuation token
        is scored from the logits after the one before, then fed in: the context's KV cache serves them all.
        """
        import llama_cpp
        import numpy as np

        total = 0.0
        with self.lock:
            llama = self.llama
            llama.reset()
            llama.eval(context_ids)
            for number, token in enumerate(continuation_ids):
                pointer = llama_cpp.llama_get_logits_ith(llama.ctx, -1)
                logits = np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).astype(np.float64)
                peak = logits.max()
                total += float(logits[token] - peak - np.log(np.exp(logits - peak).sum()))
                if number + 1 < len(continuation_ids):
                    llama.eval([token])
        return total

    def _render_ids(self, messages: list[Message]) -> list[int]:
        if not self.chat_template:
            raise InputError(f"`{self.name}` has no chat template in its GGUF metadata.")
        text = render_template(self.chat_template, messages, self._special_text("bos"), self._special_text("eos"))
        bos = self._special_text("bos")
        add_bos = self._adds_bos() and not (bos and text.startswith(bos))
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def _special_text(self, which: str) -> str:
        token = self.llama.token_bos() if which == "bos" else self.llama.token_eos()
        if token is None or token < 0:
            return ""
        return self.llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    def _adds_bos(self) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_get_add_bos(self.llama._model.vocab))

    def is_end_of_turn(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llama._model.vocab, token))


def render_template(template: str, messages: list[Message], bos_token: str, eos_token: str) -> str:
    """The conversation through a Jinja chat template, as transformers renders one (same environment)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        from jinja2 import TemplateError

        raise TemplateError(message)

    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return environment.from_string(template).render(
        messages=messages, add_generation_prompt=True, bos_token=bos_token, eos_token=eos_token
    )


def _stream(
    chat: LlamaChat, input_ids: list[int], settings: GenerationSettings, stats: GenerationStats
) -> Iterator[str]:
    """The reply piece by piece from llama.cpp; generation stops as soon as this generator is closed.

    Tokens are produced in this thread (llama.cpp's `generate` is itself a generator), so closing it
    (finished, Stop pressed, client gone) ends the generation at once. Stop strings end the reply without
    being part of it; bytes of a character split over two tokens wait for the rest.
    """
    stats.prompt_tokens, stats.completion_tokens, stats.finish_reason = len(input_ids), 0, ""
    with chat.lock:
        llama = chat.llama
        if settings.seed is not None:
            llama.set_seed(settings.seed % 2**32)
            # A reply reproducible from its seed needs the same evaluation as the first time: re-evaluating
            # a cached prefix in other batch sizes can move the logits enough to sample another token.
            llama.reset()
        else:
            llama.set_seed(random.randrange(2**32))
        greedy = settings.temperature == 0
        mask = _token_mask(chat, settings)
        tokens = llama.generate(
            input_ids,
            temp=0.0 if greedy else settings.temperature,
            top_p=1.0 if greedy else settings.top_p,
            top_k=0,  # off, like min_p and typical_p: the same sampling as the transformers engine
            min_p=0.0,
            typical_p=1.0,
            repeat_penalty=settings.repetition_penalty,
            logits_processor=None if mask is None else [mask],
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        started = time.monotonic()
        text, sent, ended = "", 0, False
        try:
            for token in tokens:
                if chat.is_end_of_turn(token):
                    ended = True
                    break
                stats.completion_tokens += 1
                if mask is not None:
                    mask.accept(token)
                text += decoder.decode(llama.detokenize([token], special=False))
                cut = _stop_at(text, settings.stop)
                if cut is not None:
                    if cut > sent:
                        yield text[sent:cut]
                    stats.finish_reason = "stop"
                    return
                safe = len(text) - _held_back(text, settings.stop)
                if safe > sent:
                    if stats.first_token_seconds is None:
                        stats.first_token_seconds = time.monotonic() - started
                    yield text[sent:safe]
                    sent = safe
                if stats.completion_tokens >= settings.max_new_tokens:
                    break
            text += decoder.decode(b"", final=True)
            if len(text) > sent:
                yield text[sent:]
            stats.finish_reason = "stop" if ended else "length"
        finally:
            tokens.close()


# -- loading --------------------------------------------------------------------------------------


# Flash attention on, as llama.cpp's own default (`-fa auto`) has it where the backend supports it
# (llama-cpp-python's default is off). Off, llama.cpp 0.3.36 built on one of our machines (AMD EPYC, AVX2, no
# AVX-512) computed a prompt evaluated in batches of 8 tokens or more wrongly: the real SmolLM2 answered "What is
# the capital of France?" with "La femme de France, le Grand Croix…"; token by token, or with flash attention,
# "The capital of France is Paris." Other machines were right either way.
FLASH_ATTENTION = True


def load_llama_chat(request: LoadRequest) -> LlamaChat:
    """The GGUF file of `request.ref` on llama.cpp, with a context of at most `gguf_context` tokens."""
    with libraries.imports("llama.load"):
        import llama_cpp

    path = request.path / str(request.ref.gguf_file)
    if not path.is_file():
        raise ModelUnavailable(f"`{request.ref.name}` has no file {request.ref.gguf_file}.")
    n_ctx = context_for(request, path)
    on_gpu = request.device.startswith("cuda") and bool(llama_cpp.llama_supports_gpu_offload())
    llama = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_gpu_layers=-1 if on_gpu else 0,
        flash_attn=FLASH_ATTENTION,
        verbose=False,
    )
    template = llama.metadata.get("tokenizer.chat_template") or None
    return LlamaChat(
        llama,
        template,
        request.ref.name,
        file_bytes=path.stat().st_size,
        kv_cache_bytes=kv_cache_bytes(llama.metadata, llama.n_ctx()),
    )


def _trained_context(path: Path) -> int:
    """The context length the GGUF was trained for (`<arch>.context_length`), 0 when it does not say."""
    try:
        metadata = gguf_metadata(path)
        return int(metadata.get(f"{metadata.get('general.architecture', '')}.context_length", 0))
    except (OSError, ValueError):
        return 0


def context_for(request: LoadRequest, path: Path) -> int:
    """The context size a GGUF gets: the `gguf_context` option, capped at its trained length."""
    trained = _trained_context(path)
    wanted = int(request.options.get("gguf_context") or DEFAULT_CONTEXT)
    return min(wanted, trained) if trained else wanted


def estimate_bytes(request: LoadRequest) -> int | None:
    """What the GGUF will hold on llama.cpp (file + KV cache), for the manager's budget before it loads."""
    path = request.path / str(request.ref.gguf_file)
    try:
        metadata = gguf_metadata(path)
    except (OSError, ValueError):
        return None
    return path.stat().st_size + kv_cache_bytes(metadata, context_for(request, path))


def kv_cache_bytes(metadata: Mapping[str, Any], n_ctx: int) -> int:
    """The KV cache's size for `n_ctx` tokens from the GGUF's metadata (keys and values, every layer)."""
    arch = metadata.get("general.architecture", "")

    def number(key: str, default: int = 0) -> int:
        try:
            return int(float(metadata.get(f"{arch}.{key}", default)))
        except (TypeError, ValueError):
            return default

    layers, width, heads = number("block_count"), number("embedding_length"), number("attention.head_count", 1)
    kv_heads = number("attention.head_count_kv", heads) or heads
    key_size = number("attention.key_length", width // max(heads, 1))
    value_size = number("attention.value_length", key_size)
    return layers * n_ctx * kv_heads * (key_size + value_size) * KV_BYTES_PER_VALUE


def _token_mask(chat: LlamaChat, settings: GenerationSettings) -> TokenMask | None:
    """The grammar of the settings' output constraint (a JSON schema, or any JSON object) over this model's
    vocabulary; None: free text."""
    if settings.constraint is None:
        return None
    return llama_token_mask(settings.constraint, chat.llama)
