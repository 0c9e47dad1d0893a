"""The Documents tab (apps/rag): ingest, hybrid retrieval, reranking and cited answers, on real models.

Real all-MiniLM-L6-v2 embeds and real SmolLM2-135M answers (the session's shared `real_context`); the
reranker is the tiny cross-encoder of the kit. Each test gets its own data folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from apps.core.errors import InputError
from apps.rag import parse, retrieve
from apps.rag import task as rag
from apps.rag.chunking import chunk_document
from apps.rag.store import CollectionStore

ROOT = Path(__file__).resolve().parent.parent

FACT_DOCUMENT = """# Quillmere town notes

## The lantern festival

The Zorvath lantern festival is held in Quillmere every year on the ninth of Brumaire.
Its founder was the glassmaker Odile Fennick, who lit the first lantern in 1871.

## Markets

The fish market opens at dawn on Tuesdays and closes at noon.
"""

OTHER_DOCUMENTS = {
    "gardening.md": "# Tomatoes\n\nTomatoes need full sun, regular watering and a stake to climb.\n\n"
    "# Roses\n\nPrune roses in late winter, just above an outward-facing bud.",
    "cooking.txt": "Bread needs flour, water, salt and yeast. Knead the dough for ten minutes and let it rise "
    "for an hour in a warm place before baking it at 220 degrees.",
}


def context(real_context, folder: Path):
    """The Documents task on the real models, storing under `folder`."""
    ctx = real_context("rag")
    return type(ctx)(ctx.spec, ctx.settings.model_copy(update={"data_dir": folder}), ctx.manager, ctx.specs)


def write(folder: Path, files: dict[str, str | bytes]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths.append(str(path))
    return paths


# -- without models ----------------------------------------------------------------------------


def test_chunks_are_exact_spans_within_the_budget() -> None:
    text = "# Intro\n\nShort.\n\n# Body\n\n" + " ".join(f"Sentence {n} is here." for n in range(120)) + "\n\nEnd."
    document = parse.parse_text(text, "doc.md")
    words = lambda piece: len(piece.split())  # noqa: E731
    chunks = chunk_document(document, words, max_tokens=40, overlap_tokens=10)
    assert all(document.text[c.start : c.end] == c.text for c in chunks)
    assert all(words(c.text) <= 40 + 20 for c in chunks)
    assert {c.location for c in chunks} == {"§ Intro", "§ Body"}
    covered = "".join(c.text for c in chunks)
    assert all(f"Sentence {n} is" in covered for n in range(120)) and "End." in covered


def test_html_and_csv_become_sections() -> None:
    html = parse.parse_bytes("page.html", b"<h1>Title</h1><script>x()</script><p>Hello <b>there</b>.</p>")
    assert html.sections[0].location == "§ Title" and "Hello there." in html.text and "x()" not in html.text
    table = parse.parse_bytes("parts.csv", b"part,colour\nA-1,red\nB-2,blue\n")
    assert table.sections[0].location == "rows 1–2" and "part: A-1; colour: red" in table.text


def test_collection_names_cannot_escape_the_data_folder(tmp_path: Path) -> None:
    for name in ("../x", "a/b", "/etc", "..", "x\x00y"):
        with pytest.raises(InputError, match="cannot be a collection name"):
            CollectionStore(tmp_path, name)
    assert CollectionStore(tmp_path, "").name == "default"


def test_fusion_ranks_a_chunk_in_both_lists_first() -> None:
    chunk = lambda n: retrieve.StoredChunk(str(n), "d", "text", 0, 1, str(n))  # noqa: E731
    fused = retrieve.fuse([[retrieve.Hit(chunk(1), 9), retrieve.Hit(chunk(2), 5)], [retrieve.Hit(chunk(2), 0.9)]])
    assert [hit.chunk.id for hit in fused] == ["2", "1"]


# -- real models -------------------------------------------------------------------------------


@pytest.mark.real
def test_answer_contains_the_made_up_fact_and_cites_its_document(real_context, tmp_path: Path) -> None:
    ctx = context(real_context, tmp_path / "data")
    paths = write(tmp_path / "in", {"quillmere.md": FACT_DOCUMENT, **OTHER_DOCUMENTS})
    added = rag.rag_add(ctx, paths, "", "facts")
    assert set(added.added) == {"quillmere.md", "gardening.md", "cooking.txt"} and not added.errors
    result = rag.rag_ask(ctx, "In which year was the first Zorvath lantern lit?", [], "facts", 2, False, "")
    assert result.found and "1871" in result.answer, result.answer
    assert result.sources[0].document == "quillmere.md"
    assert result.sources[0].location == "§ The lantern festival"
    assert "[1] quillmere.md — § The lantern festival" in result.answer
    assert "Odile Fennick" in result.prompt[-1]["content"]  # the exact prompt holds the cited chunk
    # A follow-up sends the conversation so far; a question the documents cannot answer is refused.
    history = [{"role": "user", "content": "When was it first lit?"}, {"role": "assistant", "content": result.answer}]
    follow = rag.rag_ask(ctx, "Who lit the first Zorvath lantern?", history, "facts", 2)
    assert follow.found and follow.prompt[1]["content"] == "When was it first lit?"
    assert follow.sources[0].document == "quillmere.md"
    missing = rag.rag_ask(ctx, "What is the airspeed of an unladen swallow?", [], "facts", 2)
    assert not missing.found and "do not contain the answer" in missing.answer and missing.prompt == []
    # The same content again (under another name) is skipped.
    again = rag.rag_add(ctx, write(tmp_path / "again", {"copy.md": FACT_DOCUMENT}), "", "facts")
    assert again.skipped == {"copy.md": "quillmere.md"} and not again.added


@pytest.mark.real
def test_a_part_number_is_found_by_bm25_when_dense_ranks_it_low(real_context, tmp_path: Path) -> None:
    ctx = context(real_context, tmp_path / "data")
    # The code sits in a chunk about something else; the chunks closest in meaning are about other codes.
    files = {
        f"valve-{n}.txt": f"Replacement valve part number XR-{7700 + n}-B fits the pump of line {n}." for n in range(8)
    }
    files["kitchen.txt"] = "The blue kettle in the staff kitchen is labelled XR-7731-B and must be descaled monthly."
    rag.rag_add(ctx, write(tmp_path / "in", files), "", "parts")
    store = CollectionStore(ctx.settings.data_path, "parts")
    with ctx.for_task("similarity").use() as encoder:
        query = rag.encode(encoder, ["XR-7731-B"])[0]
    found = retrieve.retrieve(store, "XR-7731-B", query)
    target = next(hit.chunk.id for hit in found.bm25 if "XR-7731-B" in hit.chunk.text)
    assert found.bm25[0].chunk.id == target
    dense_rank = [hit.chunk.id for hit in found.dense].index(target)
    assert dense_rank > 0, "dense search alone found it first: the test needs a harder code"
    assert [hit.chunk.id for hit in found.fused].index(target) < dense_rank


@pytest.mark.real
def test_collections_persist_and_reindex_when_the_embedding_model_changes(
    real_context, tiny_settings, tmp_path: Path
) -> None:
    from app import build_manager
    from apps import SPECS
    from apps.core.spec import TaskContext

    folder = tmp_path / "data"
    ctx = context(real_context, folder)
    rag.rag_add(ctx, write(tmp_path / "in", OTHER_DOCUMENTS), "", "kept")
    # A new store object (as after a restart) on the same folder sees the same documents.
    reopened = CollectionStore(folder, "kept")
    assert {row["document"] for row in reopened.documents()} == set(OTHER_DOCUMENTS)
    real_model = reopened.model()
    # The app started with another similarity model: the next upload re-indexes the collection first.
    tiny = TaskContext(
        SPECS["rag"], tiny_settings.model_copy(update={"data_dir": folder}), build_manager(tiny_settings), SPECS
    )
    rows_before = len(reopened.rows(["id"]))
    added = rag.rag_add(tiny, None, "Plant garlic in autumn, pointed end up.", "kept")
    assert added.reindexed == rows_before and "re-indexed" in added.summary
    assert reopened.model() != real_model and reopened.model() == rag.embedding_model(tiny)
    assert len(reopened.rows(["id"])) == rows_before + 1


@pytest.mark.real
def test_reranker_on_a_tiny_cross_encoder(real_context, tmp_path: Path) -> None:
    ctx = context(real_context, tmp_path / "data")
    rag.rag_add(ctx, write(tmp_path / "in", OTHER_DOCUMENTS), "", "rr")
    update = next(u for u in rag.stream_ask(ctx, "How long should bread dough be kneaded?", [], "rr", 3, True) if u)
    found = update.retrieval
    assert found.reranked and {h.chunk.id for h in found.reranked} == {h.chunk.id for h in found.fused}
    scores = [hit.score for hit in found.reranked]
    assert scores == sorted(scores, reverse=True)
    assert [s.score for s in update.sources] == [round(s, 4) for s in scores[: len(update.sources)]]
    direct = rag.rerank(ctx.for_task("rerank"), "bread", "Knead the dough.\nPrune the roses.")
    assert len(direct.scores) == 2 and direct.scores[0] >= direct.scores[1]


@pytest.mark.real
def test_bad_files_get_their_own_error_and_the_rest_is_added(real_context, tmp_path: Path) -> None:
    ctx = context(real_context, tmp_path / "data")
    ctx = type(ctx)(ctx.spec, ctx.settings.model_copy(update={"max_upload_mb": 0.5}), ctx.manager, ctx.specs)
    paths = write(
        tmp_path / "in",
        {
            "good.md": FACT_DOCUMENT,
            "broken.pdf": b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage",
            "image.txt": bytes(range(256)) * 4,
            "empty.txt": b"",
            "big.txt": b"word " * 200_000,
            "notes.docx": b"PK\x03\x04",
        },
    )
    result = rag.rag_add(ctx, paths, "", "mixed")
    assert list(result.added) == ["good.md"]
    assert "damaged or not a PDF" in result.errors["broken.pdf"]
    assert "binary file" in result.errors["image.txt"]
    assert "empty" in result.errors["empty.txt"]
    assert "upload limit" in result.errors["big.txt"]
    assert "cannot be read" in result.errors["notes.docx"]
    assert [row["document"] for row in result.documents] == ["good.md"]
    huge = "a sentence of text. " * (parse.MAX_DOCUMENT_CHARS // 20 + 10)
    refused = rag.rag_add(ctx, None, huge, "mixed")
    assert "characters is more than" in refused.errors["pasted text"]
    assert "could not add **pasted text**" in refused.summary


@pytest.mark.real
def test_concurrent_ingest_and_questions(real_context, tmp_path: Path) -> None:
    ctx = context(real_context, tmp_path / "data")
    paths = write(tmp_path / "in", {"quillmere.md": FACT_DOCUMENT, **OTHER_DOCUMENTS})
    errors: list[BaseException] = []

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as error:
            errors.append(error)

    jobs = [(rag.rag_add, ctx, paths, "", "busy") for _ in range(3)]
    jobs += [(list, rag.stream_ask(ctx, "What is a good recipe for gravel?", [], "busy", 2)) for _ in range(3)]
    threads = [threading.Thread(target=guarded, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    store = CollectionStore(ctx.settings.data_path, "busy")
    ids = [row["id"] for row in store.rows(["id"])]
    assert len(ids) == len(set(ids))
    assert sorted(row["document"] for row in store.documents()) == sorted(["quillmere.md", *OTHER_DOCUMENTS])


KILLED_INGEST = """
import sys
from pathlib import Path
import numpy as np
import lancedb.table as table
from apps.rag.chunking import Chunk
from apps.rag.store import CollectionStore
original = table.LanceTable.add
def marked(self, *args, **kwargs):
    print("writing", flush=True)
    return original(self, *args, **kwargs)
table.LanceTable.add = marked
rows = 150_000
chunks = [Chunk("text", n, n + 1, "x") for n in range(rows)]
store = CollectionStore(Path(sys.argv[1]), "crash")
store.add("big.md", "f" * 64, "m", chunks, np.ones((rows, 384)))
print("done", flush=True)
"""


def test_kill_9_mid_ingest_leaves_the_collection_as_it_was(tmp_path: Path) -> None:
    from apps.rag.chunking import Chunk

    store = CollectionStore(tmp_path, "crash")
    store.add("first.md", "a" * 64, "m", [Chunk("text", 0, 5, "hello")], __import__("numpy").ones((1, 384)))
    before = (store.documents(), store.version())
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "writing"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    reopened = CollectionStore(tmp_path, "crash")
    assert (reopened.documents(), reopened.version()) == before
    reopened.add("second.md", "b" * 64, "m", [Chunk("text", 0, 5, "world")], __import__("numpy").ones((1, 384)))
    assert [row["document"] for row in reopened.documents()] == ["first.md", "second.md"]
