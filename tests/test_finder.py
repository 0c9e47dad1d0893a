"""Model finder: memory maths, search against a fake Hub (the real huggingface_hub code path), the cache
listing when offline or unreachable, estimate memory, "use in tab", the API and the commands."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import huggingface_hub.constants as hub_constants
import pandas as pd
import pytest
from conftest import KIT_DIR, ROOT
from fake_hub import FakeHub, FakeRepo, VirtualFile, bert_base_cased, cache_model, tensors_file

import app
from apps import SPECS
from apps.cli.finder import text_table
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.weights import ParameterCount, bytes_for, format_bytes, inference_bytes, training_bytes
from apps.finder import hub as hubmod
from apps.finder.estimate import estimate, estimate_rows
from apps.finder.hub import (
    EXPAND,
    SORTS,
    Query,
    app_tags,
    parse_query,
    result_rows,
    search,
    tasks_for,
    weight_files_bytes,
)
from apps.finder.tab import (
    ORIGIN,
    RESULT_WIDTHS,
    estimate_frame,
    estimate_markdown,
    model_id,
    results_frame,
    target_choices,
    use_in_tab,
)
from apps.finder.task import FoundModels, MemoryEstimate, estimate_memory, find_models
from apps.ui.context import TabContext

BERT_BASE_CASED = 108_310_272
SIMILARITY_TAG = SPECS["similarity"].pipeline_tag


# -- fixtures ----------------------------------------------------------------------------------


def shards() -> dict[str, bytes]:
    """A two-shard checkpoint with its index, as `save_pretrained(max_shard_size=...)` writes it."""
    first = tensors_file({"a.weight": ("F32", [30, 40])})
    second = tensors_file({"b.weight": ("F16", [50, 8]), "b.bias": ("F16", [8])})
    index = {
        "metadata": {"total_size": 30 * 40 * 4 + 58 * 8 * 2},
        "weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"},
    }
    index["weight_map"]["b.bias"] = "model-00002-of-00002.safetensors"
    return {
        "model-00001-of-00002.safetensors": first,
        "model-00002-of-00002.safetensors": second,
        "model.safetensors.index.json": json.dumps(index).encode(),
    }


REPOS = [
    FakeRepo(
        "google-bert/bert-base-cased",
        pipeline_tag="fill-mask",
        downloads=900,
        likes=30,
        trending=5,
        last_modified="2024-02-01T00:00:00.000Z",
        files={"model.safetensors": bert_base_cased(), "config.json": b"{}"},
    ),
    FakeRepo(
        "org/mini-sim",
        pipeline_tag=SIMILARITY_TAG,
        downloads=500,
        likes=90,
        trending=50,
        last_modified="2026-03-01T00:00:00.000Z",
        files={"model.safetensors": tensors_file({"w": ("F32", [10, 20]), "b": ("F16", [7])})},
    ),
    FakeRepo(
        "org/old-bin-sim",
        pipeline_tag=SIMILARITY_TAG,
        downloads=700,
        likes=10,
        trending=1,
        last_modified="2025-05-01T00:00:00.000Z",
        safetensors_metadata=False,
        files={"pytorch_model.bin": b"\0" * 4_000_000, "onnx/model.bin": b"\0" * 999},
    ),
    FakeRepo(
        "org/big-sim",
        pipeline_tag=SIMILARITY_TAG,
        downloads=300,
        likes=50,
        trending=20,
        last_modified="2025-09-01T00:00:00.000Z",
        files={"model.safetensors": VirtualFile({"w": ("F32", [900_000, 1000])})},  # 900M parameters
    ),
    FakeRepo(
        "org/mit-sim",
        pipeline_tag=SIMILARITY_TAG,
        licence="mit",
        downloads=10,
        likes=1,
        files={"model.safetensors": tensors_file({"w": ("F32", [4, 4])})},
    ),
    FakeRepo("org/sharded", pipeline_tag="fill-mask", downloads=5, files=shards()),
    FakeRepo(
        "org/tiny-gguf",
        pipeline_tag="text-generation",
        library=None,
        extra_tags=("gguf",),
        downloads=80,
        gguf_total=135_000_000,
        files={"model-Q4_1.gguf": b"GGUF" + b"\0" * 1000, "model-Q8_0.gguf": b"GGUF" + b"\0" * 2000},
    ),
]


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub(REPOS) as hub:
        yield hub


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated Hugging Face cache holding one model (with a card naming its task)."""
    cache = tmp_path / "hub"
    card = f"---\npipeline_tag: {SIMILARITY_TAG}\nlicense: apache-2.0\nlibrary_name: sentence-transformers\n---\n# x\n"
    cache_model(cache, "org/mini-sim", {"model.safetensors": tensors_file({"w": ("F32", [10, 20])})}, card)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def online(fake_hub: FakeHub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """Point huggingface_hub at the fake Hub and lift offline mode (conftest sets it) for one test."""
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.url)
    fake_hub.requests.clear()
    return fake_hub


def sparse_bert(folder: Path) -> Path:
    """A local folder with bert-base-cased's safetensors header and 433 MB of holes (no disk used)."""
    folder.mkdir(parents=True, exist_ok=True)
    virtual = bert_base_cased()
    path = folder / "model.safetensors"
    with path.open("wb") as handle:
        handle.write(virtual.head)
        handle.truncate(virtual.size)
    return folder


def online_ctx(local_model_dirs: tuple[Path, ...] = ()) -> TabContext:
    settings = Settings(offline=False, device="cpu", memory_budget="none", local_model_dirs=local_model_dirs)
    manager = ModelManager(loaders={}, selection=ModelSelection({}), budget=None, device="cpu")
    return TabContext(SPECS["finder"], settings, manager, SPECS)


# -- memory maths ------------------------------------------------------------------------------


def test_known_parameter_count_gives_known_sizes() -> None:
    assert bytes_for(BERT_BASE_CASED, "float32") == 433_241_088
    assert format_bytes(bytes_for(BERT_BASE_CASED, "float32")) == "413.2 MiB"
    assert format_bytes(bytes_for(BERT_BASE_CASED, "float16")) == "206.6 MiB"
    assert format_bytes(bytes_for(BERT_BASE_CASED, "int8")) == "103.3 MiB"
    assert format_bytes(bytes_for(BERT_BASE_CASED, "int4")) == "51.6 MiB"
    assert inference_bytes(BERT_BASE_CASED, "float32") == int(433_241_088 * 1.2)
    rows = estimate_rows(ParameterCount(by_dtype={"F32": BERT_BASE_CASED}, largest_tensor=("emb", 22_268_928)))
    assert [row[0] for row in rows] == ["fp32", "fp16 / bf16", "int8", "int4"]
    assert rows[0][1:] == ["413.2 MiB", "495.8 MiB", "1.6 GiB", "84.9 MiB"]
    assert rows[2][3] == rows[3][3] == "—"  # int8/int4 are not trained with Adam


def test_memory_maths_agrees_with_accelerate_estimate_memory() -> None:
    from accelerate.commands.estimate import estimate_training_usage

    fp32 = bytes_for(BERT_BASE_CASED, "float32")
    for dtype in ("float32", "float16", "bfloat16"):
        assert training_bytes(BERT_BASE_CASED, dtype) == max(estimate_training_usage(fp32, dtype).values())
    # accelerate divides the fp32 size by 2, 4 and 8 for float16, int8 and int4.
    assert bytes_for(BERT_BASE_CASED, "float16") == fp32 / 2
    assert bytes_for(BERT_BASE_CASED, "int8") == fp32 / 4
    assert bytes_for(BERT_BASE_CASED, "int4") == fp32 / 8


def test_weight_files_pick_one_format_at_the_root() -> None:
    sizes = {"model.safetensors": 100, "pytorch_model.bin": 400, "onnx/model.safetensors": 7, "config.json": 1}
    assert weight_files_bytes(sizes) == 100
    assert weight_files_bytes({"pytorch_model.bin": 400, "training_args.bin": 4, "sub/x.bin": 9}) == 404
    assert weight_files_bytes({"README.md": 5}) == 0


# -- the query -----------------------------------------------------------------------------------


def test_app_tasks_map_to_hub_tags_from_the_registry() -> None:
    tags = app_tags(SPECS)
    with_models = [spec for spec in SPECS.values() if spec.load is not None and spec.pipeline_tag]
    assert set(tags) == {spec.pipeline_tag for spec in with_models}
    for spec in with_models:
        assert spec in tasks_for(spec.pipeline_tag, SPECS)
    assert tasks_for("no-such-task", SPECS) == []
    assert tasks_for(None, SPECS) == [spec for spec in SPECS.values() if spec.load is not None]


def test_parse_query_accepts_task_keys_tags_and_sizes() -> None:
    query = parse_query(SPECS, "similarity", " mini ", "Most likes", "4GB", "fp16", "Apache-2.0", "any", 7)
    assert query == Query(SIMILARITY_TAG, "mini", "likes", 4_000_000_000, "float16", "apache-2.0", "", 7)
    assert parse_query(SPECS, "any").task == ""
    assert parse_query(SPECS, "fill-mask", max_memory=1.5).max_memory == 1_500_000_000  # a bare number is GB
    assert parse_query(SPECS, "fill-mask", max_memory="1GiB").max_memory == 2**30
    assert parse_query(SPECS, "fill-mask", max_memory="").max_memory is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("task", "Not a tag!", "not a Hub task"),
        ("sort", "best", "Unknown sort"),
        ("precision", "fp64", "Unknown precision"),
        ("max_memory", "lots", "memory size"),
        ("max_memory", -1, "positive"),
        ("licence", "MIT licence!", "licence id"),
        ("limit", 0, "between 1 and"),
        ("limit", 1000, "between 1 and"),
        ("search", "x" * 500, "too long"),
    ],
)
def test_parse_query_rejects_bad_input(field: str, value: object, message: str) -> None:
    arguments = {"task": "fill-mask", field: value}
    with pytest.raises(InputError, match=message):
        parse_query(SPECS, **arguments)  # type: ignore[arg-type]


def test_memory_limit_becomes_the_hubs_parameter_filter() -> None:
    query = Query(max_memory=4_000_000_000, precision="float16")
    assert query.max_parameters() == int(4e9 / (2 * 1.2))
    assert query.num_parameters() == "min:0,max:2B"  # whole billions, rounded up; exact filter after
    assert Query().num_parameters() is None
    assert Query(library="transformers", licence="mit").filters() == ["transformers", "license:mit"]


# -- search against the fake Hub -----------------------------------------------------------------


def listing(hub: FakeHub) -> dict[str, list[str]]:
    """The search request (the one with `expand`, not the reachability probe)."""
    requests = [query for query in hub.listings() if "expand" in query]
    assert len(requests) == 1, hub.listings()
    return requests[0]


@pytest.mark.parametrize(
    ("sort", "sent", "attribute"),
    [
        ("downloads", "downloads", "downloads"),
        ("likes", "likes", "likes"),
        ("trending_score", "trendingScore", "trending"),
        ("last_modified", "lastModified", "last_modified"),
    ],
)
def test_search_sends_sort_as_a_query_parameter(online: FakeHub, sort: str, sent: str, attribute: str) -> None:
    assert sort in SORTS
    result = search(Query(task=SIMILARITY_TAG, sort=sort, limit=10))
    assert result.online
    assert listing(online)["sort"] == [sent]
    expected = sorted(
        (repo for repo in REPOS if repo.pipeline_tag == SIMILARITY_TAG),
        key=lambda r: getattr(r, attribute),
        reverse=True,
    )
    assert [item.id for item in result.found] == [repo.id for repo in expected]


def test_search_sends_filters_as_query_parameters(online: FakeHub) -> None:
    query = Query(
        task=SIMILARITY_TAG, search="SIM", licence="mit", library="transformers", limit=5, max_memory=4 * 10**9
    )
    result = search(query)
    sent = listing(online)
    assert sent["pipeline_tag"] == [SIMILARITY_TAG]
    assert sent["search"] == ["SIM"]
    assert sent["filter"] == ["transformers", "license:mit"]
    assert sent["num_parameters"] == ["min:0,max:2B"]
    assert sent["limit"] == ["15"]  # extra results to fill the page after the exact memory filter
    assert set(sent["expand"]) == set(EXPAND)
    assert [item.id for item in result.found] == ["org/mit-sim"]


def test_results_table_counts_memory_fallback_and_cache(online: FakeHub) -> None:
    result = search(Query(task=SIMILARITY_TAG, limit=10))
    rows = {
        row[0]: dict(zip(hubmod.RESULT_COLUMNS, row, strict=True))
        for row in result_rows(result.found, "float16", 2**40)
    }
    mini = rows["org/mini-sim"]
    assert mini["parameters"] == "207"  # 10×20 F32 + 7 F16, from the Hub's safetensors metadata
    assert mini["fp32"] == format_bytes(inference_bytes(207, "float32"))
    assert mini["int4"] == format_bytes(inference_bytes(207, "int4"))
    assert (mini["downloads"], mini["likes"], mini["licence"], mini["updated"]) == (500, 90, "apache-2.0", "2026-03-01")
    assert mini["cached"] == "yes" and rows["org/big-sim"]["cached"] == "no"  # hf_cache holds org/mini-sim
    big = rows["org/big-sim"]
    assert big["parameters"] == "900.0M" and big["fp32"] == format_bytes(inference_bytes(900_000_000, "float32"))
    # No safetensors metadata: the weight files' size (root .bin only; onnx/ ignored) ÷ 4.
    old = rows["org/old-bin-sim"]
    assert old["parameters"] == "≈1.0M"
    assert old["fp32"] == format_bytes(int(4_000_000 * 1.2))
    assert "weight file sizes" in old["note"]
    assert any(r["path"] == "/api/models/org/old-bin-sim" and r["query"].get("blobs") for r in online.requests)
    # Nothing was downloaded: only headers and JSON.
    assert online.bytes_served == 0


def test_fits_here_compares_with_free_memory(online: FakeHub) -> None:
    result = search(Query(task=SIMILARITY_TAG, limit=10))
    needed = next(item for item in result.found if item.id == "org/big-sim").memory("float32")
    assert needed is not None
    fits = {row[0]: row[-3] for row in result_rows(result.found, "float32", needed - 1)}
    assert fits["org/big-sim"] == "no" and fits["org/mini-sim"] == "yes"
    fits = {row[0]: row[-3] for row in result_rows(result.found, "float32", needed)}
    assert fits["org/big-sim"] == "yes"


def test_exact_memory_limit_hides_what_does_not_fit(online: FakeHub) -> None:
    # 2 GB at fp32 ≈ 417M parameters: the Hub gets "max:1B" and keeps the 900M model; we drop it.
    result = search(Query(task=SIMILARITY_TAG, max_memory=2 * 10**9, precision="float32", limit=10))
    ids = [item.id for item in result.found]
    assert "org/big-sim" not in ids and "org/mini-sim" in ids
    assert result.hidden == 1


def test_gguf_metadata_counts_parameters(online: FakeHub) -> None:
    result = search(Query(task="text-generation", library="gguf"))
    (item,) = result.found
    assert item.count is not None and item.count.total == 135_000_000 and item.count.source == "gguf"


def test_find_models_task_function_gives_rows_and_a_summary(online: FakeHub) -> None:
    found = find_models(online_ctx(), "similarity", "", "likes", "", "float16", "any", "transformers", 3)
    assert isinstance(found, FoundModels) and not found.offline and found.reason == ""
    assert list(found.columns) == hubmod.RESULT_COLUMNS
    assert (
        [row[0] for row in found.rows]
        == [item.id for item in found.found]
        == [
            "org/mini-sim",
            "org/big-sim",
            "org/old-bin-sim",
        ]
    )
    assert found.query.task == SIMILARITY_TAG and found.query.sort == "likes" and found.free_bytes > 0
    assert "3 models" in found.summary and "free RAM" in found.summary


def test_find_models_tab_table_links_the_models(online: FakeHub) -> None:
    found = find_models(online_ctx(), "similarity", "", "likes", "", "float16", "any", "transformers", 3)
    frame = results_frame(found)
    assert list(frame.columns) == hubmod.RESULT_COLUMNS
    assert frame["model"][0] == f"[org/mini-sim]({online.url}/org/mini-sim)"
    assert len(frame) == 3


def test_find_models_offline_says_so(hf_cache: Path) -> None:
    ctx = online_ctx()
    ctx.settings = Settings(offline=True, device="cpu")
    found = find_models(ctx, "any", "", "downloads", "", "float16", "any", "any", 5)
    assert found.offline and "offline" in found.reason
    assert [row[0] for row in found.rows] == ["org/mini-sim"]


def test_hub_errors_on_a_bad_search_are_clear(online: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", online.url + "/nowhere")  # every route answers 404
    with pytest.raises(InputError, match="refused this search"):
        search(Query(task="fill-mask"))


# -- offline and unreachable ---------------------------------------------------------------------


def test_offline_lists_the_cache_at_once(hf_cache: Path) -> None:
    started = time.monotonic()
    result = search(Query(task=SIMILARITY_TAG), offline=True)
    assert time.monotonic() - started < 3
    assert not result.online and "offline" in result.reason
    (item,) = result.found
    assert item.id == "org/mini-sim" and item.cached and item.task == SIMILARITY_TAG
    assert item.count is not None and item.count.total == 200  # read from the cached file's header
    assert "on disk" in item.notes[0]
    assert search(Query(task="fill-mask"), offline=True).found == []  # its card says sentence-similarity
    assert search(Query(task=SIMILARITY_TAG, search="nothing-like-it"), offline=True).found == []


def test_unreachable_hub_falls_back_to_the_cache_within_seconds(
    hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once closed
    started = time.monotonic()
    result = search(Query(task=SIMILARITY_TAG), endpoint=f"http://127.0.0.1:{port}")
    assert time.monotonic() - started < 5
    assert not result.online and "cannot be reached" in result.reason
    assert [item.id for item in result.found] == ["org/mini-sim"]


def test_a_hub_that_never_answers_times_out_quickly(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hubmod, "PROBE_TIMEOUT", 1.0)
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        result = search(Query(task=SIMILARITY_TAG), endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}")
        assert time.monotonic() - started < 4
    assert not result.online and "ReadTimeout" in result.reason
    assert result.found and result.found[0].id == "org/mini-sim"


# -- estimate memory -----------------------------------------------------------------------------


def test_estimate_reads_hub_headers_by_byte_range(online: FakeHub) -> None:
    result = estimate("google-bert/bert-base-cased")
    assert result.count.total == BERT_BASE_CASED
    assert result.count.largest_tensor == ("embeddings.word_embeddings.weight", 28996 * 768)
    assert estimate_rows(result.count)[0][1] == "413.2 MiB"
    ranged = [r for r in online.requests if r["method"] == "GET" and "/resolve/" in r["path"]]
    assert ranged and all(r["range"] and r["range"].startswith("bytes=") for r in ranged)
    assert online.bytes_served <= 100_001  # the header, not 433 MB of weights


def test_estimate_sharded_checkpoint(online: FakeHub) -> None:
    result = estimate("org/sharded")
    assert result.count.by_dtype == {"F32": 1200, "F16": 408}
    assert result.count.largest_tensor == ("a.weight", 1200)


def test_estimate_falls_back_to_file_sizes(online: FakeHub) -> None:
    result = estimate("org/old-bin-sim")
    assert result.count.source == "file sizes" and result.count.total == 1_000_000
    assert "weight file sizes" in result.source


def test_estimate_gguf_file_on_the_hub(online: FakeHub) -> None:
    result = estimate("org/tiny-gguf#model-Q4_1.gguf")
    assert result.count.total == 135_000_000 and result.count.file_bytes == 1004
    with pytest.raises(InputError, match="no file"):
        estimate("org/tiny-gguf#other.gguf")


def test_estimate_unknown_model_is_a_clear_error(online: FakeHub) -> None:
    with pytest.raises(InputError, match="was not found on the Hugging Face Hub"):
        estimate("nobody/no-such-model")


def test_estimate_local_folder_reads_only_headers(tmp_path: Path) -> None:
    folder = sparse_bert(tmp_path / "bert")
    result = estimate(str(folder))
    assert result.count.total == BERT_BASE_CASED
    assert estimate_rows(result.count)[0][1] == "413.2 MiB"
    assert estimate(str(folder / "model.safetensors")).count.total == BERT_BASE_CASED
    with pytest.raises(InputError, match="not allowed here"):
        estimate(str(folder), local_roots=(tmp_path / "elsewhere",))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no weight files"):
        estimate(str(tmp_path / "empty"))


def test_estimate_offline_uses_the_cache(hf_cache: Path) -> None:
    result = estimate("org/mini-sim", offline=True)
    assert result.count.total == 200 and "cached copy" in result.source
    with pytest.raises(InputError, match="not in the local cache"):
        estimate("org/not-cached", offline=True)


# -- use in tab ----------------------------------------------------------------------------------


def test_every_results_column_has_a_readable_width() -> None:
    assert list(RESULT_WIDTHS) == hubmod.RESULT_COLUMNS  # one width per column, in the table's order
    assert all(70 <= width <= 300 for width in RESULT_WIDTHS.values())  # whole headers, no wall of one column


def test_target_choices_follow_the_registry() -> None:
    frame = pd.DataFrame({"model": ["[org/a](u)", "[org/b](u)"], "task": [SIMILARITY_TAG, "no-such-task"]})
    choices, note = target_choices(frame, "org/a", SPECS)
    assert [key for _, key in choices] == [spec.key for spec in tasks_for(SIMILARITY_TAG, SPECS)]
    assert note == ""
    assert target_choices(frame, "org/b", SPECS) == ([], "No tab of this app runs `no-such-task` models.")
    typed, note = target_choices(frame, "org/typed-in", SPECS)
    assert len(typed) == len(tasks_for(None, SPECS)) and "unknown" in note
    assert model_id("[org/a](https://x/org/a)") == "org/a" and model_id(" org/b ") == "org/b"


def test_use_in_tab_validates(tmp_path: Path) -> None:
    ctx = online_ctx()
    ctx.manager.selection = ModelSelection({"similarity": SPECS["similarity"].default.ref})
    with pytest.raises(InputError, match="Pick a model"):
        use_in_tab(ctx, "  ", "similarity")
    with pytest.raises(InputError, match="Choose the tab"):
        use_in_tab(ctx, "org/x", "finder")  # the finder has no model
    with pytest.raises(InputError, match="not a valid model id"):
        use_in_tab(ctx, "not a model id!", "similarity")
    with pytest.raises(InputError, match="not allowed here"):
        use_in_tab(ctx, str(tmp_path), "similarity")  # local folders only under SHOWCASE_LOCAL_MODEL_DIRS
    strict = TabContext(ctx.spec, Settings(allow_custom_models=False), ctx.manager, SPECS)
    with pytest.raises(InputError, match="only its listed models"):
        use_in_tab(strict, "org/anything", "similarity")
    message = use_in_tab(ctx, "org/x@v2", "similarity")
    assert ctx.manager.selection.get("similarity") == ModelRef("org/x", revision="v2")
    assert ctx.manager.selection.origin("similarity") == ORIGIN
    assert "remote code is off" in message and ctx.manager.trust_remote_code is False


@pytest.fixture
def restore_similarity(tiny_app) -> Iterator[ModelManager]:
    """The tiny app's manager; the similarity model chosen by a test is undone afterwards."""
    manager = tiny_app[1].manager
    previous, origin = manager.selection.get("similarity"), manager.selection.origin("similarity")
    yield manager
    chosen = manager.selection.get("similarity")
    manager.selection.set("similarity", previous, origin=origin)
    if chosen != previous:
        manager.unload("similarity", chosen)


def test_use_in_tab_then_the_tab_runs_the_new_model(tiny_app, client, restore_similarity: ModelManager) -> None:
    manager = restore_similarity
    ctx = TabContext(SPECS["finder"], tiny_app[1].settings, manager, SPECS)
    bert = (KIT_DIR / "search").resolve()  # the search tab's own tiny model, under the allowed kit folder
    message = use_in_tab(ctx, str(bert), "similarity")
    assert "Sentence similarity" in message
    table, _ = client.predict("A cat sits.\nA kitten sits.", "", api_name="/similarity")
    assert len(table["data"]) == 2
    assert manager.state_of("similarity")["model"] == str(bert)
    assert manager.state_of("similarity")["state"] == "loaded"
    status = client.predict(api_name="/status")["tasks"]["similarity"]
    assert (status["model"], status["origin"]) == (str(bert), ORIGIN)


def test_an_incompatible_model_fails_at_first_use_with_a_message(
    tiny_app, client, restore_similarity: ModelManager
) -> None:
    ctx = TabContext(SPECS["finder"], tiny_app[1].settings, restore_similarity, SPECS)
    broken = KIT_DIR / "finder-test-not-a-model"
    broken.mkdir(exist_ok=True)
    try:
        (broken / "config.json").write_text('{"model_type": "no-such-architecture"}')
        (broken / "model.safetensors").write_bytes(tensors_file({"w": ("F32", [2, 2])}))
        use_in_tab(ctx, str(broken), "similarity")
        with pytest.raises(Exception, match="finder-test-not-a-model") as info:
            client.predict("a\nb", "", api_name="/similarity")
        assert "Traceback" not in str(info.value)
    finally:
        shutil.rmtree(broken, ignore_errors=True)
    table, _ = client.predict("a\nb", str((KIT_DIR / "similarity").resolve()), api_name="/similarity")
    assert len(table["data"]) == 2  # the app still answers


# -- the API (the tiny app is offline) ---------------------------------------------------------


def test_find_models_api_offline_lists_the_cache(client, hf_cache: Path) -> None:
    started = time.monotonic()
    table, summary = client.predict(
        SIMILARITY_TAG, "", "downloads", "", "float16", "any", "transformers", 20, api_name="/find_models"
    )
    assert time.monotonic() - started < 10
    assert "The Hub is not available" in summary and "offline" in summary
    assert table["headers"] == hubmod.RESULT_COLUMNS
    assert [row[0].split("]")[0].lstrip("[") for row in table["data"]] == ["org/mini-sim"]


def test_find_models_api_bad_input_is_a_clear_error(client) -> None:
    with pytest.raises(Exception, match="Cannot read `lots` as a memory size") as info:
        client.predict("fill-mask", "", "downloads", "lots", "float16", "any", "any", 20, api_name="/find_models")
    assert "Traceback" not in str(info.value)
    with pytest.raises(Exception, match="not a Hub task") as info:
        client.predict("Not a tag!", "", "downloads", "", "float16", "any", "any", 20, api_name="/find_models")
    assert "Traceback" not in str(info.value)
    table, _ = client.predict("any", "", "downloads", "", "float16", "any", "any", 5, api_name="/find_models")
    assert table["headers"] == hubmod.RESULT_COLUMNS


def test_estimate_memory_api(client) -> None:
    table, text = client.predict(str((KIT_DIR / "similarity").resolve()), api_name="/estimate_memory")
    assert [row[0] for row in table["data"]] == ["fp32", "fp16 / bf16", "int8", "int4"]
    assert "parameters" in text and "accelerate estimate-memory" in text
    for bad, message in (("", "Enter a Hub model id"), ("/etc", "not allowed here"), ("a b c", "not a valid")):
        with pytest.raises(Exception, match=message):
            client.predict(bad, api_name="/estimate_memory")


def test_estimate_memory_task_function(tmp_path: Path) -> None:
    folder = sparse_bert(tmp_path / "bert")
    with pytest.raises(InputError, match="not allowed here"):
        estimate_memory(online_ctx(), str(folder))  # visitors may read only folders under the allowed ones
    result = estimate_memory(online_ctx(local_model_dirs=(tmp_path,)), str(folder))
    assert isinstance(result, MemoryEstimate)
    assert (result.model, result.parameters) == (str(folder), BERT_BASE_CASED)
    assert result.rows[0] == ["fp32", "413.2 MiB", "495.8 MiB", "1.6 GiB", "84.9 MiB"]
    assert "local folder" in result.source and "108,310,272 parameters" in result.summary
    configured = online_ctx()  # a configured model's own folder may always be estimated
    configured.manager.selection = ModelSelection({"similarity": ModelRef(str(folder))})
    assert estimate_memory(configured, str(folder)).rows[0][1] == "413.2 MiB"
    assert estimate_memory(online_ctx(), str(folder), any_local_folder=True).parameters == BERT_BASE_CASED
    with pytest.raises(InputError, match="Enter a Hub model id"):
        estimate_memory(online_ctx(), "  ")


def test_estimate_memory_tab_table_and_formulas(tmp_path: Path) -> None:
    folder = sparse_bert(tmp_path / "bert")
    result = estimate_memory(online_ctx(local_model_dirs=(tmp_path,)), str(folder))
    assert estimate_frame(result).iloc[0].tolist() == ["fp32", "413.2 MiB", "495.8 MiB", "1.6 GiB", "84.9 MiB"]
    text = estimate_markdown(result)
    assert "108,310,272 parameters" in text and "× 1.2" in text


# -- the commands --------------------------------------------------------------------------------


def test_serving_flags_are_unchanged() -> None:
    assert app.parse_args([]).command is None
    args = app.parse_args(["--port", "8123", "--offline", "--model", "similarity=org/x"])
    assert (args.command, args.port, args.offline, args.model) == (None, 8123, True, ["similarity=org/x"])
    assert app.parse_args(["find", "--task", "fill-mask"]).offline is None  # not forced offline
    assert app.parse_args(["--offline", "find", "--task", "fill-mask"]).offline is True
    assert app.parse_args(["estimate", "--offline", "org/x"]).offline is True


def test_find_command_against_the_fake_hub(online: FakeHub, capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(["find", "--task", "similarity", "--sort", "likes", "--max-memory", "4GB", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model "))
    # By likes; the Hub's parameter filter drops the model whose size it does not know (old-bin-sim).
    assert [line.split()[0] for line in lines[header + 2 :]] == ["org/mini-sim", "org/big-sim", "org/mit-sim"]
    sent = listing(online)
    assert sent["sort"] == ["likes"] and sent["num_parameters"] == ["min:0,max:2B"]


def test_find_command_offline_lists_the_cache(hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(["find", "--task", "any", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "The Hub is not available" in out and "org/mini-sim" in out


def test_find_command_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(["find", "--task", "Not a tag!"]) == 1
    assert "not a Hub task" in capsys.readouterr().err


def test_estimate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = sparse_bert(tmp_path / "bert")
    assert app.main(["estimate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "108,310,272 parameters" in out and "413.2 MiB" in out and "training with Adam" in out
    assert app.main(["estimate", str(tmp_path / "missing")]) == 1


def test_estimate_command_in_a_terminal(tmp_path: Path) -> None:
    folder = sparse_bert(tmp_path / "bert")
    result = subprocess.run(
        [sys.executable, "app.py", "estimate", str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "413.2 MiB" in result.stdout and "Largest tensor" in result.stdout


def test_text_table_aligns_numbers() -> None:
    table = text_table(["name", "count"], [["a", 5], ["bb", 1234567]])
    assert table.splitlines() == ["name      count", "----  ---------", "a             5", "bb    1,234,567"]


def test_the_commands_call_the_finder_task_functions(
    hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`find` and `estimate` print what the task functions return (the same the tab and the API show)."""
    from apps.finder import task

    seen: list[tuple[str, object]] = []
    for name in ("find_models", "estimate_memory"):
        original = getattr(task, name)

        def spy(ctx: Any, *args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            result = _original(ctx, *args, **kwargs)
            seen.append((_name, result))
            return result

        monkeypatch.setattr(task, name, spy)
    assert app.main(["find", "--task", "any", "--offline"]) == 0
    assert app.main(["estimate", str(sparse_bert(tmp_path / "bert"))]) == 0
    (_, found), (_, estimated) = seen
    out = capsys.readouterr().out
    assert [name for name, _ in seen] == ["find_models", "estimate_memory"]
    assert text_table(found.columns, found.rows) in out and text_table(estimated.columns, estimated.rows) in out
