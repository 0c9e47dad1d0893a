"""Chat: conversation helpers, streaming and stopping on the tiny model, the API, and real SmolLM2 (GGUF)."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path

import pytest
from conftest import KIT_DIR
from gradio_client import Client

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import TaskContext
from apps.shared.chat_engine import (
    MIN_REPLY_TOKENS,
    GenerationStats,
    active_generations,
    build_messages,
    context_note,
    fit_to_context,
    generation_options,
    generation_settings,
    load_chat_model,
    normalize_history,
    prompt_ids,
    stream_generate,
    turns,
)
from apps.tasks.chat import ChatReply, ChatUpdate, reply, stream_chat
from apps.ui.context import TabContext

QUESTION = "What is the capital of France?"


def chat_context(ref: ModelRef) -> TabContext:
    """The chat tab's context with a manager of its own (for tests that need the loaded objects)."""
    manager = ModelManager(
        loaders={"chat": load_chat_model}, selection=ModelSelection({"chat": ref}), budget=None, device="cpu"
    )
    return TabContext(SPECS["chat"], Settings(), manager, SPECS)


# -- pure helpers --------------------------------------------------------------------------------


def test_normalize_history_accepts_gradio_messages_and_pairs() -> None:
    gradio_style = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": "hello", "metadata": None},
        {"role": "system", "content": "ignored: the system prompt box sets it"},
    ]
    assert normalize_history(gradio_style) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert normalize_history([["q", "a"], ["q2", None]]) == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "q2"},
    ]
    assert normalize_history(None) == []


@pytest.mark.parametrize(
    "history", ["not a list", [{"role": "robot", "content": "x"}], [42], [{"role": "user", "content": 3.5}]]
)
def test_normalize_history_rejects_what_is_not_a_conversation(history: object) -> None:
    with pytest.raises(InputError):
        normalize_history(history)


def test_turns_start_at_user_messages() -> None:
    history = [
        {"role": "assistant", "content": "Welcome!"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    assert [len(turn) for turn in turns(history)] == [1, 2, 1]


def _word_encoder(messages: list[dict[str, str]]) -> list[int]:
    """A stand-in template: one token per word plus two per message."""
    return [0] * sum(len(m["content"].split()) + 2 for m in messages)


def test_fit_to_context_drops_oldest_turns_and_keeps_system_prompt_and_new_message() -> None:
    history = []
    for n in range(6):
        history += [{"role": "user", "content": f"old question {n} " * 5}, {"role": "assistant", "content": "x " * 10}]
    fitted = fit_to_context("Be kind.", history, "the newest question", _word_encoder, context=100, max_new_tokens=20)
    assert fitted.dropped_turns > 0
    assert len(fitted.input_ids) + fitted.max_new_tokens <= 100
    # The fewest turns were dropped: keeping one more would not fit.
    kept = [m for turn in turns(history)[fitted.dropped_turns - 1 :] for m in turn]
    assert len(_word_encoder(build_messages("Be kind.", kept, "the newest question"))) > 80
    assert "Dropped the" in context_note(fitted, 20) and "system prompt" in context_note(fitted, 20)


def test_fit_to_context_shrinks_the_reply_then_refuses_a_message_that_cannot_fit() -> None:
    fitted = fit_to_context("", [], "word " * 60, _word_encoder, context=100, max_new_tokens=60)
    assert fitted.dropped_turns == 0 and fitted.max_new_tokens == 100 - 62
    assert "limited to 38 tokens" in context_note(fitted, 60)
    with pytest.raises(InputError, match="context window"):
        fit_to_context("", [], "word " * (100 - MIN_REPLY_TOKENS), _word_encoder, context=100, max_new_tokens=60)


def test_generation_options_greedy_at_zero_temperature() -> None:
    greedy = generation_options(64, 0, 0.9, 1.0)
    assert greedy["do_sample"] is False and greedy["temperature"] is None
    sampled = generation_options(64, 0.7, 0.9, 1.1)
    assert sampled == {
        "max_new_tokens": 64,
        "repetition_penalty": 1.1,
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.9,
    }
    for bad in [(0, 0, 1, 1), (10**6, 0, 1, 1), (10, -1, 1, 1), (10, 0, 0, 1), (10, 0, 1, 9), ("x", 0, 1, 1)]:
        with pytest.raises(InputError):
            generation_options(*bad)


# -- the tiny model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_chat(tiny_models_file: Path) -> TabContext:
    return chat_context(ModelRef(str(KIT_DIR / "chat")))


def test_trimmed_prompt_keeps_the_newest_message_on_the_tiny_model(tiny_chat: TabContext) -> None:
    with tiny_chat.use() as chat_model:
        history = []
        for n in range(8):
            history += [
                {"role": "user", "content": f"question number {n} " + "blah " * 10},
                {"role": "assistant", "content": "answer " * 10},
            ]
        encode = lambda messages: prompt_ids(chat_model.tokenizer, messages)  # noqa: E731
        fitted = fit_to_context("SYSTEM RULES", history, "NEWEST MESSAGE", encode, chat_model.context_length, 128)
        prompt = chat_model.tokenizer.decode(fitted.input_ids)
    assert chat_model.context_length == 512
    assert 0 < fitted.dropped_turns < 8
    assert prompt.startswith("<|im_start|>system\nSYSTEM RULES")
    assert "NEWEST MESSAGE" in prompt and "question number 7" in prompt
    assert "question number 0 " not in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_stream_generate_stops_when_the_generator_is_closed(tiny_chat: TabContext) -> None:
    with tiny_chat.use() as chat_model:
        ids = prompt_ids(chat_model.tokenizer, [{"role": "user", "content": "Tell me a long story."}])
        stats = GenerationStats()
        stream = stream_generate(chat_model, ids, generation_settings(400, 0, 1, 1), stats)
        first, second = next(stream), next(stream)
        assert first and second
        stream.close()  # what gradio does on Stop or when the client goes away
    assert active_generations() == 0
    assert 0 < stats.completion_tokens < 400  # greedy tiny replies never end early, so 400 means it was not stopped
    assert stats.prompt_tokens == len(ids)


def test_stream_generate_reports_length_and_ends_at_a_stop_string(tiny_chat: TabContext) -> None:
    with tiny_chat.use() as engine:
        ids = engine.encode([{"role": "user", "content": "Say something."}])
        stats = GenerationStats()
        reply = "".join(engine.stream(ids, generation_settings(12, 0, 1, 1), stats))
        assert reply and stats.finish_reason == "length" and stats.completion_tokens == 12
        stop = reply[len(reply) // 2 : len(reply) // 2 + 2]  # a string the same greedy reply is sure to contain
        stopped = GenerationStats()
        cut = "".join(engine.stream(ids, generation_settings(12, 0, 1, 1, stop=[stop]), stopped))
    assert cut == reply[: reply.index(stop)] and stopped.finish_reason == "stop"


def test_stream_chat_notes_trimming(tiny_chat: TabContext) -> None:
    history = [["long " * 100, "reply " * 50], ["again " * 100, "more " * 50]]
    updates = list(stream_chat(tiny_chat, "newest", history, "", 64, 0, 1, 1))
    assert "Dropped the" in updates[-1].note and "tokens/s" in updates[-1].note
    assert updates[-1].reply


@pytest.fixture(scope="module")
def tiny_task(tiny_chat: TabContext) -> TaskContext:
    """The chat task's context with no UI at all: what the API, other tasks and evals call with."""
    return TaskContext(tiny_chat.spec, tiny_chat.settings, tiny_chat.manager, tiny_chat.specs)


def test_stream_chat_yields_growing_updates_and_ends_with_the_counts(tiny_task: TaskContext) -> None:
    updates = list(stream_chat(tiny_task, "Say something.", [], "", 12, 0, 1, 1))
    assert all(isinstance(update, ChatUpdate) for update in updates)
    assert [update.done for update in updates] == [False] * (len(updates) - 1) + [True]
    assert all(later.reply.startswith(earlier.reply) for earlier, later in itertools.pairwise(updates))
    last = updates[-1]
    assert last.stats.completion_tokens == 12 and last.stats.finish_reason == "length"
    assert "12 tokens in" in last.note


def test_reply_is_the_whole_streamed_reply_with_token_counts(tiny_task: TaskContext) -> None:
    streamed = list(stream_chat(tiny_task, "Say something.", [], "Be brief.", 12, 0, 1, 1))[-1]
    whole = reply(tiny_task, "Say something.", [], "Be brief.", 12)  # greedy by default
    assert isinstance(whole, ChatReply)
    assert whole.text == streamed.reply and whole.text.strip()
    with tiny_task.use() as engine:
        prompt = engine.encode(
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say something."}]
        )
    assert whole.stats.prompt_tokens == len(prompt)
    assert (whole.stats.completion_tokens, whole.stats.finish_reason) == (12, "length")


def test_reply_stops_at_a_stop_string(tiny_task: TaskContext) -> None:
    full = reply(tiny_task, "Say something.", max_new_tokens=12)
    stop = full.text[len(full.text) // 2 : len(full.text) // 2 + 2]  # the same greedy reply is sure to contain it
    cut = reply(tiny_task, "Say something.", max_new_tokens=12, stop=[stop])
    assert cut.text == full.text[: full.text.index(stop)] and cut.stats.finish_reason == "stop"
    seeded = [reply(tiny_task, "Say something.", max_new_tokens=8, temperature=1.0, seed=7).text for _ in range(2)]
    assert seeded[0] == seeded[1]  # a seed makes a sampled reply reproducible


@pytest.mark.parametrize(
    ("message", "match"),
    [
        ("", "Type a message first."),
        ("  \n ", "Type a message first."),
        (42, "The message must be text."),
        ("x" * 50_001, "The message is 50,001 characters long; the limit is 50,000."),
    ],
    ids=["empty", "blank", "not text", "too long"],
)
def test_reply_refuses_what_is_not_a_message(tiny_task: TaskContext, message: object, match: str) -> None:
    with pytest.raises(InputError, match=re.escape(match)):
        reply(tiny_task, message)  # type: ignore[arg-type]


def test_the_reference_request_runs_through_the_registry(tiny_task: TaskContext) -> None:
    """The registry's request for /chat, sent to the task function it names: what a pipeline or eval does."""
    (request,) = SPECS["chat"].requests
    assert request.api_name == "/chat"
    answer = SPECS["chat"].run(tiny_task, **request.inputs)
    assert isinstance(answer, ChatReply) and answer.text.strip()
    assert answer.stats.completion_tokens <= request.inputs["max_new_tokens"]


# -- through the API -----------------------------------------------------------------------------

SETTINGS = ("You are terse.", 24, 0, 0.9, 1.0, "")  # system prompt, max new tokens, temperature, top-p, penalty, model


def test_chat_predict_returns_the_reply(client: Client) -> None:
    reply = client.predict(QUESTION, [], *SETTINGS, api_name="/chat")
    assert isinstance(reply, str) and reply.strip()
    again = client.predict(QUESTION, [], *SETTINGS, api_name="/chat")
    assert again == reply  # temperature 0 is greedy: the same reply every time


def test_chat_submit_streams_partial_replies(client: Client) -> None:
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}]
    job = client.submit(QUESTION, history, "", 48, 0, 0.9, 1.0, "", api_name="/chat")
    partials = list(job)
    assert len(partials) > 1
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(partials))
    assert job.outputs()[-1] == partials[-1]


def test_chat_history_over_the_context_still_answers(client: Client) -> None:
    history = [{"role": "user", "content": "tell me " * 80}, {"role": "assistant", "content": "sure " * 80}] * 4
    assert client.predict("and the newest question?", history, *SETTINGS, api_name="/chat").strip()


def test_stop_cancels_generation_on_the_server(client: Client) -> None:
    job = client.submit("Write a very long story.", [], "", 4096, 0, 0.9, 1.0, "", api_name="/chat")
    deadline = time.monotonic() + 60
    while len(job.outputs()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(job.outputs()) >= 2 and active_generations() == 1
    job.cancel()
    deadline = time.monotonic() + 5  # the whole reply would take far longer: ~450 tokens left
    while active_generations() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert active_generations() == 0


@pytest.mark.parametrize(
    ("message", "history", "match"),
    [
        ("", [], "Type a message"),
        ("   ", [], "Type a message"),
        ("x" * 60_000, [], "characters long"),
        ("hi", "not a list", "history must be a list"),
        ("hi", [{"role": "robot", "content": "beep"}], "role"),
        ("word " * 600, [], "context window"),
    ],
)
def test_chat_bad_input_is_a_clear_error(client: Client, message: str, history: object, match: str) -> None:
    with pytest.raises(Exception, match=match) as info:
        client.predict(message, history, *SETTINGS, api_name="/chat")
    assert "Traceback" not in str(info.value)
    assert client.predict("still there?", [], *SETTINGS, api_name="/chat").strip()


def test_model_without_chat_template_is_a_clear_error(client: Client) -> None:
    with pytest.raises(Exception, match="no chat template"):
        client.predict("hi", [], *SETTINGS[:-1], str(KIT_DIR / "chat" / "no-template"), api_name="/chat")


def test_bad_settings_are_a_clear_error(client: Client) -> None:
    with pytest.raises(Exception, match="greater than maximum value 2"):  # the slider checks its range
        client.predict("hi", [], "", 24, 5, 0.9, 1.0, "", api_name="/chat")
    assert client.predict("hi", [], *SETTINGS, api_name="/chat").strip()


# -- the real model ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2(real_settings, real_manager) -> TabContext:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) from the session's real-model manager (loaded once per session)."""
    ctx = TabContext(SPECS["chat"], real_settings, real_manager, SPECS)
    ctx.manager.load("chat")
    return ctx


def _greedy(ctx: TabContext, message: str, history: list[dict[str, str]]) -> str:
    updates = list(stream_chat(ctx, message, history, "You are a helpful assistant.", 48, 0, 1.0, 1.0))
    assert len(updates) > 2  # streamed
    return updates[-1].reply


@pytest.mark.real
def test_real_smollm2_reply_ends_its_turn(smollm2: TabContext) -> None:
    answer = reply(smollm2, QUESTION, [], "You are a helpful assistant.", 48)
    assert "Paris" in answer.text
    assert answer.stats.finish_reason == "stop" and 0 < answer.stats.completion_tokens < 48  # ended by itself


@pytest.mark.real
def test_real_smollm2_answers_and_follows_up(smollm2: TabContext) -> None:
    first = _greedy(smollm2, QUESTION, [])
    assert "Paris" in first
    history = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first}]
    follow_up = "What is its population?"
    with smollm2.use() as engine:  # llama.cpp when it is installed, else transformers: both decode
        prompt = engine.decode(engine.encode(build_messages("You are a helpful assistant.", history, follow_up)))
    assert QUESTION in prompt and first in prompt and prompt.rstrip().endswith("assistant")
    second = _greedy(smollm2, follow_up, history)
    assert "Paris" in second  # "its" only means Paris if the first turn reached the model
