"""Image search and the shared CLIP encoder: gallery building, ranking, the embedding cache, the task
function's ImageRanking, the API."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image
from task_contexts import client_inputs, endpoint_parameters, tiny_context, tiny_manager

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import LoadRequest, ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import ASSETS, Kind, TaskContext
from apps.shared.clip import ClipEncoder, load_clip
from apps.tasks.image_search import (
    GALLERY_EXAMPLES,
    GALLERY_SIDE,
    MAX_QUERY_CHARS,
    RANKING_COLUMNS,
    ImageRanking,
    RankedImage,
    clean_query,
    collect_gallery,
    gallery_items,
    image_search,
    rank,
    ranking_frame,
)

EXAMPLES = [str(ASSETS / name) for name in SPECS["image_search"].examples]


def kit_folder(models_file: Path, task: str) -> Path:
    return Path(tomllib.loads(models_file.read_text())[task]["model"])


@pytest.fixture(scope="module")
def encoder(tiny_models_file: Path) -> ClipEncoder:
    folder = kit_folder(tiny_models_file, "image_search")
    return load_clip(LoadRequest("image_search", ModelRef(str(folder)), folder, "cpu", "float32", False))


def count_encoded_images(clip: ClipEncoder) -> tuple[list[int], object]:
    """Counts every image that goes through the vision tower (a forward hook on it)."""
    seen: list[int] = []
    hook = clip.model.vision_model.register_forward_hook(
        lambda module, args, kwargs, output: seen.append(int(kwargs["pixel_values"].shape[0])), with_kwargs=True
    )
    return seen, hook


def noise_image(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


# -- pure helpers ---------------------------------------------------------------------------------


def test_clean_query() -> None:
    assert clean_query("  a   red\napple ") == "a red apple"
    for bad, message in [("", "Type what you are looking for"), ("   \n", "Type what"), ("x" * 400, "characters")]:
        with pytest.raises(InputError, match=message):
            clean_query(bad)
    assert len(clean_query("y" * MAX_QUERY_CHARS)) == MAX_QUERY_CHARS


def test_collect_gallery_examples_then_uploads(tmp_path: Path) -> None:
    upload = noise_image(tmp_path / "mine.png", 1)
    gallery = collect_gallery([str(upload), {"path": str(upload)}], True, EXAMPLES, 10**6)
    assert [item.name for item in gallery] == [Path(p).name for p in EXAMPLES] + ["mine.png", "mine.png"]
    only_uploads = collect_gallery([str(upload)], False, EXAMPLES, 10**6)
    assert [item.name for item in only_uploads] == ["mine.png"]


def test_gallery_keeps_small_upright_copies(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 1500), "teal").save(big)
    (item,) = collect_gallery([str(big)], False, EXAMPLES, 10**7)
    assert item.image.size == (GALLERY_SIDE, GALLERY_SIDE // 2) and item.image.mode == "RGB"


def test_empty_gallery_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="gallery is empty"):
        collect_gallery(None, False, EXAMPLES, 10**6)
    with pytest.raises(InputError, match="gallery is empty"):
        collect_gallery([], True, [], 10**6)


def test_corrupt_upload_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(InputError, match=r"Image 6 \(broken.png\): .*not an image"):
        collect_gallery([str(broken)], True, EXAMPLES, 10**6)


def test_rank_is_best_first_and_stable() -> None:
    assert rank(np.array([0.1, 0.9, 0.5, 0.9])) == [1, 3, 2, 0]


# -- the tiny CLIP, directly ----------------------------------------------------------------------


def test_embeddings_match_clip_own_similarities(encoder: ClipEncoder) -> None:
    images = [Image.open(path).convert("RGB") for path in EXAMPLES[:3]]
    texts = ["a stop sign", "a sunset"]
    inputs = encoder.processor(images=images, text=texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = encoder.model(**inputs).logits_per_image.numpy() / encoder.logit_scale
    ours = encoder.embed_images(images) @ encoder.embed_texts(texts).T
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    assert np.allclose(np.linalg.norm(encoder.embed_texts(texts), axis=1), 1.0, atol=1e-5)


def test_embed_images_runs_the_encoder_once_per_distinct_image(encoder: ClipEncoder) -> None:
    encoder.cache.clear()
    seen, hook = count_encoded_images(encoder)
    try:
        red, blue = Image.new("RGB", (40, 40), "red"), Image.new("RGB", (40, 40), "blue")
        first = encoder.embed_images([red, blue, red.copy()])
        assert sum(seen) == 2  # the copy of red has the same pixels: embedded once
        second = encoder.embed_images([blue, red])
        assert sum(seen) == 2
        np.testing.assert_array_equal(second, first[[1, 0]])
    finally:
        hook.remove()


def test_image_embedding_cache_is_a_bounded_lru(encoder: ClipEncoder) -> None:
    small = ClipEncoder(encoder.model, encoder.processor, cache_size=2)
    red, green, blue = (Image.new("RGB", (40, 40), colour) for colour in ("red", "green", "blue"))
    seen, hook = count_encoded_images(small)
    try:
        small.embed_images([red, green])
        small.embed_images([red])  # red is now the most recent
        small.embed_images([blue])  # green, the least recent, falls out
        assert len(small.cache) == 2 and sum(seen) == 3
        small.embed_images([red, blue])
        assert sum(seen) == 3
        small.embed_images([green])
        assert sum(seen) == 4
    finally:
        hook.remove()


def test_search_and_classification_share_one_loaded_model(tiny_models_file: Path) -> None:
    assert SPECS["image_search"].load is SPECS["image_classification"].load
    ref = ModelRef(str(kit_folder(tiny_models_file, "image_search")))
    tasks = ("image_search", "image_classification")
    manager = ModelManager(
        loaders={task: SPECS[task].load for task in tasks},
        selection=ModelSelection(dict.fromkeys(tasks, ref)),
        budget=None,
        device="cpu",
    )
    with manager.use("image_search") as search_model, manager.use("image_classification") as classify_model:
        assert search_model is classify_model
    assert list(manager.load_counts.values()) == [1]
    assert len(manager.snapshot()) == 1


def test_a_model_without_image_and_text_towers_is_refused(tiny_models_file: Path) -> None:
    folder = kit_folder(tiny_models_file, "vqa")  # a BLIP VQA model is not CLIP-style
    with pytest.raises(Exception, match="not a CLIP-style model"):
        load_clip(LoadRequest("image_search", ModelRef(str(folder)), folder, "cpu", "float32", False))


# -- the task function ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tiny_settings: Settings) -> TaskContext:
    return tiny_context("image_search", tiny_settings, tiny_manager(tiny_settings))


def test_image_search_returns_the_gallery_ranked(ctx: TaskContext, tmp_path: Path) -> None:
    upload = noise_image(tmp_path / "noise.png", 3)
    result = image_search(ctx, "  a sunset   over the sea ", [str(upload)], include_examples=True)
    assert isinstance(result, ImageRanking) and result.query == "a sunset over the sea"
    assert all(isinstance(item, RankedImage) for item in result.images)
    assert sorted(item.name for item in result.images) == sorted([*GALLERY_EXAMPLES, "noise.png"])
    assert [item.rank for item in result.images] == list(range(1, len(GALLERY_EXAMPLES) + 2))
    scores = [item.score for item in result.images]
    assert scores == sorted(scores, reverse=True) and all(-1.0 <= score <= 1.0 for score in scores)
    assert all(max(item.image.size) <= GALLERY_SIDE and item.image.mode == "RGB" for item in result.images)


def test_image_search_of_uploads_only(ctx: TaskContext, tmp_path: Path) -> None:
    uploads = [str(noise_image(tmp_path / f"n{i}.png", i)) for i in range(2)]
    result = image_search(ctx, "noise", uploads, include_examples=False)
    assert sorted(item.name for item in result.images) == ["n0.png", "n1.png"]
    with pytest.raises(InputError, match="gallery is empty"):
        image_search(ctx, "noise", [], include_examples=False)


def test_ranking_as_the_tabs_gallery_and_table() -> None:
    ranking = ImageRanking(
        "q",
        [
            RankedImage(1, "a.png", 0.31234, Image.new("RGB", (800, 400))),
            RankedImage(2, "b.png", 0.1, Image.new("RGB", (8, 8))),
        ],
    )
    frame = ranking_frame(ranking)
    assert list(frame.columns) == RANKING_COLUMNS and frame.values.tolist() == [[1, "a.png", 0.3123], [2, "b.png", 0.1]]
    (big, first), (small, second) = gallery_items(ranking)
    assert (first, second) == ("1. a.png · 0.312", "2. b.png · 0.100")
    assert big.size == (384, 192) and small.size == (8, 8)  # thumbnails; small images stay as they are


def test_registry_entry() -> None:
    spec = SPECS["image_search"]
    assert spec.run is image_search and spec.takes == (Kind.TEXT, Kind.IMAGE) and spec.gives == Kind.TABLE
    assert spec.examples == GALLERY_EXAMPLES
    assert [request.api_name for request in spec.requests] == list(spec.api_names)


# -- through the API ------------------------------------------------------------------------------


def test_image_search_through_the_api(client: Client, tmp_path: Path) -> None:
    upload = noise_image(tmp_path / "noise.png", 2)
    gallery, table = client.predict(
        "a sunset over the sea", [handle_file(str(upload))], True, "", api_name="/image_search"
    )
    names = [row[1] for row in table["data"]]
    assert sorted(names) == sorted([Path(p).name for p in EXAMPLES] + ["noise.png"])
    scores = [row[2] for row in table["data"]]
    assert scores == sorted(scores, reverse=True)
    assert [row[0] for row in table["data"]] == list(range(1, len(names) + 1))
    assert len(gallery) == len(names)
    assert gallery[0]["caption"].startswith(f"1. {names[0]} · ")
    assert Path(gallery[0]["image"]).is_file()


def test_reference_request_names_every_parameter_and_runs(client: Client) -> None:
    (request,) = SPECS["image_search"].requests
    assert list(request.inputs) == endpoint_parameters(client, "/image_search")
    gallery, table = client.predict(**client_inputs(request), api_name="/image_search")
    assert len(gallery) == len(table["data"]) == len(EXAMPLES) + 1


def test_the_endpoint_gives_what_the_task_function_does(client: Client, ctx: TaskContext) -> None:
    result = image_search(ctx, "a house with a tree", None, include_examples=True)
    gallery, table = client.predict("a house with a tree", None, True, "", api_name="/image_search")
    assert table["data"] == ranking_frame(result).values.tolist()
    assert [item["caption"] for item in gallery] == [caption for _, caption in gallery_items(result)]


def test_image_search_uploads_only(client: Client, tmp_path: Path) -> None:
    uploads = [handle_file(str(noise_image(tmp_path / f"n{i}.png", i))) for i in range(2)]
    _, table = client.predict("noise", uploads, False, "", api_name="/image_search")
    assert sorted(row[1] for row in table["data"]) == ["n0.png", "n1.png"]


def test_second_search_does_not_embed_the_gallery_again(client: Client, tiny_app, tmp_path: Path) -> None:
    manager = tiny_app[1].manager
    with manager.use("image_search") as clip:  # the very model the app serves (same loader and ref)
        clip.cache.clear()
        seen, hook = count_encoded_images(clip)
    uploads = [handle_file(str(noise_image(tmp_path / "fresh.png", 7)))]
    try:
        client.predict("a stop sign", uploads, True, "", api_name="/image_search")
        assert sum(seen) == len(EXAMPLES) + 1  # every image once
        hits_before = clip.cache.hits
        client.predict("the moon at night", uploads, True, "", api_name="/image_search")
        assert sum(seen) == len(EXAMPLES) + 1  # the second query embedded no image
        assert clip.cache.hits == hits_before + len(EXAMPLES) + 1
    finally:
        hook.remove()


@pytest.mark.parametrize(
    ("query", "uploads", "include", "message"),
    [
        ("", None, True, "Type what you are looking for"),
        ("a cat", None, False, "gallery is empty"),
        ("a cat", [], False, "gallery is empty"),
        ("a cat", "corrupt", True, r"broken.png.*not an image"),
    ],
)
def test_image_search_bad_input_is_a_clear_error(
    client: Client, tmp_path: Path, query: str, uploads, include: bool, message: str
) -> None:
    if uploads == "corrupt":
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
        uploads = [handle_file(str(broken))]
    with pytest.raises(Exception, match=message) as info:
        client.predict(query, uploads, include, "", api_name="/image_search")
    assert "Traceback" not in str(info.value)
    _, table = client.predict("a house", None, True, "", api_name="/image_search")  # still serving
    assert len(table["data"]) == len(EXAMPLES)
