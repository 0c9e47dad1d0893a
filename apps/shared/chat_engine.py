"""The chat engine: a loaded chat model that turns a conversation into streamed text.

Everything that runs a chat model (the Chat tab and `/chat`, the chat-model translation mode, and the
OpenAI-compatible API, RAG answers, the arena, evals once they exist) goes through a `ChatEngine`:

- `encode(messages)`: the prompt's token ids through the model's chat template (for fitting and counting);
- `count_tokens(text)`: tokens of a plain text;
- `stream(input_ids, settings, stats)`: the reply, piece by piece, until it ends, a stop string, the token
  budget, or the caller closes the generator (Stop pressed, client gone).

`TransformersChat` is the engine for transformers checkpoints (GGUF files de-quantized);
`apps/shared/llama_engine.LlamaChat` runs GGUF files on llama.cpp when it is installed. `load_chat_model`
picks between them (setting `gguf_engine`). Other engines (a remote OpenAI-compatible server) implement
the same protocol. The conversation helpers
here (history normalisation, fitting to the context window) are pure and shared by every engine.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from apps.core import libraries
from apps.core.errors import InputError
from apps.core.manager import LoadRequest
from apps.shared.structured import OutputConstraint, transformers_logits_processor

log = logging.getLogger("showcase.chat")

MAX_NEW_TOKENS = 4096
MIN_REPLY_TOKENS = 16  # the least room for a reply worth generating
FALLBACK_CONTEXT = 2048  # for models whose config states no usable limit
MAX_STOP_STRINGS = 4  # as OpenAI's API allows

Message = dict[str, str]
# GPT-2, Qwen, SmolLM and Phi models are pretrained on documents joined by this token, while their "beginning
# of text" is a chat-turn marker (SmolLM2's is `<|im_start|>`): a plain text scored after it reads as the start
# of a turn (SmolLM2-135M: perplexity 97 on plain sentences after `<|im_start|>`, 23 after this).
DOCUMENT_SEPARATOR = "<|endoftext|>"

_active: set[threading.Thread] = set()  # generation threads still running (tests and shutdown check this)
_active_lock = threading.Lock()


# -- generation settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationSettings:
    """How to generate a reply; `temperature` 0 means greedy. Build it with `generation_settings` (validated).

    `constraint` (apps/shared/structured.py) makes every engine keep the reply to JSON (a schema, or any
    object): the transformers engine through an xgrammar logits processor, others with their own grammars.
    """

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    constraint: OutputConstraint | None = None

    def with_max_new_tokens(self, max_new_tokens: int) -> GenerationSettings:
        return dataclasses.replace(self, max_new_tokens=max_new_tokens)

    def with_constraint(self, constraint: OutputConstraint | None) -> GenerationSettings:
        return dataclasses.replace(self, constraint=constraint)


def generation_settings(
    max_new_tokens: Any,
    temperature: Any,
    top_p: Any,
    repetition_penalty: Any,
    stop: Sequence[str] | str | None = None,
    seed: Any = None,
) -> GenerationSettings:
    """Validated settings: InputError names the setting out of range."""
    try:
        max_new = int(max_new_tokens)
        temp, nucleus, penalty = float(temperature), float(top_p), float(repetition_penalty)
    except (TypeError, ValueError):
        raise InputError("Generation settings must be numbers.") from None
    if not 1 <= max_new <= MAX_NEW_TOKENS:
        raise InputError(f"Max new tokens must be between 1 and {MAX_NEW_TOKENS}.")
    if not 0 <= temp <= 2:
        raise InputError("Temperature must be between 0 (greedy) and 2.")
    if not 0 < nucleus <= 1:
        raise InputError("Top-p must be above 0 and at most 1.")
    if not 0.5 <= penalty <= 2:
        raise InputError("Repetition penalty must be between 0.5 and 2 (1 = none).")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if len(stops) > MAX_STOP_STRINGS or not all(isinstance(s, str) and s and len(s) <= 200 for s in stops):
        raise InputError(f"Stop must be at most {MAX_STOP_STRINGS} non-empty strings of up to 200 characters.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise InputError("The seed must be a whole number from 0 to 2^63 - 1.")
    return GenerationSettings(max_new, temp, nucleus, penalty, stops, seed)


def generation_options(max_new_tokens: Any, temperature: Any, top_p: Any, repetition_penalty: Any) -> dict[str, Any]:
    """`generate()` keyword arguments from the tab's settings (validated); temperature 0 means greedy."""
    return generate_kwargs(generation_settings(max_new_tokens, temperature, top_p, repetition_penalty))


def generate_kwargs(settings: GenerationSettings) -> dict[str, Any]:
    """transformers `generate()` keyword arguments for the settings (stop strings and seed are applied apart)."""
    options: dict[str, Any] = {
        "max_new_tokens": settings.max_new_tokens,
        "repetition_penalty": settings.repetition_penalty,
    }
    if settings.temperature == 0:
        options["do_sample"] = False
        # Neutralize sampling defaults a model's generation config may carry (they would only warn).
        options.update(temperature=None, top_p=None, top_k=None)
    else:
        options.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p)
    return options


@dataclass
class GenerationStats:
    """What a finished (or stopped) generation did: token counts and why it ended (OpenAI's names)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""  # "stop" (end of turn, a stop string), "length" (token budget); "" while running
    first_token_seconds: float | None = None


# -- the engine protocol --------------------------------------------------------------------------


class ChatEngine(Protocol):
    """A loaded chat model, whatever runs it."""

    name: str
    context_length: int
    engine: str  # "transformers", "llama.cpp", "remote": shown in the System tab

    def encode(self, messages: list[Message]) -> list[int]:
        """Token ids of the conversation through the chat template, ending with the assistant's turn opening."""

    def count_tokens(self, text: str) -> int:
        """Tokens of a plain text (no special tokens)."""

    def stream(self, input_ids: list[int], settings: GenerationSettings, stats: GenerationStats) -> Iterator[str]:
        """The reply piece by piece; `stats` is filled in as it goes. Stops generating when closed."""

    # Local engines also have `log_likelihood(context_ids, continuation_ids) -> float`: the sum of the
    # natural log-probabilities of the continuation's tokens after the context (what perplexity is made of).


# -- the transformers engine ----------------------------------------------------------------------


@dataclass
class TransformersChat:
    """A transformers causal LM with its tokenizer (whose chat template formats the conversation)."""

    model: Any
    tokenizer: Any
    context_length: int
    name: str
    engine: str = field(default="transformers")

    def encode(self, messages: list[Message]) -> list[int]:
        return prompt_ids(self.tokenizer, messages)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def decode(self, ids: list[int]) -> str:
        """The text of token ids, special tokens included (for looking at a prompt)."""
        return self.tokenizer.decode(ids)

    def stream(self, input_ids: list[int], settings: GenerationSettings, stats: GenerationStats) -> Iterator[str]:
        return stream_generate(self, input_ids, settings, stats)

    def text_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]

    def start_ids(self) -> list[int]:
        """What a plain text follows: the token that separates documents in pretraining (see DOCUMENT_SEPARATOR),
        else the beginning-of-text token, else end-of-text (as GPT-2)."""
        tokenizer = self.tokenizer
        separator = tokenizer.convert_tokens_to_ids(DOCUMENT_SEPARATOR)
        if separator is not None and separator != tokenizer.unk_token_id:
            return [separator]
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        return [start] if start is not None else []

    def log_likelihood(self, context_ids: list[int], continuation_ids: list[int]) -> float:
        """Σ ln p(continuation token | everything before it), in one forward pass."""
        import torch

        ids = torch.tensor([context_ids + continuation_ids], device=self.model.device)
        with torch.no_grad():
            logits = self.model(ids).logits[0, len(context_ids) - 1 : -1].float()
        wanted = torch.tensor(continuation_ids, device=logits.device)
        return float(torch.log_softmax(logits, dim=-1).gather(1, wanted[:, None]).sum())


ChatModel = TransformersChat  # the name the tests and the bench know


def load_chat_model(request: LoadRequest) -> ChatEngine:
    """The chat engine for a model: llama.cpp for a GGUF file when it is installed (setting `gguf_engine`),
    else transformers. Every chat caller loads through this, so all of them get the same engine."""
    from apps.shared import llama_engine

    if llama_engine.wants_llama(request) and not request.ref.adapter:  # adapters run on transformers only
        return llama_engine.load_llama_chat(request)
    return load_transformers_chat(request)


def _chat_estimate_bytes(request: LoadRequest) -> int | None:
    """The manager's size estimate for a GGUF on llama.cpp (file + KV cache); None: the weight headers decide."""
    from apps.shared import llama_engine

    wanted = llama_engine.wants_llama(request) and not request.ref.adapter
    return llama_engine.estimate_bytes(request) if wanted else None


load_chat_model.estimate_bytes = _chat_estimate_bytes  # type: ignore[attr-defined]  # read by the manager


def load_transformers_chat(request: LoadRequest) -> TransformersChat:
    """Tokenizer + causal LM from a local folder, or from a GGUF file in it (de-quantized to `request.dtype`).

    A GGUF file is de-quantized once: the result is kept on disk (`apps/shared/gguf_cache.py`, in the
    `gguf_cache_dir` loader option's folder) and the next load reads that. This is also the loader for
    callers that need transformers whatever the setting (fine-tuning trains on the de-quantized weights).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from apps.shared import gguf_cache

    options: dict[str, Any] = {"trust_remote_code": request.trust_remote_code, "local_files_only": True}
    cache_dir = request.options.get("gguf_cache_dir")
    gguf_path = request.path / request.ref.gguf_file if request.ref.gguf_file else None
    if gguf_path is not None and cache_dir and gguf_path.is_file():
        cached = gguf_cache.cached_folder(Path(cache_dir), gguf_path, request.dtype)
        if cached is not None:
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(cached), **options)
                model = AutoModelForCausalLM.from_pretrained(str(cached), dtype=request.dtype, **options)
                return _transformers_chat(model, tokenizer, request)
            except Exception as exc:  # a damaged copy: de-quantize again and write a new one
                log.warning("the cached de-quantized copy %s does not load (%s); rebuilding it", cached, exc)
                gguf_cache.discard(cached)
    if request.ref.gguf_file:
        options["gguf_file"] = request.ref.gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(request.path), **options)
    model = AutoModelForCausalLM.from_pretrained(str(request.path), dtype=request.dtype, **options)
    if gguf_path is not None and cache_dir and gguf_path.is_file():
        gguf_cache.store(Path(cache_dir), gguf_path, request.dtype, model, tokenizer)
    return _transformers_chat(model, tokenizer, request)


def _transformers_chat(model: Any, tokenizer: Any, request: LoadRequest) -> TransformersChat:
    if request.ref.adapter_dir:
        model = apply_adapter(model, request.ref.adapter_dir)
    model.to(request.device).eval()
    name = f"{request.ref.name}+adapter:{request.ref.adapter}" if request.ref.adapter else request.ref.name
    return TransformersChat(model, tokenizer, context_length(model.config, tokenizer), name)


def apply_adapter(model: Any, folder: str) -> Any:
    """`model` with the peft LoRA adapter in `folder` merged into its weights (this copy is the adapter's own,
    and a merged model generates as fast as the base). Adapters run on this transformers engine only."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, folder).merge_and_unload()


def context_length(config: Any, tokenizer: Any) -> int:
    """The model's context window in tokens: the smallest plausible limit its config and tokenizer state."""
    candidates = [
        getattr(config, "max_position_embeddings", None),
        getattr(getattr(config, "text_config", None), "max_position_embeddings", None),
        getattr(tokenizer, "model_max_length", None),
    ]
    limits = [int(value) for value in candidates if isinstance(value, int) and 0 < value < 10_000_000]
    return min(limits) if limits else FALLBACK_CONTEXT


def require_template(engine: Any) -> None:
    """InputError unless the model has a chat template (a base model cannot hold a conversation)."""
    if hasattr(engine, "chat_template"):  # engines that read the template themselves (llama.cpp: GGUF metadata)
        template, where = engine.chat_template, " in its GGUF metadata (`tokenizer.chat_template`)"
    else:
        tokenizer = getattr(engine, "tokenizer", None)
        if tokenizer is None:
            return
        template, where = getattr(tokenizer, "chat_template", None), ""
    if not template:
        raise InputError(
            f"`{engine.name}` has no chat template{where}, so it cannot hold a conversation. Choose an "
            "instruction-tuned chat model (names usually end in -Instruct or -Chat), e.g. "
            "HuggingFaceTB/SmolLM2-360M-Instruct."
        )


def prompt_ids(tokenizer: Any, messages: list[Message]) -> list[int]:
    """Token ids of the conversation through the chat template, ending with the assistant's turn opening."""

    def render(conversation: list[Message]) -> list[int]:
        encoded = tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(encoded["input_ids"])

    return render_with_system_fallback(render, messages)


def render_with_system_fallback(render: Callable[[list[Message]], list[int]], messages: list[Message]) -> list[int]:
    """`render(messages)`; a template that refuses a system role gets it prepended to the first user message."""
    from jinja2 import TemplateError

    try:
        return render(messages)
    except TemplateError as exc:
        if messages and messages[0]["role"] == "system" and len(messages) > 1:
            # Some templates (e.g. Gemma's) refuse a system role: prepend it to the first user message.
            first = {"role": "user", "content": f"{messages[0]['content']}\n\n{messages[1]['content']}"}
            try:
                return render([first, *messages[2:]])
            except TemplateError:
                pass
        raise InputError(f"The model's chat template rejected this conversation: {exc}") from None


def stream_generate(
    chat_model: TransformersChat, input_ids: list[int], settings: GenerationSettings, stats: GenerationStats
) -> Iterator[str]:
    """Yield the reply piece by piece; stops generating as soon as this generator closes.

    `generate()` runs in a thread feeding a TextIteratorStreamer. A stopping criterion watches an event
    that is set when the generator ends for any reason (finished, Stop pressed, client gone), so no
    generation outlives its request. Stop strings end the reply without being part of it.
    """
    with libraries.imports("chat.generate"):
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer, set_seed

    stop = threading.Event()
    stats.prompt_tokens, stats.completion_tokens, stats.finish_reason = len(input_ids), 0, ""
    tokenizer = chat_model.tokenizer
    eos_ids = _eos_ids(chat_model)

    class StopWhenAsked(StoppingCriteria):
        def __call__(self, ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            stats.completion_tokens = ids.shape[1] - inputs.shape[1]  # called once per generated token
            return torch.full((ids.shape[0],), stop.is_set(), dtype=torch.bool, device=ids.device)

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    failure: list[BaseException] = []
    device = chat_model.model.device
    inputs = torch.tensor([input_ids], device=device)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    last_token: list[int] = []
    options = generate_kwargs(settings)
    if settings.constraint is not None:
        vocab_size = chat_model.model.get_output_embeddings().weight.shape[0]  # may exceed len(tokenizer): padding
        options["logits_processor"] = [transformers_logits_processor(settings.constraint, tokenizer, vocab_size)]

    def run() -> None:
        try:
            if settings.seed is not None:
                set_seed(settings.seed)  # process-wide: a sampled reply beside another one is not reproducible
            with torch.inference_mode():
                output = chat_model.model.generate(
                    input_ids=inputs,
                    attention_mask=torch.ones_like(inputs),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([StopWhenAsked()]),
                    pad_token_id=pad_id,
                    **options,
                )
            if output.shape[1] > inputs.shape[1]:
                last_token.append(int(output[0, -1]))
        except BaseException as exc:  # reported by the reading side
            failure.append(exc)
            streamer.end()
        finally:
            with _active_lock:
                _active.discard(threading.current_thread())

    thread = threading.Thread(target=run, name="chat-generate", daemon=True)
    with _active_lock:
        _active.add(thread)
    started = time.monotonic()
    thread.start()
    text, sent = "", 0
    try:
        for piece in streamer:
            if not piece:
                continue
            text += piece
            cut = _stop_at(text, settings.stop)
            if cut is not None:
                if cut > sent:
                    yield text[sent:cut]
                stats.finish_reason = "stop"
                return
            # Hold back what could be the start of a stop string until the next piece decides.
            safe = len(text) - _held_back(text, settings.stop)
            if safe > sent:
                if stats.first_token_seconds is None:
                    stats.first_token_seconds = time.monotonic() - started
                yield text[sent:safe]
                sent = safe
        thread.join()
        if failure:
            raise failure[0]
        if len(text) > sent:
            yield text[sent:]
        ended_by_eos = bool(last_token) and last_token[0] in eos_ids
        budget_used = stats.completion_tokens >= settings.max_new_tokens
        stats.finish_reason = "length" if budget_used and not ended_by_eos else "stop"
    finally:
        stop.set()
        thread.join(timeout=60)


def _eos_ids(chat_model: TransformersChat) -> set[int]:
    ids = chat_model.model.generation_config.eos_token_id
    if ids is None:
        ids = chat_model.tokenizer.eos_token_id
    return set(ids) if isinstance(ids, list | tuple) else {ids} if ids is not None else set()


def _stop_at(text: str, stops: tuple[str, ...]) -> int | None:
    """Where the first stop string starts in `text`, or None."""
    found = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters of `text` could begin a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                longest = max(longest, size)
                break
    return longest


def active_generations() -> int:
    """How many generation threads are running now."""
    with _active_lock:
        return sum(1 for thread in _active if thread.is_alive())


# -- conversation helpers (pure) ------------------------------------------------------------------


def message_text(content: Any) -> str:
    """Plain text of a message's content: a string, gradio's content blocks, or a dict with `text`."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "") if content.get("type", "text") == "text" else ""
    if isinstance(content, list | tuple):
        return "\n".join(part for part in (message_text(item) for item in content) if part)
    raise InputError("Each message in the history must be text.")


def normalize_history(history: Any) -> list[Message]:
    """History as [{"role": "user"|"assistant", "content": str}], from message dicts or [user, bot] pairs.

    Non-text parts are left out and system messages are dropped (the system prompt box sets that).
    Raises InputError for anything that is not a conversation.
    """
    if history is None or history == "":
        return []
    if not isinstance(history, list | tuple):
        raise InputError('The history must be a list of messages: [{"role": "user", "content": "..."}, ...].')
    messages: list[Message] = []
    for item in history:
        if isinstance(item, dict):
            role = item.get("role")
            if role == "system":
                continue
            if role not in ("user", "assistant"):
                raise InputError(f'A history message has role {role!r}; use "user" or "assistant".')
            text = message_text(item.get("content"))
            if text.strip():
                messages.append({"role": role, "content": text})
        elif isinstance(item, list | tuple) and len(item) == 2:  # the old [user, assistant] pair format
            for role, content in zip(("user", "assistant"), item, strict=True):
                text = message_text(content)
                if text.strip():
                    messages.append({"role": role, "content": text})
        else:
            raise InputError('Each history item must be {"role": ..., "content": ...} or a [user, assistant] pair.')
    return messages


def turns(history: list[Message]) -> list[list[Message]]:
    """Split a history into turns: each starts at a user message (a leading assistant message is its own turn)."""
    grouped: list[list[Message]] = []
    for message in history:
        if message["role"] == "user" or not grouped:
            grouped.append([])
        grouped[-1].append(message)
    return grouped


def build_messages(system_prompt: str, history: list[Message], message: str) -> list[Message]:
    system = [{"role": "system", "content": system_prompt.strip()}] if system_prompt and system_prompt.strip() else []
    return [*system, *history, {"role": "user", "content": message}]


@dataclass
class FittedPrompt:
    """What goes to the model: the prompt's token ids, how many old turns were dropped, the reply budget."""

    input_ids: list[int]
    dropped_turns: int
    max_new_tokens: int
    context: int


def fit_to_context(
    system_prompt: str,
    history: list[Message],
    message: str,
    encode: Callable[[list[Message]], list[int]],
    context: int,
    max_new_tokens: int,
) -> FittedPrompt:
    """Drop the fewest oldest turns so that prompt + reply fit the context; keep the system prompt and new message.

    If even system prompt + new message leave less than MIN_REPLY_TOKENS of room, raise InputError
    (never cut the new message). If they fit but not with the whole reply budget, the budget shrinks.
    """
    grouped = turns(history)

    def prompt(dropped: int) -> list[int]:
        kept = [message for turn in grouped[dropped:] for message in turn]
        return encode(build_messages(system_prompt, kept, message))

    budget = context - max_new_tokens
    ids = prompt(0)
    if len(ids) <= budget:
        return FittedPrompt(ids, 0, max_new_tokens, context)
    # Fewest turns to drop: the prompt only shrinks as turns go, so search for the first that fits.
    low, high = min(1, len(grouped)), len(grouped)
    while low < high:
        middle = (low + high) // 2
        if len(prompt(middle)) <= budget:
            high = middle
        else:
            low = middle + 1
    ids = prompt(low)
    if len(ids) <= budget:
        return FittedPrompt(ids, low, max_new_tokens, context)
    room = context - len(ids)
    if room < MIN_REPLY_TOKENS:
        raise InputError(
            f"Your message and the system prompt take {len(ids):,} tokens, but the model's context window is "
            f"{context:,} tokens (with room for a reply). Shorten the message or the system prompt."
        )
    return FittedPrompt(ids, low, room, context)


def context_note(fitted: FittedPrompt, asked_new_tokens: int) -> str:
    """A line for the user when the conversation was trimmed or the reply budget shrank; '' otherwise."""
    parts = []
    if fitted.dropped_turns:
        turn_word = "turn" if fitted.dropped_turns == 1 else "turns"
        parts.append(
            f"⚠️ Dropped the {fitted.dropped_turns} oldest {turn_word} of the conversation to fit the model's "
            f"{fitted.context:,}-token context window (the system prompt and your new message are kept)."
        )
    if fitted.max_new_tokens < asked_new_tokens:
        parts.append(f"⚠️ The reply is limited to {fitted.max_new_tokens:,} tokens by the context window.")
    return " ".join(parts)


def text_likelihood(engine: Any, text: str, prompt: str = "") -> tuple[float, int]:
    """(Σ ln p, tokens) of `text` as the model's reply to `prompt` (through its chat template), or as plain text
    after the beginning-of-text token when there is no prompt. InputError for an engine that cannot score."""
    score = getattr(engine, "log_likelihood", None)
    if score is None:
        raise InputError(
            f"`{engine.name}` runs on {engine.engine}, which gives no token probabilities: perplexity needs a "
            "model that runs here (transformers or llama.cpp)."
        )
    context = engine.encode([{"role": "user", "content": prompt}]) if prompt else engine.start_ids()
    if not context:
        raise InputError(f"`{engine.name}` has no beginning-of-text token to score a text after: give it a prompt.")
    continuation = engine.text_ids(text)
    if not continuation:
        raise InputError("The text has no tokens to score.")
    room = engine.context_length - len(context)
    if room < 1:
        raise InputError(f"The prompt fills the model's context ({engine.context_length:,} tokens).")
    if len(continuation) > room:
        raise InputError(
            f"The text is {len(continuation):,} tokens; after the prompt the model's context holds {room:,}."
        )
    return engine.log_likelihood(context, continuation), len(continuation)
