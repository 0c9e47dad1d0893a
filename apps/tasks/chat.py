"""Chat: a multi-turn conversation with an instruction-tuned model, streamed token by token.

Every turn sends the whole conversation (system prompt + history + new message) through the model's
chat template. When it does not fit the model's context window the oldest turns are dropped (the
system prompt and the new message are always kept) and the tab says so.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from apps.core.errors import InputError
from apps.core.inputs import require_text
from apps.core.manager import ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.monitoring import metrics, tracing
from apps.shared.chat_engine import (
    MAX_NEW_TOKENS,
    GenerationStats,
    context_note,
    fit_to_context,
    generation_settings,
    message_text,
    normalize_history,
    require_template,
)
from apps.shared.code import Call, literal
from apps.shared.structured import OutputConstraint, parse_json_schema, validate_reply
from apps.ui.components import SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker
from apps.ui.prompt_templates import build_prompt_templates

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant. Answer clearly and concisely."
EXAMPLES = (
    "What is the capital of France?",
    "Write a haiku about open-source software.",
    "Explain in two sentences how a rainbow forms.",
)
DEFAULT_MAX_NEW_TOKENS = 512
DEFAULT_TEMPERATURE = 0.6
DEFAULT_TOP_P = 0.9
DEFAULT_REPETITION_PENALTY = 1.1
SCHEMA_EXAMPLES = (
    '{"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}}, '
    '"required": ["city", "country"]}',
    '{"type": "object", "properties": {"sentiment": {"enum": ["positive", "negative", "neutral"]}, '
    '"confidence": {"type": "number"}}, "required": ["sentiment", "confidence"]}',
    '{"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3}',
)

History = Sequence[Any] | None  # [{"role": "user"|"assistant", "content": ...}, ...] or [user, assistant] pairs


def validate_message(message: Any, max_chars: int) -> str:
    """The message, stripped; InputError when it is not text, blank or too long."""
    return require_text(message, max_chars, what="message", empty="Type a message first.")


def validate_system_prompt(system_prompt: Any, max_chars: int) -> str:
    """The system prompt ('' for none); InputError when it is not text or too long."""
    if not isinstance(system_prompt, str | None):
        raise InputError("The system prompt must be text.")
    system_prompt = system_prompt or ""
    if len(system_prompt) > max_chars:
        raise InputError(f"The system prompt is {len(system_prompt):,} characters long; the limit is {max_chars:,}.")
    return system_prompt


@dataclass
class ChatUpdate:
    """One streamed step: the reply so far and a note for the user (context trimming, speed).

    `stats` is the generation's token counts, filled in as it goes; `done` is set on the last update.
    """

    reply: str
    note: str
    stats: GenerationStats = field(default_factory=GenerationStats)
    done: bool = False
    value: Any = None  # with a JSON schema: the finished reply parsed and validated (set when done)


@dataclass
class ChatReply:
    """The whole reply, the note shown with it, and the generation's token counts and finish reason."""

    text: str
    note: str
    stats: GenerationStats
    value: Any = None  # with a JSON schema: the reply parsed and validated against it


def chat_attributes(engine: Any, settings: Any) -> dict[str, Any]:
    """The GenAI semantic-convention attributes of a chat request (OpenTelemetry `gen_ai.*`)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": getattr(engine, "engine", "") or "transformers",
        "gen_ai.request.model": engine.name,
        "gen_ai.request.max_tokens": settings.max_new_tokens,
    }
    for name, key in (("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed")):
        found = getattr(settings, name, None)
        if found is not None:
            attributes[f"gen_ai.request.{key}"] = found
    return attributes


def usage_attributes(stats: GenerationStats) -> dict[str, Any]:
    """A finished (or stopped) reply's token counts and why it ended, as GenAI attributes."""
    attributes: dict[str, Any] = {
        "gen_ai.usage.input_tokens": stats.prompt_tokens,
        "gen_ai.usage.output_tokens": stats.completion_tokens,
    }
    if stats.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [stats.finish_reason]
    return attributes


def stream_chat(
    ctx: TaskContext,
    message: str,
    history: History = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    temperature: float = DEFAULT_TEMPERATURE,
    top_p: float = DEFAULT_TOP_P,
    repetition_penalty: float = DEFAULT_REPETITION_PENALTY,
    model: str | None = None,
    json_schema: str | dict[str, Any] | OutputConstraint | None = "",
    progress: ProgressFn | None = None,
    *,
    stop: Sequence[str] | str | None = None,
    seed: int | None = None,
) -> Iterator[ChatUpdate]:
    """Stream the assistant's reply to `message` after `history`.

    Yields ChatUpdate(reply so far, note) as the reply grows; the last one has `done` set, the speed in
    its note and the final token counts. Closing the generator stops generation. With `json_schema`
    (JSON text, a dict, or an OutputConstraint; "" = free text) the reply is constrained to JSON matching
    it while it is generated, and the last update carries it parsed and validated in `value`.
    """
    limit = ctx.settings.max_text_chars
    message = validate_message(message, limit)
    past = normalize_history(history)
    system_prompt = validate_system_prompt(system_prompt, limit)
    if len(system_prompt) + sum(len(m["content"]) for m in past) > limit * 4:
        raise InputError("The conversation is too long for this app; clear it and start again.")
    settings = generation_settings(max_new_tokens, temperature, top_p, repetition_penalty, stop, seed)
    constraint = json_schema if isinstance(json_schema, OutputConstraint) else parse_json_schema(json_schema)
    if constraint is not None:
        settings = settings.with_constraint(constraint)
        system_prompt = f"{system_prompt}\n\n{constraint.instruction()}".strip()
    # Traced as a GenAI "chat" span (no-ops unless OTEL_EXPORTER_OTLP_ENDPOINT is set); its children are
    # started, not made current, where they outlive a yield (see apps/monitoring/tracing.py).
    stats, chat_span, forward, failure = GenerationStats(), None, None, None
    try:
        with ctx.use(model, progress) as engine:
            chat_span = tracing.start(f"chat {engine.name}", chat_attributes(engine, settings))
            with tracing.span("preprocess", parent=chat_span):
                require_template(engine)
                fitted = fit_to_context(
                    system_prompt, past, message, engine.encode, engine.context_length, settings.max_new_tokens
                )
            note = context_note(fitted, settings.max_new_tokens)
            started, reply = time.monotonic(), ""
            forward = tracing.start("forward", parent=chat_span)
            for piece in engine.stream(fitted.input_ids, settings.with_max_new_tokens(fitted.max_new_tokens), stats):
                reply += piece
                yield ChatUpdate(reply, note, stats)
            tracing.end(forward)
            forward = None
        seconds, tokens = time.monotonic() - started, stats.completion_tokens
        with tracing.span("postprocess", parent=chat_span):
            value = validate_reply(constraint, reply) if constraint is not None else None
    except BaseException as exc:
        failure = exc
        raise
    finally:
        tracing.end(forward, failure)
        tracing.set_attributes(chat_span, usage_attributes(stats))
        tracing.end(chat_span, failure)
    metrics.observe_chat(
        engine.name, stats.prompt_tokens, tokens, stats.first_token_seconds, tokens / max(seconds, 1e-6)
    )
    speed = f"{tokens} tokens in {seconds:.1f} s ({tokens / max(seconds, 1e-6):.1f} tokens/s)."
    yield ChatUpdate(reply, f"{note} {speed}".strip(), stats, done=True, value=value)


def reply(
    ctx: TaskContext,
    message: str,
    history: History = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    temperature: float = 0.0,
    top_p: float = 1.0,
    repetition_penalty: float = 1.0,
    model: str | None = None,
    json_schema: str | dict[str, Any] | OutputConstraint | None = "",
    progress: ProgressFn | None = None,
    *,
    stop: Sequence[str] | str | None = None,
    seed: int | None = None,
) -> ChatReply:
    """The whole reply at once (greedy by default): what the API, other tasks and evals call.

    Returns ChatReply(text, note, stats, value) with the token counts and why the reply ended; `value` is
    the reply parsed and validated when `json_schema` is given.
    """
    updates = stream_chat(
        ctx,
        message,
        history,
        system_prompt,
        max_new_tokens,
        temperature,
        top_p,
        repetition_penalty,
        model,
        json_schema,
        progress,
        stop=stop,
        seed=seed,
    )
    last = ChatUpdate("", "")
    for update in updates:  # the last update is the finished reply
        last = update
    return ChatReply(last.reply, last.note, last.stats, last.value)


# -- the tab ------------------------------------------------------------------------------------


@dataclass
class _Reply:
    """A reply on its way in one page session: Stop sets `stop`; New chat also sets `cleared`."""

    stop: threading.Event = field(default_factory=threading.Event)
    cleared: bool = False


def _session(request: gr.Request | None) -> str:
    """The page session a request came from (one browser tab); "" outside a page."""
    return (request.session_hash if request is not None else None) or ""


def _last_user_index(history: list[dict[str, Any]]) -> int:
    return max((i for i, item in enumerate(history) if item.get("role") == "user"), default=-1)


# The conversation is never covered, as in gradio's ChatInterface: a reply streams with "minimal" progress
# (run time and any loading progress in the corner) and the instant edits (add the message, retry, undo,
# clear) show none, so the chatbot's own Retry / Undo / Copy buttons are never under an overlay.
REPLY_EVENT: dict[str, Any] = {"show_progress": "minimal", "api_visibility": "private"}
EDIT_EVENT: dict[str, Any] = {"show_progress": "hidden", "queue": False, "api_visibility": "private"}


# The public /chat endpoint's parameters, in order (the page's reply event takes the same values).
CHAT_PARAMETERS = (
    "message",
    "history",
    "system_prompt",
    "max_new_tokens",
    "temperature",
    "top_p",
    "repetition_penalty",
    "model",
    "json_schema",
)


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
    gr.Examples([[example] for example in EXAMPLES], inputs=[text])
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
    with gr.Accordion("Structured output (JSON schema)", open=False):
        schema_box = gr.Textbox(
            label="JSON schema",
            value="",
            lines=4,
            placeholder='{"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}',
            elem_id="chat-json-schema",
        )
        gr.Markdown(
            "Empty = a free-text reply. With a schema, the reply is constrained to JSON matching it while it "
            "is written, and checked against it before it is shown."
        )
        gr.Examples([[example] for example in SCHEMA_EXAMPLES], inputs=[schema_box], label="Example schemas")
    picker = model_picker(ctx)
    build_prompt_templates(ctx, system, text, chatbot, picker)
    pending = gr.State("")  # the user message being answered
    settings = [system, max_new, temperature_slider, top_p_slider, penalty, picker, schema_box]
    # Stop is a request the reply honours between two pieces, not gradio's `cancels=`: cancelling a stream
    # from the page races the pieces already on their way, and under load the page then shows the reply
    # as failed ("Error" over the conversation) after it had stopped. Here the reply ends as a normal
    # run does, with what it has said so far. One Reply per page session: a new message (or Retry) arms
    # a fresh one, so a late Stop never stops the next reply.
    replies: dict[str, _Reply] = {}

    def arm_reply(request: gr.Request | None) -> None:
        previous = replies.get(_session(request))
        if previous is not None:  # a new message supersedes a reply still on its way
            previous.stop.set()
        replies[_session(request)] = _Reply()

    def chat_add_user_message(message: str, history: list[dict[str, Any]], request: gr.Request):
        if not isinstance(message, str) or not message.strip():
            raise gr.Error("Type a message first.", print_exception=False)
        arm_reply(request)
        return "", [*history, {"role": "user", "content": message}], message

    def chat_stop(request: gr.Request) -> None:
        reply = replies.get(_session(request))
        if reply is not None:
            reply.stop.set()

    def chat_new(request: gr.Request):
        reply = replies.get(_session(request))
        if reply is not None:  # the reply ends by emptying the conversation: pieces still on their way land first
            reply.cleared = True
            reply.stop.set()
        return [], "", ""

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
        json_schema: str,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        session = _session(request)
        this = replies.setdefault(session, _Reply())
        past = history[: _last_user_index(history)]  # everything before the message being answered
        shown = [*past, {"role": "user", "content": message}]
        # The page's replies do not go through /chat: keep them as the task's last call for "Use it in code".
        inputs = (message, past, system_prompt, max_new_tokens, temp, nucleus, repetition, model_name, json_schema)
        ctx.calls.record(ctx.spec.key, Call("/chat", dict(zip(CHAT_PARAMETERS, inputs, strict=True))), session)
        # closing() ends generation on the server at once when Stop breaks the loop.
        with contextlib.closing(
            stream_chat(
                ctx,
                message,
                past,
                system_prompt,
                max_new_tokens,
                temp,
                nucleus,
                repetition,
                model_name,
                json_schema,
                progress,
            )
        ) as updates:
            try:
                for update in updates:
                    if this.stop.is_set():
                        break
                    yield [*shown, {"role": "assistant", "content": update.reply}], update.note
                if this.cleared:
                    yield [], ""
            finally:
                if replies.get(session) is this:
                    del replies[session]

    def chat_retry(history: list[dict[str, Any]], request: gr.Request):
        index = _last_user_index(history)
        if index < 0:
            raise gr.Error("Nothing to retry yet.", print_exception=False)
        arm_reply(request)
        return history[: index + 1], message_text(history[index]["content"])

    def chat_undo(history: list[dict[str, Any]]):
        index = _last_user_index(history)
        if index < 0:
            return history, ""
        return history[:index], message_text(history[index]["content"])

    gr.on(
        [send.click, text.submit],
        chat_add_user_message,
        [text, chatbot],
        [text, chatbot, pending],
        **EDIT_EVENT,
    ).success(chat_stream_reply, [pending, chatbot, *settings], [chatbot, note], **REPLY_EVENT)
    chatbot.retry(chat_retry, [chatbot], [chatbot, pending], **EDIT_EVENT).success(
        chat_stream_reply, [pending, chatbot, *settings], [chatbot, note], **REPLY_EVENT
    )
    chatbot.undo(chat_undo, [chatbot], [chatbot, text], **EDIT_EVENT)
    gr.on(
        [clear.click, chatbot.clear],
        chat_new,
        None,
        [chatbot, note, pending],
        **EDIT_EVENT,
    )
    stop.click(chat_stop, None, None, **EDIT_EVENT)

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
        json_schema: str = "",
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
            json_schema,
            progress,
        ):
            yield update.reply

    api_button.click(chat_api, [api_message, api_history, *settings], [api_reply], api_name="chat")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------


def _code_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """The conversation as messages, and the sampling keywords the app uses for these settings."""
    try:
        past = normalize_history(values.get("history"))
    except InputError:
        past = []
    system = [{"role": "system", "content": values["system_prompt"]}] if values.get("system_prompt") else []
    messages = [*system, *past, {"role": "user", "content": str(values.get("message") or "")}]
    temperature = values.get("temperature") or 0
    sampling = f", do_sample=True, temperature={temperature!r}, top_p={values.get('top_p')!r}" if temperature else ""
    if values.get("repetition_penalty") not in (None, 1, 1.0):
        sampling += f", repetition_penalty={values['repetition_penalty']!r}"
    note = (
        "# The app also held the reply to your JSON schema while it was written (xgrammar); see the README.\n"
        if values.get("json_schema")
        else ""
    )
    return {"messages": literal(messages), "sampling": sampling, "schema_note": note}


CODE = CodeRecipe(
    pipeline="""import torch
from transformers import pipeline

$pick_device
chat = pipeline("text-generation", model=$model$model_options, device=device)
messages = $messages
${schema_note}reply = chat(messages, max_new_tokens=$max_new_tokens$sampling)
print(reply[0]["generated_text"][-1]["content"])
""",
    direct="""import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

$pick_device
tokenizer = AutoTokenizer.from_pretrained($model$model_options)
model = AutoModelForCausalLM.from_pretrained($model$model_options).to(device)
messages = $messages
inputs = tokenizer.apply_chat_template(
    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
).to(device)
${schema_note}output = model.generate(**inputs, max_new_tokens=$max_new_tokens$sampling)
print(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
""",
    fields=_code_fields,
)
