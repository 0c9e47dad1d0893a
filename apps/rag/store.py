"""Collections: one LanceDB database per collection under `data_path / "rag" / <collection>`, or under an
object-storage URI (`SHOWCASE_VECTOR_URI`, e.g. `s3://bucket/prefix/<collection>`) that several app replicas share.

The same code serves both: LanceDB opens a folder or an `s3://`, `gs://` or `az://` URI alike, reading the
credentials, region and endpoint (`AWS_ENDPOINT_URL` for an S3-compatible server such as MinIO) from the
standard environment variables of that store.

A collection's chunks live in one table (`chunks`) with their document, content hash, location (page or
section), character span, text, embedding and the embedding model's name. A document is added with one
`table.add` — one atomic LanceDB commit — so a crash mid-ingest leaves the table at the version before
that document. Writes to one collection are serialized by a lock (dedupe by content hash is checked under
it); readers never wait: each query reads one committed version.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from apps.core import storage
from apps.core.errors import InputError, ShowcaseError
from apps.core.settings import OBJECT_STORE_SCHEMES

TABLE = "chunks"
T = TypeVar("T")
DEFAULT_COLLECTION = "default"

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def collection_name(name: Any) -> str:
    """A checked collection name (`""` = default); InputError for anything that could escape the folder."""
    return storage.check_name(name, "collection", default=DEFAULT_COLLECTION)


def _lock(uri: str) -> threading.Lock:
    key = uri if is_remote(uri) else str(Path(uri).resolve())
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


class StoreError(ShowcaseError):
    """The vector store cannot be reached or read (object storage down, wrong credentials)."""


STORE_FAILURES = (OSError, ValueError, RuntimeError)  # what LanceDB raises when its storage fails


def _store_errors(method: Callable[..., T]) -> Callable[..., T]:
    """A failure of the storage under LanceDB (an object store down, refused credentials) as a StoreError that
    says where, instead of pages of object-store context."""

    @functools.wraps(method)
    def wrapper(self: CollectionStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except ShowcaseError:
            raise
        except STORE_FAILURES as exc:
            raise StoreError(f"The collection at {self.uri} cannot be used: {_reason(exc)}") from None

    return wrapper


@dataclass
class StoredChunk:
    id: str
    document: str
    location: str
    start: int
    end: int
    text: str


def is_remote(uri: str) -> bool:
    return uri.lower().startswith(OBJECT_STORE_SCHEMES)


def store_root(data_path: Path, vector_uri: str = "") -> Path | str:
    """What a CollectionStore is opened on: `vector_uri` (object storage) when set, else the data folder."""
    return vector_uri.rstrip("/") if vector_uri else data_path


class CollectionStore:
    """One collection's chunks in LanceDB: add a document atomically, search, list, remove.

    `root` is the data folder (the collection lives in `root/rag/NAME`) or an object-storage URI (`root/NAME`).
    """

    def __init__(self, root: Path | str, name: Any) -> None:
        self.name = collection_name(name)
        if isinstance(root, str) and is_remote(root):
            self.path: Path | None = None
            self.uri = f"{root.rstrip('/')}/{self.name}"
        else:
            self.path = Path(root) / "rag" / self.name
            self.uri = str(self.path)
        self.lock = _lock(self.uri)

    # -- reading ---------------------------------------------------------------------------------

    def _connect(self) -> Any:
        import lancedb

        return lancedb.connect(self.uri)

    def _table(self) -> Any | None:
        if self.path is not None and not self.path.is_dir():
            return None  # nothing written yet (and no empty folder made by a read)
        db = self._connect()
        if TABLE not in db.list_tables().tables:
            return None
        return db.open_table(TABLE)

    @_store_errors
    def version(self) -> int:
        table = self._table()
        return -1 if table is None else int(table.version)

    @_store_errors
    def rows(self, columns: list[str] | None = None) -> list[dict[str, Any]]:
        """Every stored chunk (only `columns` when given), in insertion order."""
        table = self._table()
        if table is None:
            return []
        arrow = table.to_arrow() if columns is None else table.to_arrow().select(columns)
        return arrow.to_pylist()

    @_store_errors
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

    @_store_errors
    def search_dense(self, query: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) of the nearest chunks, from LanceDB's vector search."""
        table = self._table()
        if table is None or limit < 1:
            return []
        hits = (
            table.search(np.asarray(query, dtype=np.float32), vector_column_name="vector")
            .metric("cosine")
            .select(["id", "_distance"])  # named, or Lance warns on every query that it adds it by itself
            .limit(limit)
            .to_list()
        )
        return [(hit["id"], 1.0 - float(hit["_distance"])) for hit in hits]

    # -- writing ---------------------------------------------------------------------------------

    @_store_errors
    def add(self, document: str, digest: str, model: str, chunks: list[Any], vectors: np.ndarray) -> None:
        """Store one document's chunks in one commit (all of them or, after a crash, none)."""
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
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        table = self._table()
        if table is None:
            db.create_table(TABLE, data=rows)
        else:
            table.add(rows)

    @_store_errors
    def remove(self, document: str) -> int:
        """Delete a document's chunks (one commit); how many were removed."""
        table = self._table()
        if table is None:
            return 0
        before = table.count_rows()
        table.delete(f"document = '{_quote(document)}'")
        return before - table.count_rows()

    @_store_errors
    def replace_vectors(self, model: str, vectors: np.ndarray) -> None:
        """Re-indexing: the same chunks with new vectors, written as one new version (atomic)."""
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
        self._connect().create_table(TABLE, data=arrow, mode="overwrite")


def _quote(text: str) -> str:
    if "\x00" in text:
        raise InputError("A document name cannot contain NUL characters.")
    return text.replace("'", "''")


# Object-store replies in LanceDB's error text (one long Rust debug string), and what they mean to a person.
STORE_REASONS = (
    (("NoSuchBucket",), "the bucket does not exist"),
    (("Connection refused", "tcp connect error", "dns error", "timed out"), "the storage server cannot be reached"),
    (
        ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "status: 403", "status: 401"),
        "access was refused (check the credentials in the environment)",
    ),
)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for markers, reason in STORE_REASONS:
        if any(marker in text for marker in markers):
            return reason
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first[:300]
