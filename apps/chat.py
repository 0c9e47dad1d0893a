"""Chat: a multi-turn conversation with an instruction-tuned model, streamed token by token.

Every turn sends the whole conversation (system prompt + history + new message) through the model's
chat template. When it does not fit the model's context window the oldest turns are dropped (the
system prompt and the new message are always kept) and the tab says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from apps.core import libraries
from apps.core.components import SliderInput
from apps.core.errors import InputError, user_errors
from apps.core.manager import LoadRequest
from apps.core.spec import TabContext
from apps.core.ui import model_header, model_picker

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and concisely."
EXAMPLES = [
    "What is the capital of France?",
    "Write a haiku about open-source software.",
    "Explain in two sentences how a rainbow forms.",
]
MAX_NEW_TOKENS = 4096
DEFAULT_MAX_NEW_TOKENS = 512
DEFAULT_TEMPERATURE = 0.6
DEFAULT_TOP_P = 0.9
DEFAULT_REPETITION_PENALTY = 1.1
MIN_REPLY_TOKENS = 16  # the least room for a reply worth generating
FALLBACK_CONTEXT = 2048  # for models whose config states no usable limit

Message = dict[str, str]

_active: set[threading.Thread] = set()  # generation threads still running (tests and shutdown check this)
_active_lock = threading.Lock()


@dataclass
class ChatModel:
    """A loaded causal LM with its tokenizer (whose chat template formats the conversation)."""

    model: Any
    tokenizer: Any
    context_length: int
    name: str


def load_chat_model(request: LoadRequest) -> ChatModel:
    """Tokenizer + causal LM from a local folder, or from a GGUF file in it (de-quantized to `request.dtype`)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options: dict[str, Any] = {"trust_remote_code": request.trust_remote_code, "local_files_only": True}
    if request.ref.gguf_file:
        options["gguf_file"] = request.ref.gguf_file
    tokenizer = AutoTokenizer.from_pretrained(str(request.path), **options)
    model = AutoModelForCausalLM.from_pretrained(str(request.path), dtype=request.dtype, **options)
    model.to(request.device).eval()
    return ChatModel(model, tokenizer, context_length(model.config, tokenizer), request.ref.name)


def context_length(config: Any, tokenizer: Any) -> int:
    """The model's context window in tokens: the smallest plausible limit its config and tokenizer state."""
    candidates = [
        getattr(config, "max_position_embeddings", None),
        getattr(getattr(config, "text_config", None), "max_position_embeddings", None),
        getattr(tokenizer, "model_max_length", None),
    ]
    limits = [int(value) for value in candidates if isinstance(value, int) and 0 < value < 10_000_000]
    return min(limits) if limits else FALLBACK_CONTEXT


# -- conversation helpers (pure) ----------------------------------------------------------------


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


def generation_options(max_new_tokens: Any, temperature: Any, top_p: Any, repetition_penalty: Any) -> dict[str, Any]:
    """`generate()` keyword arguments from the tab's settings; temperature 0 means greedy. Validates ranges."""
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
    options: dict[str, Any] = {"max_new_tokens": max_new, "repetition_penalty": penalty}
    if temp == 0:
        options["do_sample"] = False
        # Neutralize sampling defaults a model's generation config may carry (they would only warn).
        options.update(temperature=None, top_p=None, top_k=None)
    else:
        options.update(do_sample=True, temperature=temp, top_p=nucleus)
    return options


def validate_message(message: Any, max_chars: int) -> str:
    if not isinstance(message, str):
        raise InputError("The message must be text.")
    if not message.strip():
        raise InputError("Type a message first.")
    if len(message) > max_chars:
        raise InputError(f"The message is {len(message):,} characters long; the limit is {max_chars:,}.")
    return message.strip()


# -- the model ----------------------------------------------------------------------------------


def require_template(chat_model: ChatModel) -> None:
    if not getattr(chat_model.tokenizer, "chat_template", None):
        raise InputError(
            f"`{chat_model.name}` has no chat template, so it cannot hold a conversation. Choose an "
            "instruction-tuned chat model (names usually end in -Instruct or -Chat), e.g. "
            "HuggingFaceTB/SmolLM2-360M-Instruct."
        )


def prompt_ids(tokenizer: Any, messages: list[Message]) -> list[int]:
    """Token ids of the conversation through the chat template, ending with the assistant's turn opening."""
    from jinja2 import TemplateError

    def render(conversation: list[Message]) -> list[int]:
        encoded = tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(encoded["input_ids"])

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
    chat_model: ChatModel, input_ids: list[int], options: dict[str, Any], stats: dict[str, int] | None = None
) -> Iterator[str]:
    """Yield the reply so far after each new piece of text; stops generating as soon as this generator closes.

    `generate()` runs in a thread feeding a TextIteratorStreamer. A stopping criterion watches an event
    that is set when the generator ends for any reason (finished, Stop pressed, client gone), so no
    generation outlives its request. `stats["tokens"]` counts the tokens generated.
    """
    with libraries.imports("chat.generate"):
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    stop = threading.Event()
    stats = stats if stats is not None else {}
    stats["tokens"] = 0

    class StopWhenAsked(StoppingCriteria):
        def __call__(self, ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            stats["tokens"] = ids.shape[1] - inputs.shape[1]  # called once per generated token
            return torch.full((ids.shape[0],), stop.is_set(), dtype=torch.bool, device=ids.device)

    streamer = TextIteratorStreamer(chat_model.tokenizer, skip_prompt=True, skip_special_tokens=True)
    failure: list[BaseException] = []
    device = chat_model.model.device
    inputs = torch.tensor([input_ids], device=device)
    pad_id = chat_model.tokenizer.pad_token_id
    if pad_id is None:
        pad_id = chat_model.tokenizer.eos_token_id

    def run() -> None:
        try:
            with torch.inference_mode():
                chat_model.model.generate(
                    input_ids=inputs,
                    attention_mask=torch.ones_like(inputs),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([StopWhenAsked()]),
                    pad_token_id=pad_id,
                    **options,
                )
        except BaseException as exc:  # reported by the reading side
            failure.append(exc)
            streamer.end()
        finally:
            with _active_lock:
                _active.discard(threading.current_thread())

    thread = threading.Thread(target=run, name="chat-generate", daemon=True)
    with _active_lock:
        _active.add(thread)
    thread.start()
    text = ""
    try:
        for piece in streamer:
            if piece:
                text += piece
                yield text
        thread.join()
        if failure:
            raise failure[0]
    finally:
        stop.set()
        thread.join(timeout=60)


def active_generations() -> int:
    """How many generation threads are running now."""
    with _active_lock:
        return sum(1 for thread in _active if thread.is_alive())


@dataclass
class ChatUpdate:
    """One streamed step: the reply so far and a note for the user (context trimming, speed)."""

    reply: str
    note: str


def stream_chat(
    ctx: TabContext,
    message: str,
    history: Any = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    temperature: float = DEFAULT_TEMPERATURE,
    top_p: float = DEFAULT_TOP_P,
    repetition_penalty: float = DEFAULT_REPETITION_PENALTY,
    model: str | None = None,
    progress: Any = None,
) -> Iterator[ChatUpdate]:
    """Stream the assistant's reply to `message` after `history`: yields ChatUpdate(reply so far, note)."""
    message = validate_message(message, ctx.settings.max_text_chars)
    past = normalize_history(history)
    if not isinstance(system_prompt, str | None):
        raise InputError("The system prompt must be text.")
    system_prompt = system_prompt or ""
    limit = ctx.settings.max_text_chars
    if len(system_prompt) > limit:
        raise InputError(f"The system prompt is {len(system_prompt):,} characters long; the limit is {limit:,}.")
    if len(system_prompt) + sum(len(m["content"]) for m in past) > limit * 4:
        raise InputError("The conversation is too long for this app; clear it and start again.")
    options = generation_options(max_new_tokens, temperature, top_p, repetition_penalty)
    with ctx.use(model, progress) as chat_model:
        require_template(chat_model)
        fitted = fit_to_context(
            system_prompt,
            past,
            message,
            lambda messages: prompt_ids(chat_model.tokenizer, messages),
            chat_model.context_length,
            options["max_new_tokens"],
        )
        note = context_note(fitted, options["max_new_tokens"])
        options["max_new_tokens"] = fitted.max_new_tokens
        started, reply, stats = time.monotonic(), "", {"tokens": 0}
        for reply in stream_generate(chat_model, fitted.input_ids, options, stats):
            yield ChatUpdate(reply, note)
    seconds, tokens = time.monotonic() - started, stats["tokens"]
    speed = f"{tokens} tokens in {seconds:.1f} s ({tokens / max(seconds, 1e-6):.1f} tokens/s)."
    yield ChatUpdate(reply, f"{note} {speed}".strip())


def reply(
    ctx: TabContext,
    message: str,
    history: Any = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    temperature: float = 0.0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    model: str | None = None,
    progress: Any = None,
) -> str:
    """The whole reply at once (greedy by default): for other tabs that prompt the chat model."""
    last = ""
    for update in stream_chat(
        ctx, message, history, system_prompt, max_new_tokens, temperature, top_p, repetition_penalty, model, progress
    ):
        last = update.reply
    return last


def token_counter(ctx: TabContext, model: str | None = None, progress: Any = None) -> tuple[int, Callable[[str], int]]:
    """(context window, count tokens of a text) of the chat model, loading it if needed: for other tabs' chunking."""
    with ctx.use(model, progress) as chat_model:
        require_template(chat_model)
        tokenizer, context = chat_model.tokenizer, chat_model.context_length
    return context, lambda text: len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


# -- the tab ------------------------------------------------------------------------------------


def _last_user_index(history: list[dict[str, Any]]) -> int:
    return max((i for i, item in enumerate(history) if item.get("role") == "user"), default=-1)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    chatbot = gr.Chatbot(
        label="Conversation",
        height=440,
        elem_id="chat-conversation",
        buttons=["copy", "copy_all"],
        placeholder="Ask anything. Follow-up questions see the whole conversation.",
    )
    note = gr.Markdown(elem_id="chat-note")
    with gr.Row(equal_height=True):
        text = gr.Textbox(
            label="Message", placeholder="Type a message and press Enter", lines=1, scale=6, elem_id="chat-message"
        )
        send = gr.Button("Send", variant="primary", scale=1, min_width=80)
        stop = gr.Button("Stop", variant="stop", scale=1, min_width=80)
        clear = gr.Button("New chat", scale=1, min_width=80)
    gr.Examples(EXAMPLES, inputs=[text])
    with gr.Accordion("System prompt and generation settings", open=False):
        system = gr.Textbox(label="System prompt", value=DEFAULT_SYSTEM_PROMPT, lines=2)
        with gr.Row():
            max_new = SliderInput(16, MAX_NEW_TOKENS, value=DEFAULT_MAX_NEW_TOKENS, step=16, label="Max new tokens")
            temperature_slider = SliderInput(
                0, 2, value=DEFAULT_TEMPERATURE, step=0.05, label="Temperature", info="0 = greedy (deterministic)"
            )
            top_p_slider = SliderInput(0.05, 1, value=DEFAULT_TOP_P, step=0.05, label="Top-p")
            penalty = SliderInput(
                0.5, 2, value=DEFAULT_REPETITION_PENALTY, step=0.05, label="Repetition penalty", info="1 = none"
            )
    picker = model_picker(ctx)
    pending = gr.State("")  # the user message being answered
    settings = [system, max_new, temperature_slider, top_p_slider, penalty, picker]

    def chat_add_user_message(message: str, history: list[dict[str, Any]]):
        if not isinstance(message, str) or not message.strip():
            raise gr.Error("Type a message first.", print_exception=False)
        return "", [*history, {"role": "user", "content": message}], message

    @user_errors(ctx.spec.title)
    def chat_stream_reply(
        message: str,
        history: list[dict[str, Any]],
        system_prompt: str,
        max_new_tokens: float,
        temp: float,
        nucleus: float,
        repetition: float,
        model_name: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        past = history[: _last_user_index(history)]  # everything before the message being answered
        shown = [*past, {"role": "user", "content": message}]
        for update in stream_chat(
            ctx, message, past, system_prompt, max_new_tokens, temp, nucleus, repetition, model_name, progress
        ):
            yield [*shown, {"role": "assistant", "content": update.reply}], update.note

    def chat_retry(history: list[dict[str, Any]]):
        index = _last_user_index(history)
        if index < 0:
            raise gr.Error("Nothing to retry yet.", print_exception=False)
        return history[: index + 1], message_text(history[index]["content"])

    def chat_undo(history: list[dict[str, Any]]):
        index = _last_user_index(history)
        if index < 0:
            return history, ""
        return history[:index], message_text(history[index]["content"])

    sent = gr.on(
        [send.click, text.submit],
        chat_add_user_message,
        [text, chatbot],
        [text, chatbot, pending],
        queue=False,
        api_visibility="private",
    ).success(chat_stream_reply, [pending, chatbot, *settings], [chatbot, note], api_visibility="private")
    retried = chatbot.retry(chat_retry, [chatbot], [chatbot, pending], queue=False, api_visibility="private").success(
        chat_stream_reply, [pending, chatbot, *settings], [chatbot, note], api_visibility="private"
    )
    chatbot.undo(chat_undo, [chatbot], [chatbot, text], queue=False, api_visibility="private")
    gr.on(
        [clear.click, chatbot.clear],
        lambda: ([], "", ""),
        None,
        [chatbot, note, pending],
        queue=False,
        api_visibility="private",
    )
    stop.click(None, None, None, cancels=[sent, retried], api_visibility="private")

    # The public endpoint: message + history (+ settings) in, the reply streamed out.
    with gr.Group(visible=False):
        api_message = gr.Textbox(label="message")
        api_history = gr.JSON(label="history")
        api_reply = gr.Textbox(label="reply")
        api_button = gr.Button()

    @user_errors(ctx.spec.title)
    def chat_api(
        message: str,
        history: Any,
        system_prompt: str,
        max_new_tokens: float,
        temperature: float,
        top_p: float,
        repetition_penalty: float,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        for update in stream_chat(
            ctx,
            message,
            history,
            system_prompt,
            max_new_tokens,
            temperature,
            top_p,
            repetition_penalty,
            model,
            progress,
        ):
            yield update.reply

    api_button.click(chat_api, [api_message, api_history, *settings], [api_reply], api_name="chat")
