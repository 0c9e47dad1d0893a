"""Point-prompted segmentation: points, SAM's coordinate frame, the embedding cache, overlays, the task
function's Segmentation, the API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from task_contexts import client_inputs, endpoint_parameters, tiny_context, tiny_manager
from vision_images import corrupt_file, write_variants

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import LoadRequest
from apps.core.refs import ModelRef
from apps.core.settings import Settings
from apps.core.spec import Kind, TaskContext
from apps.tasks.segmentation import (
    MAX_POINTS,
    PointSegmenter,
    Segmentation,
    choose_mask,
    display_copy,
    load_segmenter,
    mask_choices,
    parse_points,
    points_markdown,
    render_overlay,
    segment,
    summary_json,
    summary_markdown,
    to_model_coordinates,
)

# -- pure helpers ---------------------------------------------------------------------------------


def test_parse_points_accepts_lists_json_and_two_numbers() -> None:
    assert parse_points([[10, 20, 1], [30.5, 40, 0]], (100, 50)) == [(10.0, 20.0, 1), (30.5, 40.0, 0)]
    assert parse_points("[[10, 20, 1]]", (100, 50)) == [(10.0, 20.0, 1)]
    assert parse_points([(99, 49)], (100, 50)) == [(99.0, 49.0, 1)]  # [x, y] is an object point
    assert parse_points([[1, 2, 1.0]], (100, 50)) == [(1.0, 2.0, 1)]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "at least one point"),
        (None, "at least one point"),
        ("", "at least one point"),
        ("[[1, 2", "JSON list"),
        ({"x": 1}, "must be a list"),
        ([[100, 10, 1]], r"outside the image.*100×50"),
        ([[10, 50, 1]], "outside the image"),
        ([[-1, 10, 1]], "outside the image"),
        ([[10, 10, 2]], "label 2"),
        ([[10, 10, "+"]], "label"),
        ([[10, 10, 0]], "All points are background"),
        ([[10, 10, 1, 5]], r"\[x, y, label\]"),
        ([[10]], r"\[x, y, label\]"),
        ([["a", 10, 1]], "numeric"),
        ([[float("nan"), 10, 1]], "numeric"),
        ([[True, 10, 1]], "numeric"),
        ([[1, 1, 1]] * (MAX_POINTS + 1), "too many"),
    ],
)
def test_parse_points_rejects(points: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_points(points, (100, 50))


def test_choose_mask() -> None:
    scores = np.array([0.2, 0.9, 0.5])
    assert choose_mask(scores, 0) == 1  # best
    assert choose_mask(scores, None) == 1
    assert choose_mask(scores, 3) == 2
    assert choose_mask(scores, "1") == 0
    for bad in (4, -1, "x"):
        with pytest.raises(InputError, match="mask choice"):
            choose_mask(scores, bad)


def test_mask_choices_show_scores() -> None:
    assert mask_choices(None) == [("Best", 0), ("Mask 1", 1), ("Mask 2", 2), ("Mask 3", 3)]
    assert mask_choices([0.5, 0.25, 0.125]) == [
        ("Best", 0),
        ("Mask 1 · 0.500", 1),
        ("Mask 2 · 0.250", 2),
        ("Mask 3 · 0.125", 3),
    ]


def test_points_and_summary_read_as_tables() -> None:
    assert "none yet" in points_markdown([]) and "click on the object" in summary_markdown(None)
    points = points_markdown([[110, 190, 1], [400, 40.5, 0]])
    assert "| 1 | 110 | 190 | + object |" in points and "| 2 | 400 | 40.5 | − background |" in points
    summary = {"scores": [0.5, 0.9, -0.0001], "mask": 2, "score": 0.9, "area": 0.1234, "points": [], "size": [480, 320]}
    text = summary_markdown(summary)
    assert text.startswith("**Mask 2** of 3 is shown (the best score): score 0.900, covering 12.3% of the 480 × 320")
    assert "| **2 (shown)** | **0.900** |" in text and "| 3 | 0.000 |" in text  # never "-0.000"
    assert "(the best score)" not in summary_markdown({**summary, "mask": 1, "score": 0.5})


def test_display_copy_and_overlay() -> None:
    image = Image.new("RGB", (3000, 1500), (0, 0, 0))
    preview, scale = display_copy(image, side=1000)
    assert preview.size == (1000, 500) and scale == pytest.approx(1 / 3)
    mask = np.zeros((500, 1000), dtype=bool)
    mask[100:300, 200:600] = True
    drawn = render_overlay(preview, mask, [[1200, 600, 1], [2700, 300, 0]], scale)
    assert drawn.size == preview.size
    assert drawn.getpixel((500, 250)) == (16, 79, 140)  # tinted blue inside the mask
    assert drawn.getpixel((800, 400)) == (0, 0, 0)  # untouched outside it
    assert drawn.getpixel((200, 100)) == (255, 255, 255)  # outlined
    assert drawn.getpixel((402, 202)) == (34, 197, 94)  # the + point, at (400, 200) in the preview: green
    assert drawn.getpixel((902, 102)) == (239, 68, 68)  # the − point, at (900, 100): red


# -- the model wrapper: coordinates and the embedding cache ---------------------------------------


@pytest.fixture(scope="module")
def segmenter(tiny_models_file: Path) -> PointSegmenter:
    folder = tiny_models_file.parent / "segmentation"
    return load_segmenter(LoadRequest("segmentation", ModelRef(str(folder)), folder, "cpu", "float32", False))


def test_model_coordinates_match_sam_processor(segmenter: PointSegmenter) -> None:
    image = Image.new("RGB", (451, 300))
    points = [(10.0, 20.0), (450.0, 299.0), (200.5, 150.25)]
    expected = segmenter.processor(images=image, input_points=[[list(p) for p in points]], return_tensors="pt")
    ours = to_model_coordinates(points, (300, 451), segmenter.longest_edge)
    assert np.allclose(np.array(ours), expected["input_points"][0, 0].numpy())


def test_segment_returns_masks_at_the_image_size(segmenter: PointSegmenter) -> None:
    image = Image.new("RGB", (120, 80), (200, 50, 50))
    masks, scores = segmenter.segment(image, [(60, 40), (5, 5)], [1, 0])
    assert masks.dtype == bool and masks.shape == (3, 80, 120)
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_embedding_cache_is_keyed_by_pixels_and_bounded(segmenter: PointSegmenter) -> None:
    images = [Image.new("RGB", (90, 60), (n * 40, 0, 0)) for n in range(segmenter.cache_size + 1)]
    before = segmenter.encoder_runs
    segmenter.segment(images[0], [(10, 10)], [1])
    segmenter.segment(images[0].copy(), [(50, 30), (20, 20)], [1, 0])  # same pixels, another object
    assert segmenter.encoder_runs == before + 1
    for image in images[1:]:  # fills the cache past its size: the first image falls out
        segmenter.segment(image, [(10, 10)], [1])
    assert segmenter.encoder_runs == before + len(images)
    segmenter.segment(images[0], [(10, 10)], [1])
    assert segmenter.encoder_runs == before + len(images) + 1


# -- the task function ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tiny_settings: Settings) -> TaskContext:
    return tiny_context("segmentation", tiny_settings, tiny_manager(tiny_settings))


def test_segment_returns_the_chosen_mask_and_every_score(ctx: TaskContext) -> None:
    points = [[225, 150, 1], [20, 20, 0]]
    result = segment(ctx, "assets/vision-cat.jpg", points)
    assert isinstance(result, Segmentation)
    assert result.mask.dtype == bool and result.mask.shape == (300, 451)
    assert len(result.scores) == 3 and all(isinstance(score, float) for score in result.scores)
    assert result.chosen == int(np.argmax(result.scores)) + 1 and result.score == max(result.scores)
    assert result.area == pytest.approx(result.mask.mean())
    assert result.points == [(225.0, 150.0, 1), (20.0, 20.0, 0)] and result.size == (451, 300)
    second = segment(ctx, "assets/vision-cat.jpg", points, mask_index=2)
    assert second.chosen == 2 and second.scores == result.scores and second.score == result.scores[1]


def test_segment_bad_points_are_input_errors(ctx: TaskContext) -> None:
    with pytest.raises(InputError, match="outside the image"):
        segment(ctx, "assets/vision-cat.jpg", [[451, 10, 1]])
    with pytest.raises(InputError, match="mask choice"):
        segment(ctx, "assets/vision-cat.jpg", [[10, 10, 1]], mask_index=4)


def test_summary_json_is_the_endpoints_summary() -> None:
    mask = np.zeros((4, 8), dtype=bool)
    mask[:2, :2] = True
    result = Segmentation(mask, [0.91234567, -0.00001, 0.5], 1, float(mask.mean()), [(1.25, 2.0, 1)], (8, 4))
    assert summary_json(result) == {
        "scores": [0.9123, 0.0, 0.5],
        "mask": 1,
        "score": 0.9123,
        "area": 0.125,
        "points": [[1.2, 2.0, 1]],
        "size": [8, 4],
    }
    assert str(summary_json(result)["scores"][1]) == "0.0"  # never "-0.0"


def test_registry_entry() -> None:
    spec = SPECS["segmentation"]
    assert spec.run is segment and spec.takes == (Kind.IMAGE, Kind.TABLE) and spec.gives == Kind.IMAGE
    assert [request.api_name for request in spec.requests] == list(spec.api_names)


# -- through the API ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, tuple[Path, tuple[int, int]]]:
    return write_variants(tmp_path_factory.mktemp("segmentation-images"))


def read_mask(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"))


@pytest.mark.parametrize(
    "points",
    [
        [[225, 150, 1]],
        [[225, 150, 1], [100, 100, 1], [300, 200, 1]],
        [[225, 150, 1], [20, 20, 0], [430, 280, 0], [200, 120, 1]],
    ],
    ids=["one", "three", "mixed"],
)
def test_segment_through_the_api(client: Client, points: list) -> None:
    mask_path, summary = client.predict(handle_file("assets/vision-cat.jpg"), points, 0, "", api_name="/segment")
    mask = read_mask(mask_path)
    assert mask.shape == (300, 451)
    assert set(np.unique(mask)) <= {0, 255}
    assert len(summary["scores"]) == 3
    assert summary["mask"] == int(np.argmax(summary["scores"])) + 1
    assert summary["score"] == max(summary["scores"])
    assert summary["points"] == [[float(x), float(y), label] for x, y, label in points]
    assert summary["size"] == [451, 300]
    assert summary["area"] == pytest.approx((mask > 0).mean(), abs=1e-3)


def test_reference_request_names_every_parameter_and_runs(client: Client) -> None:
    (request,) = SPECS["segmentation"].requests
    assert list(request.inputs) == endpoint_parameters(client, "/segment")
    mask_path, summary = client.predict(**client_inputs(request), api_name="/segment")
    assert read_mask(mask_path).shape == (320, 480) and len(summary["scores"]) == 3


def test_the_endpoint_gives_what_the_task_function_does(client: Client, ctx: TaskContext) -> None:
    points = [[225, 150, 1], [430, 280, 0]]
    result = segment(ctx, "assets/vision-cat.jpg", points, 3)
    mask_path, summary = client.predict(handle_file("assets/vision-cat.jpg"), points, 3, "", api_name="/segment")
    assert summary == summary_json(result)
    assert np.array_equal(read_mask(mask_path) > 0, result.mask)


def test_segment_each_candidate_mask(client: Client) -> None:
    points = [[225, 150, 1]]
    results = [
        client.predict(handle_file("assets/vision-shapes.png"), points, choice, "", api_name="/segment")
        for choice in (1, 2, 3)
    ]
    for choice, (_, summary) in enumerate(results, start=1):
        assert summary["mask"] == choice and summary["score"] == summary["scores"][choice - 1]
    assert results[0][1]["scores"] == results[1][1]["scores"] == results[2][1]["scores"]


def test_second_click_on_the_same_image_skips_the_encoder(client: Client, tiny_app) -> None:
    _, demo = tiny_app
    picture = handle_file("assets/vision-coffee.jpg")
    client.predict(picture, [[300, 200, 1]], 0, "", api_name="/segment")
    with demo.manager.use("segmentation") as segmenter:
        runs = segmenter.encoder_runs
    client.predict(picture, [[300, 200, 1], [100, 50, 0]], 0, "", api_name="/segment")
    client.predict(picture, [[300, 200, 1], [100, 50, 0], [310, 210, 1]], 0, "", api_name="/segment")
    with demo.manager.use("segmentation") as segmenter:
        assert segmenter.encoder_runs == runs  # the encoder ran once for this image, on the first call


@pytest.mark.parametrize("name", ["rgb", "rgba", "greyscale", "palette", "cmyk", "exif-rotated", "huge"])
def test_segment_every_kind_of_image(client: Client, images, name: str) -> None:
    path, (width, height) = images[name]
    # The disc's centre, and a background point near the far corner (outside the working copy of
    # the huge image, inside the original: points are in original pixels).
    points = [[width // 2, int(height * 0.52), 1], [width - 2, height - 2, 0]]
    mask_path, summary = client.predict(handle_file(str(path)), points, 0, "", api_name="/segment")
    assert read_mask(mask_path).shape == (height, width)
    assert summary["size"] == [width, height]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "at least one point"),
        ([[451, 10, 1]], "outside the image"),
        ([[10, 300, 1]], "outside the image"),
        ([[10, 10, 0]], "background"),
    ],
)
def test_segment_bad_points_are_clear_errors(client: Client, points: list, message: str) -> None:
    with pytest.raises(Exception, match=message) as info:
        client.predict(handle_file("assets/vision-cat.jpg"), points, 0, "", api_name="/segment")
    assert "Traceback" not in str(info.value)
    _, summary = client.predict(handle_file("assets/vision-cat.jpg"), [[10, 10, 1]], 0, "", api_name="/segment")
    assert len(summary["scores"]) == 3


def test_segment_corrupt_file_is_a_clear_error(client: Client, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"not an image|damaged"):
        client.predict(handle_file(str(corrupt_file(tmp_path))), [[1, 1, 1]], 0, "", api_name="/segment")
