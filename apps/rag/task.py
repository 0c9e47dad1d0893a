"""The Documents task functions: add, ask (streamed, cited), list and remove; and the reranker.

Embeddings come from the similarity task's model and answers from the chat task's model, both through
the model manager (`ctx.for_task(...).use`, `ctx.run_task`); no model is loaded here directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from apps.core.errors import InputError
from apps.core.inputs import require_text
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.rag import parse, retrieve
from apps.rag.chunking import chunk_document
from apps.rag.store import CollectionStore, store_root
from apps.shared.code import literal

EMBED_BATCH = 64
DEFAULT_TOP_K = 4
MAX_TOP_K = 10
MIN_DENSE_SCORE = 0.3  # all-MiniLM cosine below this is rarely on topic
MIN_TERM_COVERAGE = 0.6  # or: most of the question's words (a part number…) are in the best BM25 chunk
NOT_FOUND = "The documents in collection “{collection}” do not contain the answer to this question."
SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources you are given. Cite the sources you use with "
    "their numbers in square brackets, like [1]. If the sources do not contain the answer, say that the "
    "documents do not contain it. Be brief."
)
ANSWER_TOKENS = 160

# -- the reranker (its own registry entry: `rerank`) ---------------------------------------------


def load_cross_encoder(request: LoadRequest) -> Any:
    """A sentence-transformers CrossEncoder from a local folder."""
    from sentence_transformers import CrossEncoder

    return CrossEncoder(
        str(request.path),
        device=request.device,
        trust_remote_code=request.trust_remote_code,
        local_files_only=True,
        model_kwargs={"dtype": request.dtype},
    )


@dataclass
class RerankScores:
    """Passages ordered by the cross-encoder's relevance to the query, best first."""

    query: str
    passages: list[str]
    scores: list[float]


def rerank(
    ctx: TaskContext, query: str, passages: str, model: str | None = None, progress: ProgressFn | None = None
) -> RerankScores:
    """Score each passage (one per line) against the query with the cross-encoder; best first."""
    limit = ctx.settings.max_text_chars
    query = require_text(query, limit, what="query", empty="Enter a query to rank the passages against.")
    text = require_text(passages, limit, what="list of passages", empty="Enter passages, one per line.")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    with ctx.use(model, progress) as cross_encoder:
        scores = cross_encoder.predict([(query, line) for line in lines], show_progress_bar=False)
    order = np.argsort(-np.asarray(scores, dtype=np.float64))
    return RerankScores(query, [lines[i] for i in order], [float(scores[i]) for i in order])


# -- ingest ------------------------------------------------------------------------------------


@dataclass
class AddResult:
    """What an upload did: documents added (name → chunks), skipped as duplicates, refused (name → why)."""

    collection: str
    added: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # name → the stored document with the same content
    errors: dict[str, str] = field(default_factory=dict)
    documents: list[dict[str, Any]] = field(default_factory=list)
    reindexed: int = 0

    @property
    def summary(self) -> str:
        lines = [f"Collection **{self.collection}**:"]
        if self.reindexed:
            lines.append(f"- re-indexed {self.reindexed} chunks with the current embedding model")
        lines += [f"- added **{name}** ({count} chunks)" for name, count in self.added.items()]
        lines += [f"- skipped **{name}**: same content as {other}" for name, other in self.skipped.items()]
        lines += [f"- could not add **{name}**: {why}" for name, why in self.errors.items()]
        if len(lines) == 1:
            lines.append("- nothing to add: upload files or paste text")
        return "\n".join(lines)


def _store(ctx: TaskContext, collection: Any) -> CollectionStore:
    return CollectionStore(store_root(ctx.settings.data_path, ctx.settings.vector_uri), collection)


def _embedder(ctx: TaskContext) -> TaskContext:
    return ctx.for_task("similarity")


def embedding_model(ctx: TaskContext) -> str:
    """The name the stored vectors are tagged with: the similarity task's configured model."""
    return str(_embedder(ctx).configured_model())


def encode(
    encoder: Any, texts: Sequence[str], progress: ProgressFn | None = None, what: str = "Embedding"
) -> np.ndarray:
    """Unit vectors of the texts, in batches (with progress)."""
    parts = []
    for first in range(0, len(texts), EMBED_BATCH):
        if progress is not None:
            progress((first, len(texts)), desc=f"{what} chunk {first + 1} of {len(texts)}…")
        batch = list(texts[first : first + EMBED_BATCH])
        parts.append(encoder.encode(batch, batch_size=EMBED_BATCH, convert_to_numpy=True, normalize_embeddings=True))
    dimension = encoder.get_embedding_dimension() if hasattr(encoder, "get_embedding_dimension") else 0
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, dimension), np.float32)


def token_counter(encoder: Any) -> Any:
    """Tokens of a text for the chunker, by the embedding model's tokenizer.

    A private copy of the fast tokenizer's backend, without truncation or padding: `tokenizer.tokenize`
    would reset the shared tokenizer's padding while another thread's `encode` relies on it (a ragged
    batch: "Unable to create tensor").
    """
    tokenizer = encoder.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow (Python) tokenizer keeps no such state
        return lambda text: len(tokenizer.tokenize(text))
    from tokenizers import Tokenizer

    counter = Tokenizer.from_str(backend.to_str())
    counter.no_truncation()
    counter.no_padding()
    return lambda text: len(counter.encode(text, add_special_tokens=False).ids)


def _reindex(store: CollectionStore, encoder: Any, model: str, progress: ProgressFn | None) -> int:
    """Re-embed every chunk when the stored vectors come from another model (one atomic rewrite)."""
    stored = store.model()
    if stored is None or stored == model:
        return 0
    texts = [row["text"] for row in store.rows(["text"])]
    vectors = encode(encoder, texts, progress, what="Re-indexing")
    store.replace_vectors(model, vectors)
    return len(texts)


def _uploads(files: Any, max_bytes: int) -> Iterator[tuple[str, bytes | None, str | None]]:
    """(name, bytes or None, error or None) per uploaded file (paths, or gradio file dicts)."""
    for item in files or []:
        path = item.get("path") if isinstance(item, dict) else getattr(item, "path", item)
        name = (item.get("orig_name") if isinstance(item, dict) else None) or Path(str(path)).name
        try:
            file = Path(str(path))
            size = file.stat().st_size
        except (OSError, TypeError, ValueError):
            yield str(name), None, "the file could not be read."
            continue
        if size > max_bytes:
            yield name, None, f"{size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB upload limit."
            continue
        yield name, file.read_bytes(), None


def rag_add(
    ctx: TaskContext,
    files: Any = None,
    text: str | None = "",
    collection: str | None = "",
    progress: ProgressFn | None = None,
) -> AddResult:
    """Parse, chunk, embed and store the files and pasted text; each document is stored whole or not at all.

    A file that cannot be read gets its own error and the others are still added; the same content twice
    (under any name) is skipped. Returns an AddResult with the collection's documents table.
    """
    store = _store(ctx, collection)
    result = AddResult(store.name)
    if text is not None and not isinstance(text, str):
        raise InputError("The pasted text must be text.")
    if files is not None and not isinstance(files, (list, tuple)):
        files = [files]
    documents: list[parse.Document] = []
    for name, data, error in _uploads(files, ctx.settings.max_upload_bytes):
        if error is None:
            try:
                documents.append(parse.parse_bytes(name, data))
            except InputError as refused:
                error = str(refused).removeprefix(f"{name}: ")
        if error is not None:
            result.errors[name] = error
    if text and text.strip():
        try:
            documents.append(parse.parse_text(text, f"pasted text {time.strftime('%Y-%m-%d %H:%M:%S')}"))
        except InputError as refused:
            result.errors["pasted text"] = str(refused).removeprefix("pasted text: ")
    if not documents and not result.errors:
        raise InputError("Upload .txt, .md, .pdf, .html or .csv files, or paste text, to add to the collection.")
    model = embedding_model(ctx)
    if documents:
        with _embedder(ctx).use(None, progress) as encoder:
            count = token_counter(encoder)
            for document in documents:
                chunks = chunk_document(document, count)
                vectors = encode(encoder, [chunk.text for chunk in chunks], progress, what=f"{document.name}:")
                # The hash check and the commit happen under the collection's lock: two uploads of the
                # same file at once store it once.
                with store.lock:
                    result.reindexed += _reindex(store, encoder, model, progress)
                    digest = document.hash
                    existing = store.hashes().get(digest)
                    if existing is not None:
                        result.skipped[document.name] = existing
                        continue
                    name = _unique_name(document.name, {row["document"] for row in store.documents()})
                    store.add(name, digest, model, chunks, vectors)
                    result.added[name] = len(chunks)
    result.documents = store.documents()
    return result


def _unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"


def rag_documents(ctx: TaskContext, collection: str | None = "") -> list[dict[str, Any]]:
    """The collection's documents: name, chunks, characters, locations, hash, added."""
    return _store(ctx, collection).documents()


def rag_remove(ctx: TaskContext, document: str, collection: str | None = "") -> tuple[str, list[dict[str, Any]]]:
    """Remove a document's chunks (one commit); the summary and the documents left."""
    store = _store(ctx, collection)
    if not isinstance(document, str) or not document.strip():
        raise InputError("Name the document to remove (its name in the documents table).")
    if len(document) > 1000:
        raise InputError("A document name is at most 1,000 characters; copy it from the documents table.")
    with store.lock:
        removed = store.remove(document.strip())
    # Removing what is not there is not an error (a retried request, two clients): the summary says so.
    if not removed:
        return (
            f"Collection **{store.name}** has no document named “{document.strip()}”: nothing removed.",
            store.documents(),
        )
    return f"Removed **{document.strip()}** ({removed} chunks) from **{store.name}**.", store.documents()


# -- ask ---------------------------------------------------------------------------------------


@dataclass
class Source:
    rank: int
    document: str
    location: str
    score: float
    text: str


@dataclass
class AskUpdate:
    """The answer so far, its sources, and how they were found (each stage's list and the exact prompt)."""

    answer: str
    sources: list[Source]
    retrieval: retrieve.Retrieval
    prompt: list[dict[str, str]]
    found: bool
    done: bool = False


def sources_block(sources: list[Source]) -> str:
    return "\n\n".join(f"[{s.rank}] {s.document}, {s.location}:\n{s.text}" for s in sources)


def citations(sources: list[Source]) -> str:
    """The numbered citations under an answer: document and page/section of each source."""
    return "\n".join(f"[{s.rank}] {s.document} — {s.location}" for s in sources)


def _top_k(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InputError(f"top_k must be a whole number from 1 to {MAX_TOP_K}.") from None
    if not 1 <= number <= MAX_TOP_K:
        raise InputError(f"top_k must be from 1 to {MAX_TOP_K}, not {number}.")
    return number


def stream_ask(
    ctx: TaskContext,
    question: str,
    history: Any = None,
    collection: str | None = "",
    top_k: int = DEFAULT_TOP_K,
    rerank: bool = False,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Iterator[AskUpdate]:
    """Retrieve (BM25 + dense, fused, optionally reranked) and stream the chat model's cited answer.

    Below the relevance threshold the answer says the documents do not contain it (no model call).
    """
    question = require_text(
        question,
        ctx.settings.max_text_chars,
        what="question",
        empty="Ask a question about the documents in the collection.",
    )
    top_k = _top_k(top_k)
    if not isinstance(rerank, bool):
        raise InputError("rerank must be true or false.")
    # Every input is checked before the collection is read: bad input fails even where no model is needed.
    _history(history)
    ctx.for_task("chat").resolve_model(model)
    store = _store(ctx, collection)
    if store.version() < 0 or not store.documents():
        empty = f"Collection “{store.name}” has no documents yet: add some first, then ask."
        yield AskUpdate(empty, [], retrieve.Retrieval(), [], False, done=True)
        return
    model_name = embedding_model(ctx)
    with _embedder(ctx).use(None, progress) as encoder:
        with store.lock:
            _reindex(store, encoder, model_name, progress)
        query = encode(encoder, [question])[0]
    found = retrieve.retrieve(store, question, query)
    if rerank:
        with ctx.for_task("rerank").use(None, progress) as cross_encoder:
            found.reranked = retrieve.rerank(cross_encoder, question, found.fused[: retrieve.CANDIDATES])
    best_dense = found.dense[0].score if found.dense else 0.0
    relevant = best_dense >= MIN_DENSE_SCORE or found.coverage >= MIN_TERM_COVERAGE
    hits = found.final[:top_k]
    sources = [
        Source(n, h.chunk.document, h.chunk.location, round(h.score, 4), h.chunk.text) for n, h in enumerate(hits, 1)
    ]
    if not relevant:
        yield AskUpdate(NOT_FOUND.format(collection=store.name), [], found, [], False, done=True)
        return
    answer, used = "", sources
    for answer, used in _stream_chat(ctx, sources, question, history, model, progress):
        yield AskUpdate(answer, used, found, _prompt(used, question, history), True)
    footer = "\n\nSources:\n" + citations(used)
    yield AskUpdate(answer.strip() + footer, used, found, _prompt(used, question, history), True, done=True)


def _message(sources: list[Source], question: str) -> str:
    return f"Sources:\n\n{sources_block(sources)}\n\nQuestion: {question}"


def _prompt(sources: list[Source], question: str, history: Any) -> list[dict[str, str]]:
    """The exact messages sent to the chat model (shown in the panel)."""
    user = {"role": "user", "content": _message(sources, question)}
    return [{"role": "system", "content": SYSTEM_PROMPT}, *_history(history), user]


def _history(history: Any) -> list[dict[str, str]]:
    from apps.shared.chat_engine import normalize_history

    return normalize_history(history)


def _stream_chat(
    ctx: TaskContext,
    sources: list[Source],
    question: str,
    history: Any,
    model: str | None,
    progress: ProgressFn | None,
) -> Iterator[tuple[str, list[Source]]]:
    """The chat task's model (through the manager, as the Chat tab streams): (reply so far, sources sent).

    When the sources do not fit the model's context window, the lowest-ranked ones are left out (and
    so not cited); a single source that still does not fit is shortened.
    """
    from apps.shared import chat_engine

    settings = chat_engine.generation_settings(ANSWER_TOKENS, 0.0, 1.0, 1.0)  # no penalty: answers copy facts
    past = _history(history)
    with ctx.for_task("chat").use(model, progress) as engine:
        chat_engine.require_template(engine)
        candidates = [sources[:n] for n in range(len(sources), 0, -1)]
        candidates += [[replace(sources[0], text=sources[0].text[:limit])] for limit in (600, 300)]
        for used in candidates:
            try:
                fitted = chat_engine.fit_to_context(
                    SYSTEM_PROMPT, past, _message(used, question), engine.encode, engine.context_length, ANSWER_TOKENS
                )
                break
            except InputError:
                if used is candidates[-1]:
                    raise
        stats = chat_engine.GenerationStats()
        reply = ""
        for piece in engine.stream(fitted.input_ids, settings.with_max_new_tokens(fitted.max_new_tokens), stats):
            reply += piece
            yield reply, used
    if not reply:
        yield reply, used


def rag_ask(
    ctx: TaskContext,
    question: str,
    history: Any = None,
    collection: str | None = "",
    top_k: int = DEFAULT_TOP_K,
    rerank: bool = False,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> AskUpdate:
    """The answer to `question` from the collection's documents, citing the passages it used, all at once
    (stream_ask streams it)."""
    updates = list(stream_ask(ctx, question, history, collection, top_k, rerank, model, progress))
    return updates[-1]


# -- "Use it in code" for the Reranking tab (apps/shared/code.py fills in the last call's values) ---

RERANK_CODE = CodeRecipe(
    pipeline="""import torch
from transformers import pipeline

$pick_device
score = pipeline("text-classification", model=$model$model_options, device=device)
query = $query
passages = $passage_list
# A cross-encoder reads query and passage together; its one logit is the relevance (no softmax).
scores = [score({"text": query, "text_pair": passage}, function_to_apply="none")["score"] for passage in passages]
for passage, value in sorted(zip(passages, scores), key=lambda pair: -pair[1]):
    print(f"{value:8.4f}  {passage}")
""",
    direct="""import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

$pick_device
tokenizer = AutoTokenizer.from_pretrained($model$model_options)
model = AutoModelForSequenceClassification.from_pretrained($model$model_options).to(device).eval()
query = $query
passages = $passage_list
inputs = tokenizer([query] * len(passages), passages, padding=True, truncation=True, return_tensors="pt").to(device)
with torch.no_grad():
    scores = model(**inputs).logits.squeeze(-1).tolist()  # one relevance logit per (query, passage)
for passage, value in sorted(zip(passages, scores), key=lambda pair: -pair[1]):
    print(f"{value:8.4f}  {passage}")
""",
    packages=("transformers", "torch"),
    fields=lambda values: {
        "query": literal(str(values.get("query") or "")),
        "passage_list": literal(
            [line.strip() for line in str(values.get("passages") or "").splitlines() if line.strip()]
        ),
    },
)
