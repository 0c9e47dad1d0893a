"""Summarization: input checks, map-reduce on a stand-in pipeline, and the tiny BART through the API."""

from __future__ import annotations

import re
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
from apps.tasks.summarization import Summary, info_markdown, load_summarization, map_reduce, summarize, validate
from apps.ui.context import TabContext

SENTENCES = [f"Sentence number {n} tells fact {n} about the park." for n in range(40)]
DOCUMENT = " ".join(SENTENCES)


class FirstWords:
    """A stand-in pipeline over words: input limited to 40 words; a 'summary' is the first words of its input."""

    input_limit = 42
    special_tokens = 2
    output_limit = 100

    def __init__(self) -> None:
        self.inputs: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def __call__(self, text: str, max_new_tokens: int, min_new_tokens: int) -> dict[str, str]:
        assert self.count_tokens(text) <= self.input_limit - self.special_tokens
        self.inputs.append(text)
        return {"summary_text": " ".join(text.split()[:max_new_tokens])}


def test_validate_checks_text_and_lengths() -> None:
    assert validate(" doc ", 5, 20, 100) == ("doc", 5, 20)
    for args, match in [
        (("", 5, 20), "Paste a document"),
        ((None, 5, 20), "must be text"),
        (("doc", 30, 20), "minimum summary length"),
        (("doc", 0, 0), "maximum summary length"),
        (("doc", "a", 20), "whole numbers"),
        (("x" * 200, 5, 20), "characters long"),
    ]:
        with pytest.raises(InputError, match=match):
            validate(*args, 100)


def test_map_reduce_reads_every_sentence_and_converges() -> None:
    pipe = FirstWords()
    summary = map_reduce(pipe, DOCUMENT, 0, 30, progress=None)
    assert summary.chunks > 1 and summary.rounds >= 2
    first_round = pipe.inputs[: summary.chunks]
    assert " ".join(first_round).split() == DOCUMENT.split()  # every word of the document was summarized
    assert len(summary.text.split()) <= 30


def test_map_reduce_single_chunk_when_it_fits() -> None:
    pipe = FirstWords()
    summary = map_reduce(pipe, "A short document. It fits.", 0, 10)
    assert (summary.chunks, summary.rounds, len(pipe.inputs)) == (1, 1, 1)
    assert (summary.tokens, summary.max_tokens, summary.capped) == (5, 10, False)
    assert info_markdown(summary) == "The document (5 tokens) fit the model in one piece: 1 chunk."


def test_a_length_the_model_cannot_write_is_capped_and_said() -> None:
    summary = map_reduce(FirstWords(), "A short document. It fits.", 0, 500)
    assert (summary.max_tokens, summary.capped) == (100, True)  # the stand-in writes at most 100 tokens
    assert "writes at most 100 tokens" in info_markdown(summary)


@pytest.fixture(scope="module")
def tiny_summarization(tiny_models_file: Path) -> TabContext:
    manager = ModelManager(
        loaders={"summarization": load_summarization},
        selection=ModelSelection({"summarization": ModelRef(str(KIT_DIR / "summarization"))}),
        budget=None,
        device="cpu",
    )
    return TabContext(SPECS["summarization"], Settings(), manager, SPECS)


def test_tiny_bart_long_document_goes_through_every_chunk(tiny_summarization: TabContext) -> None:
    seen: list[str] = []
    with tiny_summarization.use() as pipe:
        assert pipe.input_limit == 64
        original = type(pipe).__call__

        def record(self, text, *args, **kwargs):
            seen.append(text)
            return original(self, text, *args, **kwargs)

        type(pipe).__call__ = record
    try:
        summary = summarize(tiny_summarization, " ".join(SENTENCES[:12]), 2, 8)
    finally:
        type(pipe).__call__ = original
    assert isinstance(summary, Summary) and isinstance(summary.text, str)
    assert summary.chunks > 1 and summary.rounds >= 2 and f"**{summary.chunks} chunks**" in info_markdown(summary)
    assert " ".join(seen[: summary.chunks]).split() == " ".join(SENTENCES[:12]).split()
    assert len(seen) >= summary.chunks + 1  # the chunks, any further rounds, and the final pass


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "Paste a document to summarize."),
        (" \n\t", "Paste a document to summarize."),
        (42, "The document must be text."),
        ("x" * 50_001, "The document is 50,001 characters long; the limit is 50,000."),
    ],
    ids=["empty", "blank", "not text", "too long"],
)
def test_summarize_refuses_what_is_not_a_document(tiny_summarization: TabContext, text: object, match: str) -> None:
    with pytest.raises(InputError, match=re.escape(match)):
        summarize(tiny_summarization, text)  # type: ignore[arg-type]


def test_the_reference_request_runs_through_the_registry(tiny_summarization: TabContext) -> None:
    """The registry's request for /summarize, sent to its task function with no UI context."""
    ctx = TaskContext(tiny_summarization.spec, Settings(), tiny_summarization.manager, SPECS)
    (request,) = SPECS["summarization"].requests
    assert request.api_name == "/summarize"
    summary = SPECS["summarization"].run(ctx, **request.inputs)
    assert isinstance(summary, Summary) and summary.text.strip()
    assert summary.chunks >= 1 and (summary.max_tokens, summary.capped) == (request.inputs["max_tokens"], False)


def test_summarize_through_the_api(client: Client) -> None:
    summary, info = client.predict("The council approved a new park.", 2, 12, "", api_name="/summarize")
    assert isinstance(summary, str) and summary.strip()
    assert "1 chunk" in info


def test_long_document_through_the_api_reports_its_chunks(client: Client) -> None:
    summary, info = client.predict(" ".join(SENTENCES[:10]), 2, 10, "", api_name="/summarize")
    assert summary.strip() and "chunks**" in info and "rounds" in info


def test_summary_longer_than_the_decoder_can_write_is_capped_and_said(client: Client) -> None:
    summary, info = client.predict("The council approved a park.", 30, 500, "", api_name="/summarize")
    assert summary.strip() and "at most 62 tokens" in info  # the tiny BART has 64 positions


@pytest.mark.parametrize(
    ("text", "low", "high", "match"),
    [
        ("", 5, 20, "Paste a document"),
        ("  \n ", 5, 20, "Paste a document"),
        ("A document.", 100, 20, "minimum summary length"),
        ("x" * 60_000, 5, 20, "characters long"),
    ],
)
def test_summarize_bad_input_is_a_clear_error(client: Client, text: str, low: int, high: int, match: str) -> None:
    with pytest.raises(Exception, match=match) as info:
        client.predict(text, low, high, "", api_name="/summarize")
    assert "Traceback" not in str(info.value)
    assert client.predict("Still serving.", 1, 5, "", api_name="/summarize")[0].strip()
