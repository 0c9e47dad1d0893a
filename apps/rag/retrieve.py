"""Hybrid retrieval: BM25 (bm25s) and dense (LanceDB vector search) lists, reciprocal-rank fusion, rerank.

Each stage's list is kept (with its scores) so the tab can show how an answer was found.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apps.rag.store import CollectionStore, StoredChunk

RRF_K = 60  # the constant of Cormack et al. (2009): damps the weight of the very first ranks
CANDIDATES = 30  # how deep each list goes before fusion
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have how i in is it its of on or that the this to was were what when "
    "where which who why will with does do did can you your me my we our they their".split()
)


def tokens(text: str) -> list[str]:
    """BM25's terms: lower-case words, codes such as `XR-7731-B` kept whole, stopwords dropped."""
    return [t for t in (m.group(0).lower() for m in _TOKEN.finditer(text)) if t not in _STOPWORDS]


@dataclass
class Hit:
    chunk: StoredChunk
    score: float


@dataclass
class Retrieval:
    """Every stage's ranked list, best first."""

    bm25: list[Hit] = field(default_factory=list)
    dense: list[Hit] = field(default_factory=list)
    fused: list[Hit] = field(default_factory=list)
    reranked: list[Hit] = field(default_factory=list)
    coverage: float = 0.0  # share of the question's terms found in the best BM25 chunk

    @property
    def final(self) -> list[Hit]:
        return self.reranked or self.fused


class _Bm25Index:
    """A bm25s index of one collection version (rebuilt when the collection changes)."""

    def __init__(self, chunks: list[StoredChunk]) -> None:
        import bm25s

        self.chunks = chunks
        self.terms = [set(tokens(chunk.text)) for chunk in chunks]
        self.retriever = bm25s.BM25()
        self.retriever.index([tokens(chunk.text) or ["\x00"] for chunk in chunks], show_progress=False)

    def search(self, query: list[str], limit: int) -> list[Hit]:
        if not query or not self.chunks:
            return []
        scores = self.retriever.get_scores(query)
        order = np.argsort(-scores)[: min(limit, len(scores))]
        return [Hit(self.chunks[i], float(scores[i])) for i in order if scores[i] > 0]


_INDEXES: dict[tuple[str, int], tuple[_Bm25Index, dict[str, StoredChunk]]] = {}
_INDEX_LOCK = threading.Lock()


def _bm25_for(store: CollectionStore) -> tuple[int, _Bm25Index, dict[str, StoredChunk]]:
    """The BM25 index and id → chunk map of the collection's current version (cached per version)."""
    version = store.version()
    key = (str(store.path), version)
    with _INDEX_LOCK:
        cached = _INDEXES.get(key)
        if cached is None:
            version, chunks, _vectors, _model = store.snapshot()
            key = (str(store.path), version)
            for old in [k for k in _INDEXES if k[0] == key[0]]:
                del _INDEXES[old]
            cached = _INDEXES[key] = (_Bm25Index(chunks), {chunk.id: chunk for chunk in chunks})
    return version, *cached


def fuse(lists: list[list[Hit]], k: int = RRF_K) -> list[Hit]:
    """Reciprocal-rank fusion: score = Σ 1 / (k + rank) over the lists a chunk is in."""
    scores: dict[str, float] = {}
    chunks: dict[str, StoredChunk] = {}
    for hits in lists:
        for rank, hit in enumerate(hits, start=1):
            scores[hit.chunk.id] = scores.get(hit.chunk.id, 0.0) + 1.0 / (k + rank)
            chunks[hit.chunk.id] = hit.chunk
    return [Hit(chunks[i], s) for i, s in sorted(scores.items(), key=lambda item: -item[1])]


def retrieve(store: CollectionStore, question: str, query_vector: np.ndarray, depth: int = CANDIDATES) -> Retrieval:
    """BM25 and dense lists over the collection, and their fusion."""
    _version, index, by_id = _bm25_for(store)
    terms = tokens(question)
    bm25 = index.search(terms, depth)
    dense = [Hit(by_id[i], score) for i, score in store.search_dense(query_vector, depth) if i in by_id]
    coverage = 0.0
    if bm25 and terms:
        best_terms = set(tokens(bm25[0].chunk.text))
        coverage = sum(term in best_terms for term in set(terms)) / len(set(terms))
    return Retrieval(bm25=bm25, dense=dense, fused=fuse([bm25, dense]), coverage=coverage)


def rerank(cross_encoder: Any, question: str, hits: list[Hit]) -> list[Hit]:
    """The hits re-ordered by a cross-encoder's relevance score for (question, chunk)."""
    if not hits:
        return []
    scores = cross_encoder.predict([(question, hit.chunk.text) for hit in hits], show_progress_bar=False)
    order = np.argsort(-np.asarray(scores, dtype=np.float64))
    return [Hit(hits[i].chunk, float(scores[i])) for i in order]
