"""A fake Hugging Face Hub on 127.0.0.1 for tests, so the real `huggingface_hub` code path runs offline.

It answers the routes the model finder and `download` use: `GET /api/models` (pipeline_tag, search,
filter, sort, limit, num_parameters, expand — as the Hub does), `GET /api/models/{id}[/revision/{rev}]`
(with `blobs=true` file sizes), `GET /api/models/{id}/tree/{rev}` (the file listing
`snapshot_download` reads), and `HEAD`/`GET /{id}/resolve/{rev}/{file}` with byte ranges. Files are real
safetensors bytes, or "virtual" ones: a real header in front of a declared size of zeros, so a
BERT-base-sized checkpoint costs nothing. Every request is recorded in `FakeHub.requests`.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
from safetensors.numpy import save

SHA = "a" * 40
_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I8": 1, "U8": 1}


class VirtualFile:
    """A safetensors file of `size` bytes whose data part is zeros made on demand (never stored)."""

    def __init__(self, tensors: dict[str, tuple[str, list[int]]]) -> None:
        header: dict[str, Any] = {}
        offset = 0
        for name, (dtype, shape) in tensors.items():
            length = int(np.prod(shape)) * _BYTES[dtype]
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + length]}
            offset += length
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        self.head = struct.pack("<Q", len(raw)) + raw
        self.size = len(self.head) + offset

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file."""
        head = self.head[start:end]
        return head + b"\0" * max(0, end - max(start, len(self.head)))


def tensors_file(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A real (small) safetensors file holding zeros of these dtypes and shapes."""
    kinds = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "U8": np.uint8}
    return save({name: np.zeros(shape, dtype=kinds[dtype]) for name, (dtype, shape) in tensors.items()})


def bert_base_cased() -> VirtualFile:
    """The tensor layout of bert-base-cased: 108,310,272 float32 parameters (433 MB, never materialized)."""
    hidden, ffn, vocab = 768, 3072, 28996
    tensors: dict[str, tuple[str, list[int]]] = {
        "embeddings.word_embeddings.weight": ("F32", [vocab, hidden]),
        "embeddings.position_embeddings.weight": ("F32", [512, hidden]),
        "embeddings.token_type_embeddings.weight": ("F32", [2, hidden]),
        "embeddings.LayerNorm.weight": ("F32", [hidden]),
        "embeddings.LayerNorm.bias": ("F32", [hidden]),
    }
    for layer in range(12):
        prefix = f"encoder.layer.{layer}."
        for name in ("query", "key", "value"):
            tensors[f"{prefix}attention.self.{name}.weight"] = ("F32", [hidden, hidden])
            tensors[f"{prefix}attention.self.{name}.bias"] = ("F32", [hidden])
        tensors[f"{prefix}attention.output.dense.weight"] = ("F32", [hidden, hidden])
        tensors[f"{prefix}attention.output.dense.bias"] = ("F32", [hidden])
        tensors[f"{prefix}attention.output.LayerNorm.weight"] = ("F32", [hidden])
        tensors[f"{prefix}attention.output.LayerNorm.bias"] = ("F32", [hidden])
        tensors[f"{prefix}intermediate.dense.weight"] = ("F32", [ffn, hidden])
        tensors[f"{prefix}intermediate.dense.bias"] = ("F32", [ffn])
        tensors[f"{prefix}output.dense.weight"] = ("F32", [hidden, ffn])
        tensors[f"{prefix}output.dense.bias"] = ("F32", [hidden])
        tensors[f"{prefix}output.LayerNorm.weight"] = ("F32", [hidden])
        tensors[f"{prefix}output.LayerNorm.bias"] = ("F32", [hidden])
    tensors["pooler.dense.weight"] = ("F32", [hidden, hidden])
    tensors["pooler.dense.bias"] = ("F32", [hidden])
    return VirtualFile(tensors)


def safetensors_parameters(content: bytes | VirtualFile) -> dict[str, int]:
    """Parameters per dtype in a safetensors file's header (what the Hub reports as `safetensors`)."""
    head = content.head if isinstance(content, VirtualFile) else content
    (length,) = struct.unpack("<Q", head[:8])
    header = json.loads(head[8 : 8 + length])
    header.pop("__metadata__", None)
    counts: dict[str, int] = {}
    for tensor in header.values():
        counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + int(np.prod(tensor["shape"]))
    return counts


@dataclass
class FakeRepo:
    """One model repo of the fake Hub."""

    id: str
    pipeline_tag: str | None = None
    library: str | None = "transformers"
    licence: str | None = "apache-2.0"
    downloads: int = 0
    likes: int = 0
    trending: float = 0.0
    last_modified: str = "2026-01-01T00:00:00.000Z"
    files: dict[str, bytes | VirtualFile] = field(default_factory=dict)
    safetensors_metadata: bool = True  # does the Hub report parameter counts for it?
    gguf_total: int | None = None
    extra_tags: tuple[str, ...] = ()

    @property
    def tags(self) -> list[str]:
        tags = [self.library] if self.library else []
        tags += [self.pipeline_tag] if self.pipeline_tag else []
        tags += [f"license:{self.licence}"] if self.licence else []
        return tags + list(self.extra_tags)

    def parameters(self) -> dict[str, int] | None:
        if not self.safetensors_metadata:
            return None
        counts: dict[str, int] = {}
        for name, content in self.files.items():
            if name.endswith(".safetensors"):
                for dtype, count in safetensors_parameters(content).items():
                    counts[dtype] = counts.get(dtype, 0) + count
        return counts or None

    def size_of(self, name: str) -> int:
        content = self.files[name]
        return content.size if isinstance(content, VirtualFile) else len(content)

    def tree(self) -> list[dict[str, Any]]:
        """`GET /api/models/{id}/tree/{rev}?recursive=true`: every file with its size and blob id."""
        return [
            {"type": "file", "path": name, "size": self.size_of(name), "oid": hashlib.sha1(name.encode()).hexdigest()}
            for name in self.files
        ]

    def as_json(self, expand: list[str] | None, blobs: bool = False) -> dict[str, Any]:
        parameters = self.parameters()
        full: dict[str, Any] = {
            "downloads": self.downloads,
            "likes": self.likes,
            "trendingScore": self.trending,
            "lastModified": self.last_modified,
            "pipeline_tag": self.pipeline_tag,
            "library_name": self.library,
            "tags": self.tags,
            "gated": False,
            "sha": SHA,
            "siblings": [{"rfilename": name, **({"size": self.size_of(name)} if blobs else {})} for name in self.files],
        }
        if parameters:
            full["safetensors"] = {"parameters": parameters, "total": sum(parameters.values())}
        if self.gguf_total:
            full["gguf"] = {"total": self.gguf_total, "architecture": "llama"}
        keys = expand if expand else list(full)
        return {"id": self.id, "_id": self.id, **{key: full[key] for key in keys if key in full}}


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", header or "")
    if not match:
        return None
    start = int(match.group(1))
    end = int(match.group(2)) + 1 if match.group(2) else size
    return start, min(end, size)


def _max_parameters(text: str | None) -> float | None:
    match = re.search(r"max:(\d+(?:\.\d+)?)([KMB]?)", text or "")
    if not match:
        return None
    return float(match.group(1)) * {"": 1, "K": 1e3, "M": 1e6, "B": 1e9}[match.group(2)]


class FakeHub:
    """The server: `url` to point HF_ENDPOINT at, `repos` by id, and every request it answered."""

    def __init__(self, repos: list[FakeRepo]) -> None:
        self.repos = {repo.id: repo for repo in repos}
        self.requests: list[dict[str, Any]] = []
        self.bytes_served = 0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                hub._answer(self, head=True)

            def do_GET(self) -> None:
                hub._answer(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def listings(self) -> list[dict[str, list[str]]]:
        """The query parameters of every `/api/models` listing asked for (the reachability probe too)."""
        return [r["query"] for r in self.requests if r["path"] == "/api/models"]

    # -- routes ---------------------------------------------------------------------------------

    def _answer(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        parts = urlsplit(handler.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        self.requests.append(
            {"method": handler.command, "path": path, "query": query, "range": handler.headers.get("Range")}
        )
        if path == "/api/models":
            return self._json(handler, self._list(query))
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+?)/tree/[^/]+", path)
        if match:  # the file listing snapshot_download reads
            repo = self.repos.get(match.group(1))
            if repo is None:
                return self._error(handler, 404, "RepoNotFound")
            return self._json(handler, repo.tree())
        match = re.fullmatch(r"/api/models/([^/]+/[^/]+?)(?:/revision/([^/]+))?", path)
        if match:
            repo = self.repos.get(match.group(1))
            if repo is None:
                return self._error(handler, 404, "RepoNotFound")
            return self._json(handler, repo.as_json(query.get("expand"), blobs=query.get("blobs") == ["true"]))
        match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match:
            return self._file(handler, match.group(1), match.group(3), head)
        return self._error(handler, 404, "RepoNotFound")

    def _list(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        repos = list(self.repos.values())
        if "pipeline_tag" in query:
            repos = [r for r in repos if r.pipeline_tag == query["pipeline_tag"][0]]
        if "search" in query:
            repos = [r for r in repos if query["search"][0].lower() in r.id.lower()]
        for tag in query.get("filter", []):
            repos = [r for r in repos if tag in r.tags]
        most = _max_parameters((query.get("num_parameters") or [None])[0])
        if most is not None:  # like the Hub: only models whose size it knows
            repos = [r for r in repos if (sum((r.parameters() or {}).values()) or r.gguf_total or most + 1) <= most]
        key = {
            "downloads": lambda r: r.downloads,
            "likes": lambda r: r.likes,
            "trendingScore": lambda r: r.trending,
            "lastModified": lambda r: r.last_modified,
        }.get((query.get("sort") or ["downloads"])[0])
        if key is not None:
            repos.sort(key=key, reverse=True)
        limit = int(query.get("limit", ["1000"])[0])
        return [repo.as_json(query.get("expand")) for repo in repos[:limit]]

    def _file(self, handler: BaseHTTPRequestHandler, repo_id: str, name: str, head: bool) -> None:
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(handler, 404, "RepoNotFound")
        if name not in repo.files:
            return self._error(handler, 404, "EntryNotFound")
        content = repo.files[name]
        size = repo.size_of(name)
        wanted = _range(handler.headers.get("Range"), size)
        start, end = wanted or (0, size)
        handler.send_response(206 if wanted else 200)
        handler.send_header("Content-Length", str(end - start))
        if wanted:
            handler.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        handler.send_header("ETag", f'"{hashlib.sha256(name.encode()).hexdigest()}"')
        handler.send_header("X-Repo-Commit", SHA)
        handler.end_headers()
        if not head:
            body = content.read(start, end) if isinstance(content, VirtualFile) else content[start:end]
            self.bytes_served += len(body)
            handler.wfile.write(body)

    def _json(self, handler: BaseHTTPRequestHandler, data: Any) -> None:
        body = json.dumps(data).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: str) -> None:
        body = json.dumps({"error": code}).encode()
        handler.send_response(status)
        handler.send_header("X-Error-Code", code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)


def cache_model(cache_dir: Path, repo_id: str, files: dict[str, bytes], card: str = "") -> Path:
    """Put a model into a Hugging Face cache folder the way huggingface_hub lays it out; returns its snapshot."""
    repo = cache_dir / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / SHA
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(SHA)
    if card:
        files = {**files, "README.md": card.encode()}
    for name, content in files.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(blob)
    return snapshot


def serve(repos: list[FakeRepo]) -> Iterator[FakeHub]:
    """Run a fake Hub for the duration of a fixture."""
    with FakeHub(repos) as hub:
        yield hub
