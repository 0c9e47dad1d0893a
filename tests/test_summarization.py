"""Summarization: input checks, map-reduce on a stand-in pipeline, and the tiny BART through the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import KIT_DIR
from gradio_client import Client

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.tasks.summarization import load_summarization, map_reduce, summarize, validate
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
        text, info = summarize(tiny_summarization, " ".join(SENTENCES[:12]), 2, 8)
    finally:
        type(pipe).__call__ = original
    chunks = int(info.split("**")[1].split()[0])
    assert chunks > 1 and f"{chunks} chunks" in info
    assert " ".join(seen[:chunks]).split() == " ".join(SENTENCES[:12]).split()
    assert isinstance(text, str)


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
