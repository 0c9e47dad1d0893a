"""Sentence similarity: sentences in, pairwise cosine similarity matrix and the closest pair out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from apps.core.errors import InputError
from apps.core.inputs import require_text
from apps.core.manager import ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.batching import MAX_BATCH, Batcher
from apps.shared.code import literal
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

MAX_SENTENCES = 200


TOO_FEW = "Enter at least two sentences, one per line, to compare them."


def parse_sentences(text: str | None, max_chars: int) -> list[str]:
    """One sentence per non-blank line; raises InputError for too few, too many or too long."""
    text = require_text(text, max_chars, what="list of sentences", empty=TOO_FEW)
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    if len(sentences) < 2:
        raise InputError(TOO_FEW)
    if len(sentences) > MAX_SENTENCES:
        raise InputError(
            f"{len(sentences):,} sentences is too many for a similarity matrix; "
            f"compare at most {MAX_SENTENCES} at a time (or use semantic search for a large corpus)."
        )
    return sentences


def cosine_matrix(embeddings: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity; zero vectors give 0 instead of dividing by zero."""
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    unit = embeddings / np.where(norms == 0, 1.0, norms)
    return np.clip(unit @ unit.T, -1.0, 1.0)


def most_similar_pair(matrix: np.ndarray) -> tuple[int, int, float]:
    """Indices (i < j) and score of the most similar pair of different sentences."""
    masked = np.where(np.tri(len(matrix), k=-1, dtype=bool).T, matrix, -np.inf)
    i, j = np.unravel_index(int(np.argmax(masked)), masked.shape)
    return int(i), int(j), float(matrix[i, j])


def matrix_frame(sentences: list[str], matrix: np.ndarray) -> pd.DataFrame:
    """The matrix as a table whose first column names each row's sentence."""
    labels = [f"{n + 1}. {_short(s)}" for n, s in enumerate(sentences)]
    frame = pd.DataFrame(matrix.astype(float).round(3), columns=[str(n + 1) for n in range(len(sentences))])
    frame.insert(0, "sentence", labels)
    return frame


def heatmap(frame: pd.DataFrame) -> Any:
    """The table coloured by score (a heatmap), readable in light and dark mode."""
    numbers = frame.columns[1:]

    def shade(value: float) -> str:
        alpha = max(0.0, min(1.0, float(value))) * 0.75
        return f"background-color: rgba(99, 102, 241, {alpha:.2f})"

    return frame.style.map(shade, subset=list(numbers)).format("{:.3f}", subset=list(numbers))


def pair_markdown(sentences: list[str], pair: tuple[int, int, float]) -> str:
    i, j, score = pair
    return (
        f"**Most similar pair** (cosine {score:.3f}): "
        f"sentence {i + 1} «{sentences[i]}» and sentence {j + 1} «{sentences[j]}»"
    )


def _short(sentence: str, width: int = 40) -> str:
    return sentence if len(sentence) <= width else sentence[: width - 1] + "…"


def encode_groups(encoder: Any, groups: Sequence[list[str]]) -> list[np.ndarray]:
    """Several requests' sentences in one `encode` call: each request's (n, D) embeddings, in order."""
    flat = [sentence for group in groups for sentence in group]
    embeddings = np.asarray(encoder.encode(flat, convert_to_numpy=True), dtype=np.float32)
    return np.split(embeddings, np.cumsum([len(group) for group in groups])[:-1])


# Concurrent requests share forward passes (see apps/shared/batching.py); each validates its input alone first.
ENCODE_BATCHES: Batcher[list[str], np.ndarray] = Batcher(encode_groups)


@dataclass
class SimilarityMatrix:
    """The sentences compared, their pairwise cosine similarities, and the most similar pair."""

    sentences: list[str]
    matrix: np.ndarray  # (n, n) cosine similarity, row and column i = sentences[i]
    most_similar: tuple[int, int, float]  # (i, j, score) with i < j: the closest two different sentences


def similarity(
    ctx: TaskContext, sentences: str, model: str | None = None, progress: ProgressFn | None = None
) -> SimilarityMatrix:
    """Pairwise cosine similarity of the sentences (one per line) and their most similar pair."""
    parsed = parse_sentences(sentences, ctx.settings.max_text_chars)
    with ctx.use(model, progress) as encoder:
        embeddings = ENCODE_BATCHES.run(encoder, parsed)
    matrix = cosine_matrix(embeddings)
    return SimilarityMatrix(parsed, matrix, most_similar_pair(matrix))


MAX_EMBED_TEXTS = 2048  # as many inputs as OpenAI's embeddings endpoint takes in one request


@dataclass
class Embeddings:
    """Each text's embedding (row i = texts[i], as the similarity matrix computes them) and their token count."""

    vectors: np.ndarray  # (n, D) float32
    tokens: int  # tokens the model read, all texts together
    model: str  # the model that embedded them, as the model manager names it


def embed(
    ctx: TaskContext, texts: Sequence[str], model: str | None = None, progress: ProgressFn | None = None
) -> Embeddings:
    """The sentence embeddings of `texts` (not normalised, exactly the vectors the similarity matrix compares).

    Returns Embeddings(vectors, tokens, model); InputError for no text, a blank one, too many or too long.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise InputError("Give the texts to embed: a non-empty list of strings.")
    if len(texts) > MAX_EMBED_TEXTS:
        raise InputError(f"{len(texts):,} texts is too many; embed at most {MAX_EMBED_TEXTS:,} at a time.")
    if not all(isinstance(text, str) and text.strip() for text in texts):
        raise InputError("Every text to embed must be a non-empty string.")
    total = sum(len(text) for text in texts)
    if total > ctx.settings.max_text_chars:
        raise InputError(
            f"The texts are {total:,} characters long together; the limit is {ctx.settings.max_text_chars:,}."
        )
    with ctx.use(model, progress) as encoder:
        vectors = ENCODE_BATCHES.run(encoder, list(texts))
        tokens = _token_count(encoder, list(texts))
    return Embeddings(np.asarray(vectors, dtype=np.float32), tokens, str(ctx.resolve_model(model)))


def _token_count(encoder: Any, texts: list[str]) -> int:
    """Tokens the encoder reads for `texts` (cut at its maximum sequence length, as `encode` cuts them)."""
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None:
        return 0
    limit = getattr(encoder, "max_seq_length", None)
    options = {"truncation": True, "max_length": limit} if limit else {}
    return sum(len(ids) for ids in tokenizer(texts, **options)["input_ids"])


EXAMPLES = (
    "\n".join(
        (
            "A cat sits on the mat.",
            "A kitten is sitting on a rug.",
            "Stock markets fell sharply today.",
            "Shares dropped at the opening bell.",
        )
    ),
)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Sentences (one per line)", lines=6, placeholder=EXAMPLES[0])
        with gr.Column(scale=2):
            model = model_picker(ctx)
            button = gr.Button("Compare", variant="primary")
            pair = gr.Markdown(label="Most similar pair", elem_id="similarity-pair")
    # The whole width for the heatmap: a column per sentence, so half a page would hide some.
    table = gr.Dataframe(
        label="Cosine similarity (1 = same meaning)", interactive=False, wrap=True, elem_id="similarity-table"
    )
    gr.Examples([[example] for example in EXAMPLES], inputs=[text])

    @user_errors(ctx.spec.title)
    def run(sentences: str, model: str, progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        result = similarity(ctx, sentences, model, progress)
        coloured = heatmap(matrix_frame(result.sentences, result.matrix))
        return coloured, pair_markdown(result.sentences, result.most_similar)

    gr.on(
        [button.click, text.submit],
        run,
        [text, model],
        [table, pair],
        api_name="similarity",
        concurrency_limit=MAX_BATCH,  # requests run side by side; their model calls are batched
    )


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    pipeline="""import numpy as np
import torch
from transformers import pipeline

$pick_device
extract = pipeline("feature-extraction", model=$model$model_options, device=device)
sentences = $sentence_list
# One vector per sentence: the mean of its token vectors, scaled to length 1 (as sentence-transformers does).
vectors = np.array([np.mean(extract(sentence)[0], axis=0) for sentence in sentences])
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
print(np.round(vectors @ vectors.T, 3))  # cosine similarity of every pair
""",
    direct="""import torch
from transformers import AutoModel, AutoTokenizer

$pick_device
tokenizer = AutoTokenizer.from_pretrained($model$model_options)
model = AutoModel.from_pretrained($model$model_options).to(device)
sentences = $sentence_list
inputs = tokenizer(sentences, padding=True, truncation=True, return_tensors="pt").to(device)
with torch.no_grad():
    tokens = model(**inputs).last_hidden_state
mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
vectors = torch.nn.functional.normalize((tokens * mask).sum(1) / mask.sum(1), dim=-1)  # mean pooling
print((vectors @ vectors.T).round(decimals=3))  # cosine similarity of every pair
""",
    packages=("transformers", "torch", "numpy"),
    fields=lambda values: {
        "sentence_list": literal(
            [line.strip() for line in str(values.get("sentences") or "").splitlines() if line.strip()]
        )
    },
)
