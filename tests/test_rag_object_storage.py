"""The Documents tab on object storage (`SHOWCASE_VECTOR_URI`): the same code, collections in an S3 bucket.

The S3 server is moto's, started on 127.0.0.1 inside the test and stopped by it; LanceDB reaches it through
the standard `AWS_*` environment variables, as it would reach AWS S3, MinIO or any S3-compatible store.
Real all-MiniLM-L6-v2 embeds and real SmolLM2-135M answers (the session's shared `real_context`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from apps.core.errors import ShowcaseError
from apps.core.settings import Settings
from apps.rag import task as rag
from apps.rag.store import CollectionStore, store_root

BUCKET = "showcase"
URI = f"s3://{BUCKET}/collections"
FACT_DOCUMENT = (
    "# Quillmere town notes\n\n## The lantern festival\n\nThe Zorvath lantern festival is held in Quillmere every "
    "year on the ninth of Brumaire. Its founder was the glassmaker Odile Fennick, who lit the first lantern in 1871."
)
OTHER = "# Tomatoes\n\nTomatoes need full sun, regular watering and a stake to climb."


class S3:
    """moto's S3 server on a free loopback port, with one bucket."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.client().create_bucket(Bucket=BUCKET)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def stop(self) -> None:
        """Stop the server (again: no-op), as when the store goes away."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def keys(self, prefix: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [item["Key"] for item in listed.get("Contents", [])]


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    server = S3()
    for name, value in {
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",  # moto speaks plain HTTP on loopback
    }.items():
        monkeypatch.setenv(name, value)
    yield server
    server.stop()


def context(real_context, folder: Path, uri: str):
    ctx = real_context("rag")
    settings = ctx.settings.model_copy(update={"data_dir": folder, "vector_uri": uri})
    return type(ctx)(ctx.spec, settings, ctx.manager, ctx.specs)


def write(folder: Path, files: dict[str, str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return [str(folder / name) for name in files]


def test_the_setting_takes_object_storage_uris_only() -> None:
    assert Settings(vector_uri=" s3://bucket/prefix ").vector_uri == "s3://bucket/prefix"
    assert Settings().vector_uri == ""
    for bad in ("/srv/collections", "http://127.0.0.1:9000/bucket", "bucket/prefix"):
        with pytest.raises(ValidationError, match="vector_uri must be an object-storage URI"):
            Settings(vector_uri=bad)
    assert store_root(Path("/data"), "") == Path("/data")
    assert store_root(Path("/data"), "s3://b/p/") == "s3://b/p"


@pytest.mark.real
def test_collections_in_an_s3_bucket_answer_with_citations_and_are_shared(real_context, s3: S3, tmp_path) -> None:
    ctx = context(real_context, tmp_path / "data", URI)
    added = rag.rag_add(ctx, write(tmp_path / "in", {"quillmere.md": FACT_DOCUMENT, "garden.md": OTHER}), "", "town")
    assert set(added.added) == {"quillmere.md", "garden.md"} and not added.errors
    # Everything is in the bucket, nothing on this machine's disk.
    assert any(key.startswith("collections/town/chunks.lance/") for key in s3.keys("collections/"))
    assert not (tmp_path / "data" / "rag").exists()
    result = rag.rag_ask(ctx, "In which year was the first Zorvath lantern lit?", [], "town", 2, False, "")
    assert result.found and "1871" in result.answer, result.answer
    assert result.sources[0].document == "quillmere.md"
    # Another replica (its own settings and data folder, the same URI) sees the same documents, and skips a copy.
    other = context(real_context, tmp_path / "replica", URI)
    assert {row["document"] for row in rag.rag_documents(other, "town")} == {"quillmere.md", "garden.md"}
    again = rag.rag_add(other, write(tmp_path / "again", {"copy.md": FACT_DOCUMENT}), "", "town")
    assert again.skipped == {"copy.md": "quillmere.md"}
    _, left = rag.rag_remove(other, "garden.md", "town")
    assert [row["document"] for row in left] == ["quillmere.md"]
    assert [row["document"] for row in CollectionStore(URI, "town").documents()] == ["quillmere.md"]


def test_an_unreachable_store_or_bucket_is_a_clear_error(s3: S3, tiny_settings, tmp_path) -> None:
    from app import build_manager
    from apps import SPECS
    from apps.core.spec import TaskContext

    settings = tiny_settings.model_copy(update={"data_dir": tmp_path, "vector_uri": "s3://no-such-bucket/x"})
    ctx = TaskContext(SPECS["rag"], settings, build_manager(settings), SPECS)
    with pytest.raises(ShowcaseError, match="s3://no-such-bucket/x/notes cannot be used: the bucket does not exist"):
        rag.rag_add(ctx, None, "Plant garlic in autumn.", "notes")
    s3.stop()  # the store goes away
    down = TaskContext(SPECS["rag"], settings.model_copy(update={"vector_uri": URI}), ctx.manager, SPECS)
    with pytest.raises(ShowcaseError, match="cannot be used: the storage server cannot be reached"):
        rag.rag_documents(down, "notes")
