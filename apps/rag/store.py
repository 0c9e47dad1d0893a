"""Collections on disk: one LanceDB database per collection under `data_path / "rag" / <collection>`.

A collection's chunks live in one table (`chunks`) with their document, content hash, location (page or
section), character span, text, embedding and the embedding model's name. A document is added with one
`table.add` — one atomic LanceDB commit — so a crash mid-ingest leaves the table at the version before
that document. Writes to one collection are serialized by a lock (dedupe by content hash is checked under
it); readers never wait: each query reads one committed version.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.core import storage
from apps.core.errors import InputError

TABLE = "chunks"
DEFAULT_COLLECTION = "default"

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def collection_name(name: Any) -> str:
    """A checked collection name (`""` = default); InputError for anything that could escape the folder."""
    return storage.check_name(name, "collection", default=DEFAULT_COLLECTION)


def _lock(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path.resolve()), threading.Lock())


@dataclass
class StoredChunk:
    id: str
    document: str
    location: str
    start: int
    end: int
    text: str


class CollectionStore:
    """One collection's chunks in LanceDB: add a document atomically, search, list, remove."""

    def __init__(self, root: Path, name: Any) -> None:
        self.name = collection_name(name)
        self.path = root / "rag" / self.name
        self.lock = _lock(self.path)

    # -- reading ---------------------------------------------------------------------------------

    def _table(self) -> Any | None:
        if not self.path.is_dir():
            return None
        import lancedb

        db = lancedb.connect(str(self.path))
        if TABLE not in db.list_tables().tables:
            return None
        return db.open_table(TABLE)

    def version(self) -> int:
        table = self._table()
        return -1 if table is None else int(table.version)

    def rows(self, columns: list[str] | None = None) -> list[dict[str, Any]]:
        """Every stored chunk (only `columns` when given), in insertion order."""
        table = self._table()
        if table is None:
            return []
        arrow = table.to_arrow() if columns is None else table.to_arrow().select(columns)
        return arrow.to_pylist()

    def snapshot(self) -> tuple[int, list[StoredChunk], np.ndarray, str]:
        """(version, chunks, unit vectors (n, d), model) of one committed version, for retrieval."""
        table = self._table()
        if table is None:
            return -1, [], np.zeros((0, 0), np.float32), ""
        version = int(table.version)
        arrow = table.to_arrow()
        columns = ["id", "document", "location", "start", "end", "text"]
        data = {c: arrow.column(c).to_pylist() for c in columns}
        chunks = [StoredChunk(*values) for values in zip(*(data[c] for c in columns), strict=True)]
        if not chunks:
            return version, [], np.zeros((0, 0), np.float32), ""
        vectors = np.asarray(arrow.column("vector").combine_chunks().flatten(), dtype=np.float32)
        vectors = vectors.reshape(len(chunks), -1)
        return version, chunks, vectors, arrow.column("model")[0].as_py()

    def model(self) -> str | None:
        """The embedding model of the stored vectors (None when empty)."""
        rows = self.rows(["model"])
        return rows[0]["model"] if rows else None

    def documents(self) -> list[dict[str, Any]]:
        """One row per document: name, chunks, characters, locations, hash, when added."""
        by_document: dict[str, dict[str, Any]] = {}
        for row in self.rows(["document", "hash", "location", "start", "end", "added"]):
            entry = by_document.setdefault(
                row["document"],
                {
                    "document": row["document"],
                    "chunks": 0,
                    "characters": 0,
                    "locations": set(),
                    "hash": row["hash"][:12],
                    "added": row["added"],
                },
            )
            entry["chunks"] += 1
            entry["characters"] = max(entry["characters"], row["end"])
            entry["locations"].add(row["location"])
        return [{**entry, "locations": len(entry["locations"])} for entry in by_document.values()]

    def hashes(self) -> dict[str, str]:
        """Content hash → document name."""
        return {row["hash"]: row["document"] for row in self.rows(["hash", "document"])}

    def search_dense(self, query: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest chunks, from LanceDB's vector search."""
        table = self._table()
        if table is None or limit < 1:
            return []
        hits = (
            table.search(np.asarray(query, dtype=np.float32), vector_column_name="vector")
            .metric("cosine")
            .select(["id"])
            .limit(limit)
            .to_list()
        )
        return [(hit["id"], 1.0 - float(hit["_distance"])) for hit in hits]

    # -- writing ---------------------------------------------------------------------------------

    def add(self, document: str, digest: str, model: str, chunks: list[Any], vectors: np.ndarray) -> None:
        """Store one document's chunks in one commit (all of them or, after a crash, none)."""
        import lancedb

        added = time.strftime("%Y-%m-%d %H:%M:%S")
        rows = [
            {
                "id": f"{digest[:16]}-{n}",
                "document": document,
                "hash": digest,
                "location": chunk.location,
                "start": int(chunk.start),
                "end": int(chunk.end),
                "text": chunk.text,
                "vector": vector.astype(np.float32).tolist(),
                "model": model,
                "added": added,
            }
            for n, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
        ]
        self.path.mkdir(parents=True, exist_ok=True)
        db = lancedb.connect(str(self.path))
        table = self._table()
        if table is None:
            db.create_table(TABLE, data=rows)
        else:
            table.add(rows)

    def remove(self, document: str) -> int:
        """Delete a document's chunks (one commit); how many were removed."""
        table = self._table()
        if table is None:
            return 0
        before = table.count_rows()
        table.delete(f"document = '{_quote(document)}'")
        return before - table.count_rows()

    def replace_vectors(self, model: str, vectors: np.ndarray) -> None:
        """Re-indexing: the same chunks with new vectors, written as one new version (atomic)."""
        import lancedb
        import pyarrow as pa

        table = self._table()
        arrow = table.to_arrow()
        dimension = vectors.shape[1]
        values = pa.array(vectors.astype(np.float32).ravel(), type=pa.float32())
        column = pa.FixedSizeListArray.from_arrays(values, dimension)
        arrow = arrow.set_column(arrow.schema.get_field_index("vector"), "vector", column)
        arrow = arrow.set_column(
            arrow.schema.get_field_index("model"), "model", pa.array([model] * arrow.num_rows, type=pa.string())
        )
        lancedb.connect(str(self.path)).create_table(TABLE, data=arrow, mode="overwrite")


def _quote(text: str) -> str:
    if "\x00" in text:
        raise InputError("A document name cannot contain NUL characters.")
    return text.replace("'", "''")


def collections(root: Path) -> list[str]:
    """The names of the stored collections."""
    folder = root / "rag"
    return sorted(path.name for path in folder.iterdir() if path.is_dir()) if folder.is_dir() else []
