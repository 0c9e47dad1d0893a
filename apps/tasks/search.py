"""Semantic search: a corpus of passages and a query → the top-k passages closest in meaning, with scores.

The corpus is embedded once per model and content (cached by hash, bounded LRU), so asking several
questions of the same corpus embeds only the queries. The loader is shared with sentence similarity
(`apps/shared/embeddings.py`): when both tabs use the same model, it is loaded once.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from apps.core.errors import InputError
from apps.core.inputs import require_text
from apps.core.manager import ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.cache import LRUCache
from apps.shared.code import literal
from apps.ui.components import FileInput, SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

MAX_PASSAGES = 20_000
MAX_TOP_K = 100
CACHE_ENTRIES = 8
CACHE_BYTES = 256 * 1024 * 1024
CorpusFile = str | Path | Mapping[str, Any] | None  # a .txt or .csv file: its path, or gradio's {"path": ...}
TEXT_COLUMNS = ("text", "passage", "passages", "sentence", "content", "document", "body", "paragraph")


# Corpus embeddings by (model, corpus) content hash: a second query over the same corpus only embeds the query.
CORPUS_CACHE: LRUCache[np.ndarray] = LRUCache(CACHE_ENTRIES, CACHE_BYTES, size=lambda vectors: vectors.nbytes)


# -- the corpus ---------------------------------------------------------------------------------


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise InputError(f"`{name}` is not a text file: upload a .txt (one passage per line) or a .csv.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"`{name}` is not UTF-8 text: save it as UTF-8 and upload it again.") from None


def csv_passages(text: str, name: str) -> list[str]:
    """Passages from CSV text: the column named like text/passage/content, else the one with the longest cells."""
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(name) for name in TEXT_COLUMNS if name in header), None)
    if column is not None:
        rows = rows[1:]
    else:
        width = max(len(row) for row in rows)
        lengths = [sum(len(row[i]) for row in rows if i < len(row)) for i in range(width)]
        column = int(np.argmax(lengths))
        try:
            if csv.Sniffer().has_header(text[:4096]):
                rows = rows[1:]
        except csv.Error:
            pass
    return [row[column].strip() for row in rows if column < len(row) and row[column].strip()]


def read_corpus_file(path: str | Path) -> list[str]:
    """Passages of an uploaded .txt (one per line) or .csv file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".csv"):
        raise InputError(f"`{path.name}` is a {suffix or 'file without extension'}: upload a .txt or .csv file.")
    text = _decode(path.read_bytes(), path.name)
    if suffix == ".csv":
        return csv_passages(text, path.name)
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_corpus(text: Any, file: CorpusFile, max_chars: int) -> list[str]:
    """The passages to search: the uploaded file's if one is given, else the text box's (one per line)."""
    if file:
        path = file.get("path") if isinstance(file, dict) else getattr(file, "name", file)
        passages = read_corpus_file(str(path))
    else:
        if not isinstance(text, str | None):
            raise InputError("The corpus must be text, one passage per line.")
        text = text or ""
        if len(text) > max_chars:
            raise InputError(
                f"The corpus is {len(text):,} characters long; the limit for the text box is {max_chars:,}. "
                "Upload it as a .txt or .csv file instead."
            )
        passages = [line.strip() for line in text.splitlines() if line.strip()]
    if not passages:
        raise InputError("The corpus is empty: enter passages (one per line) or upload a .txt or .csv file.")
    if len(passages) > MAX_PASSAGES:
        raise InputError(f"The corpus has {len(passages):,} passages; search at most {MAX_PASSAGES:,} at a time.")
    return passages


def corpus_key(model: str, passages: list[str]) -> str:
    """Cache key: the model and a hash of the passages' content (order matters: results name line numbers)."""
    digest = hashlib.sha256(model.encode())
    for passage in passages:
        digest.update(b"\x1e" + passage.encode())
    return digest.hexdigest()


def validate_query(query: Any, top_k: Any, corpus_size: int, max_chars: int) -> tuple[str, int]:
    """The query (stripped) and k, checked against the corpus; raises InputError with what to fix."""
    query = require_text(query, max_chars, what="query", empty="Type a query: what are you looking for?")
    try:
        k = int(top_k)
    except (TypeError, ValueError):
        raise InputError("Top-k must be a whole number.") from None
    if not 1 <= k <= MAX_TOP_K:
        raise InputError(f"Top-k must be between 1 and {MAX_TOP_K}.")
    if k > corpus_size:
        raise InputError(f"Top-k is {k} but the corpus has only {corpus_size} passages: lower k or add passages.")
    return query, k


def top_passages(query_vector: np.ndarray, corpus: np.ndarray, k: int) -> list[tuple[int, float]]:
    """(index, cosine score) of the k passages closest to the query, best first (vectors are unit length)."""
    scores = corpus @ query_vector
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order]


@dataclass
class Hit:
    """One passage found: its rank (1 = best), cosine score, text, and line (1-based) in the corpus."""

    rank: int
    score: float
    passage: str
    line: int


@dataclass
class SearchResult:
    """The passages closest to the query, best first, and the size of the corpus searched."""

    query: str
    hits: list[Hit]
    corpus_size: int


RESULT_COLUMNS = ["rank", "score", "passage", "line"]


def results_frame(result: SearchResult) -> pd.DataFrame:
    """The hits as the tab's table: rank, score (4 decimals), passage, line."""
    rows = [[hit.rank, round(hit.score, 4), hit.passage, hit.line] for hit in result.hits]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _unit(vectors: Any) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=-1, keepdims=True)
    return array / np.where(norms == 0, 1.0, norms)


def search(
    ctx: TaskContext,
    query: str,
    corpus: str = "",
    corpus_file: CorpusFile = None,
    top_k: int = 5,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> SearchResult:
    """The top-k passages of the corpus (the file's if given, else the text's lines) closest to the query."""
    passages = parse_corpus(corpus, corpus_file, ctx.settings.max_text_chars)
    query, k = validate_query(query, top_k, len(passages), ctx.settings.max_text_chars)
    key = corpus_key(str(ctx.resolve_model(model)), passages)
    with ctx.use(model, progress) as encoder:
        vectors = CORPUS_CACHE.get_or_compute(
            key,
            lambda: _unit(encoder.encode(passages, convert_to_numpy=True, show_progress_bar=len(passages) > 256)),
        )
        query_vector = _unit(encoder.encode([query], convert_to_numpy=True))[0]
    ranked = top_passages(query_vector, vectors, k)
    hits = [Hit(rank, score, passages[i], i + 1) for rank, (i, score) in enumerate(ranked, start=1)]
    return SearchResult(query, hits, len(passages))


EXAMPLES = (  # (query, corpus) rows
    (
        "Which passages talk about pets?",
        "\n".join(
            (
                "A cat is sleeping on the sofa.",
                "The stock market closed higher today.",
                "Kittens love to play with balls of yarn.",
                "The recipe needs two cups of flour.",
                "Heavy rain is expected over the weekend.",
            )
        ),
    ),
)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column(scale=2):
            query = gr.Textbox(label="Query", placeholder=EXAMPLES[0][0])
            corpus = gr.Textbox(label="Corpus (one passage per line)", lines=8, placeholder=EXAMPLES[0][1])
            upload = FileInput(label="…or upload a .txt / .csv corpus", file_types=[".txt", ".csv"], type="filepath")
            top_k = SliderInput(1, MAX_TOP_K, value=3, step=1, label="Top-k")
            model = model_picker(ctx)
            button = gr.Button("Search", variant="primary")
        with gr.Column(scale=3):
            results = gr.Dataframe(
                label="Best passages (cosine similarity)",
                interactive=False,
                wrap=True,
                column_widths=["11%", "14%", "63%", "12%"],  # rank, score, passage, line: room for the passage
                elem_id="search-results",
            )
    gr.Examples([list(example) for example in EXAMPLES], inputs=[query, corpus])

    @user_errors(ctx.spec.title)
    def run(
        query: str,
        corpus: str,
        corpus_file: str | None,
        top_k: float,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> pd.DataFrame:
        return results_frame(search(ctx, query, corpus, corpus_file, top_k, model, progress))

    gr.on([button.click, query.submit], run, [query, corpus, upload, top_k, model], [results], api_name="search")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------


def _code_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """The passages: the corpus box's lines, or read from the uploaded text file by its name."""
    file = values.get("corpus_file")
    if isinstance(file, str) and file:
        passages = f"[line.strip() for line in open({file!r}, encoding='utf-8') if line.strip()]"
    else:
        passages = literal([line.strip() for line in str(values.get("corpus") or "").splitlines() if line.strip()])
    return {"passages": passages}


CODE = CodeRecipe(
    pipeline="""import numpy as np
import torch
from transformers import pipeline

$pick_device
extract = pipeline("feature-extraction", model=$model$model_options, device=device)
query = $query
passages = $passages


def embed(text):
    vector = np.mean(extract(text)[0], axis=0)  # mean pooling, as sentence-transformers does
    return vector / np.linalg.norm(vector)


scores = np.array([embed(passage) for passage in passages]) @ embed(query)
for index in np.argsort(-scores)[:$top_k]:
    print(round(float(scores[index]), 3), passages[index])
""",
    direct="""import torch
from transformers import AutoModel, AutoTokenizer

$pick_device
tokenizer = AutoTokenizer.from_pretrained($model$model_options)
model = AutoModel.from_pretrained($model$model_options).to(device)
query = $query
passages = $passages


def embed(texts):
    inputs = tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(device)
    with torch.no_grad():
        tokens = model(**inputs).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
    return torch.nn.functional.normalize((tokens * mask).sum(1) / mask.sum(1), dim=-1)  # mean pooling


scores = embed(passages) @ embed([query])[0]
for score, index in zip(*scores.topk(min($top_k, len(passages)))):
    print(round(score.item(), 3), passages[index])
""",
    packages=("transformers", "torch", "numpy"),
    fields=_code_fields,
)
