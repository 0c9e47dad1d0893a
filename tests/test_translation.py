"""Translation: language names ↔ codes, chunking, the tiny NLLB-like pipeline, the API and the chat-model mode."""

from __future__ import annotations

import re
from dataclasses import replace
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
from apps.shared.languages import FLORES_NAMES, ISO_NAMES, find_code, marian_pair_from_name, require_code
from apps.shared.text import chunk_lines, chunk_text, pack, split_sentences
from apps.shared.translation_languages import language_names, languages_without_loading
from apps.tasks.translation import (
    CHAT_MODEL,
    TRANSLATION_MODEL,
    Translation,
    load_translation,
    picker_updates,
    translate,
)
from apps.ui.context import TabContext

LONG = (
    "The cat sits on the mat. The dog sleeps in the sun. Hello world, this is a test.\n"
    "\n"
    "Stock markets fell today. Shares dropped at the opening bell. What a day it was!"
)


def words(text: str) -> int:
    return len(text.split())


# -- pure helpers --------------------------------------------------------------------------------


def test_language_tables_cover_the_models() -> None:
    assert len(FLORES_NAMES) == 202 and len(ISO_NAMES) == 100
    flores = {name: code for code, name in FLORES_NAMES.items()}
    assert [flores[n] for n in ("English", "French", "German", "Spanish")] == [
        "eng_Latn",
        "fra_Latn",
        "deu_Latn",
        "spa_Latn",
    ]
    iso = {name: code for code, name in ISO_NAMES.items()}
    assert [iso[n] for n in ("English", "French", "German", "Spanish")] == ["en", "fr", "de", "es"]


def test_find_code_accepts_case_aliases_and_codes() -> None:
    flores = {name: code for code, name in FLORES_NAMES.items()}
    assert find_code("english", flores) == "eng_Latn"
    assert find_code("Chinese", flores) == "zho_Hans"
    assert find_code("Farsi", flores) == "pes_Arab"
    assert find_code("fra_Latn", flores) == "fra_Latn"
    assert find_code("Klingon", flores) is None
    with pytest.raises(InputError, match="cannot translate into 'Klingon'"):
        require_code("Klingon", flores, "target", "some-model")
    with pytest.raises(InputError, match="Choose a source language"):
        require_code("", flores, "source", "some-model")


def test_languages_follow_the_model_without_loading_it() -> None:
    nllb = languages_without_loading(ModelRef("facebook/nllb-200-distilled-600M"))
    assert len(nllb[0]) == 202 and nllb[0]["German"] == "deu_Latn"
    m2m = languages_without_loading(ModelRef("facebook/m2m100_418M"))
    assert len(m2m[0]) == 100 and m2m[1]["German"] == "de"
    assert languages_without_loading(ModelRef("Helsinki-NLP/opus-mt-en-de")) == ({"English": "en"}, {"German": "de"})
    assert marian_pair_from_name("Helsinki-NLP/opus-mt-tc-big-en-fr") == ("en", "fr")


def test_language_pickers_follow_the_engine_and_model(tiny_app) -> None:
    demo = tiny_app[1]
    ctx = TabContext(SPECS["translation"], demo.settings, demo.manager, SPECS)
    source, target = picker_updates(ctx, TRANSLATION_MODEL, "Helsinki-NLP/opus-mt-en-de", "French", "Spanish")
    assert (source.choices, source.value) == ([("English", "English")], "English")
    assert (target.choices, target.value) == ([("German", "German")], "German")
    source, target = picker_updates(ctx, CHAT_MODEL, "", "English", "French")
    assert len(source.choices) == 100 and (source.value, target.value) == ("English", "French")
    source, _ = picker_updates(ctx, TRANSLATION_MODEL, "", "English", "French")
    assert len(source.choices) == 202  # the tiny NLLB-like model has every FLORES-200 code


def test_split_sentences_and_pack_keep_every_word() -> None:
    assert split_sentences("One. Two! Three? 你好。世界") == ["One.", "Two!", "Three?", "你好。", "世界"]
    text = "Short one. " + "word " * 30 + "end. Last sentence here."
    chunks = chunk_text(text, words, 8)
    assert all(words(chunk) <= 8 for chunk in chunks)
    assert " ".join(chunks).split() == text.split()  # nothing dropped, nothing reordered
    assert pack(["x" * 25], len, 10) == ["x" * 10, "x" * 10, "x" * 5]  # even a giant word is kept whole
    lines = chunk_lines("a b. c d.\n\ne f.", words, 2)
    assert lines == [["a b.", "c d."], [], ["e f."]]


# -- the tiny pipeline ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_translation(tiny_models_file: Path) -> TabContext:
    manager = ModelManager(
        loaders={"translation": load_translation},
        selection=ModelSelection({"translation": ModelRef(str(KIT_DIR / "translation"))}),
        budget=None,
        device="cpu",
    )
    return TabContext(SPECS["translation"], Settings(), manager, SPECS)


def test_pipeline_maps_names_to_flores_codes(tiny_translation: TabContext) -> None:
    with tiny_translation.use() as pipe:
        assert pipe.family == "nllb" and pipe.sources["German"] == "deu_Latn"
        tokenizer = pipe.tokenizer
        encoded = pipe.encode("Hello", src_lang="eng_Latn")["input_ids"][0].tolist()
        assert encoded[0] == tokenizer.convert_tokens_to_ids("eng_Latn")  # source code leads the input
        preprocess, forward, _ = pipe._sanitize_parameters(src_lang="eng_Latn", tgt_lang="deu_Latn", max_new_tokens=4)
        output = pipe.forward(pipe.preprocess("Hello", **preprocess), **forward)["output_ids"][0].tolist()
        assert output[1] == tokenizer.convert_tokens_to_ids("deu_Latn")  # target code forced first
        result = pipe("Hello", src_lang="eng_Latn", tgt_lang="deu_Latn", max_new_tokens=4)
        assert set(result) == {"translation_text"}
    names = language_names(tiny_translation)
    assert {"English", "French", "German", "Spanish"} <= set(names) and len(names) == 202


def test_long_text_is_split_and_all_of_it_translated(tiny_translation: TabContext) -> None:
    seen: list[str] = []
    with tiny_translation.use() as pipe:
        original = type(pipe).__call__

        def record(self, text, *args, **kwargs):
            seen.append(text)
            return original(self, text, *args, **kwargs)

        type(pipe).__call__ = record
    try:
        result = translate(tiny_translation, LONG, "English", "Spanish")
    finally:
        type(pipe).__call__ = original
    assert len(seen) > 2  # the tiny model takes 48 tokens: the paragraphs need several chunks
    assert " ".join(seen).split() == LONG.split()  # every word went through the model, in order
    assert result.text.count("\n") == LONG.count("\n")  # the line layout is kept
    assert result.chunks == len(seen)


def test_translate_returns_the_text_with_the_languages_it_understood(tiny_translation: TabContext) -> None:
    result = translate(tiny_translation, "\nHello world.\n\n", "english", "Chinese")
    assert isinstance(result, Translation) and result.text.strip() and "\n" not in result.text
    assert (result.source_language, result.source_code) == ("English", "eng_Latn")  # the alias, resolved
    assert (result.target_language, result.target_code) == ("Chinese (Simplified)", "zho_Hans")
    assert (result.engine, result.model, result.chunks) == (TRANSLATION_MODEL, str(KIT_DIR / "translation"), 1)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "Enter some text to translate."),
        (" \n\t", "Enter some text to translate."),
        (42, "The text to translate must be text."),
        ("x" * 50_001, "The text to translate is 50,001 characters long; the limit is 50,000."),
    ],
    ids=["empty", "blank", "not text", "too long"],
)
def test_translate_refuses_what_is_not_text(tiny_translation: TabContext, text: object, match: str) -> None:
    for engine in (TRANSLATION_MODEL, CHAT_MODEL):
        with pytest.raises(InputError, match=re.escape(match)):
            translate(tiny_translation, text, "English", "French", engine)  # type: ignore[arg-type]


@pytest.fixture
def app_task(tiny_app) -> TaskContext:
    """The translation task's context on the tiny app's manager (which has the chat task's model too)."""
    demo = tiny_app[1]
    return TaskContext(SPECS["translation"], demo.settings, demo.manager, SPECS)


def test_translate_interface_for_other_tasks(app_task: TaskContext) -> None:
    """Speech translation calls the translation task through the task layer."""
    other = app_task.for_task("speech_translation")
    result = other.run_task("translation", "Hello world.", "English", "French")
    assert isinstance(result, Translation) and result.text.strip() and result.target_code == "fra_Latn"
    assert "German" in language_names(app_task)


def test_chat_mode_goes_through_the_chat_task(app_task: TaskContext) -> None:
    """The chat-model mode calls the chat task's function through the registry, once per chunk."""
    calls: list[tuple[str, dict]] = []

    def recording_reply(ctx: TaskContext, message: str, **kwargs: object) -> object:
        assert ctx.spec.key == "chat"  # called with the chat task's own context
        calls.append((message, kwargs))
        return SPECS["chat"].run(ctx, message, **kwargs)

    specs = {**SPECS, "chat": replace(SPECS["chat"], run=recording_reply)}
    ctx = TaskContext(app_task.spec, app_task.settings, app_task.manager, specs)
    result = translate(ctx, LONG, "english", "German", CHAT_MODEL)
    assert result.engine == CHAT_MODEL and result.model == str(ctx.for_task("chat").configured_model())
    assert (result.source_language, result.target_language) == ("English", "German")
    assert result.text.count("\n") == LONG.count("\n") and result.chunks == len(calls) >= 2
    prompted = " ".join(message.split("\n\n", 1)[1] for message, _ in calls)
    assert prompted.split() == LONG.split()  # every word was sent to the chat model, in order
    assert all(kwargs["temperature"] == 0.0 and kwargs["system_prompt"] for _, kwargs in calls)


def test_the_reference_request_runs_through_the_registry(app_task: TaskContext) -> None:
    (request,) = SPECS["translation"].requests
    assert request.api_name == "/translate"
    result = SPECS["translation"].run(app_task, **request.inputs)
    assert isinstance(result, Translation) and result.text.strip()
    assert (result.source_language, result.target_language) == ("English", "French")


# -- through the API -----------------------------------------------------------------------------


def test_translate_through_the_api(client: Client) -> None:
    result = client.predict("Hello world.", "English", "German", TRANSLATION_MODEL, "", api_name="/translate")
    assert isinstance(result, str) and result.strip()
    # Names are matched loosely (case, aliases such as "Chinese", or the model's own codes).
    assert client.predict("Hello.", "english", "Chinese", TRANSLATION_MODEL, "", api_name="/translate").strip()
    assert client.predict("Hello.", "eng_Latn", "fra_Latn", TRANSLATION_MODEL, "", api_name="/translate").strip()


def test_long_input_through_the_api_keeps_every_line(client: Client) -> None:
    result = client.predict(LONG, "English", "French", TRANSLATION_MODEL, "", api_name="/translate")
    lines = result.split("\n")
    assert len(lines) == 3 and lines[0].strip() and not lines[1] and lines[2].strip()


def test_chat_model_mode_translates(client: Client) -> None:
    result = client.predict("Hello world.", "English", "German", CHAT_MODEL, "", api_name="/translate")
    assert isinstance(result, str) and result.strip()


@pytest.mark.parametrize(
    ("text", "source", "target", "engine", "match"),
    [
        ("", "English", "German", TRANSLATION_MODEL, "Enter some text"),
        ("   \n ", "English", "German", TRANSLATION_MODEL, "Enter some text"),
        ("Hello", "Klingon", "German", TRANSLATION_MODEL, "cannot translate from 'Klingon'"),
        ("Hello", "English", "English", TRANSLATION_MODEL, "same"),
        ("Hello", "English", "English", CHAT_MODEL, "same"),
        ("x" * 60_000, "English", "German", TRANSLATION_MODEL, "characters long"),
        ("Hello", "English", "German", "Telepathy", "Telepathy"),
    ],
)
def test_translate_bad_input_is_a_clear_error(
    client: Client, text: str, source: str, target: str, engine: str, match: str
) -> None:
    with pytest.raises(Exception, match=match) as info:
        client.predict(text, source, target, engine, "", api_name="/translate")
    assert "Traceback" not in str(info.value)
    assert client.predict("Hi.", "English", "German", TRANSLATION_MODEL, "", api_name="/translate").strip()
