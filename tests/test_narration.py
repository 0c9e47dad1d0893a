"""Image narration: the sentence (counts, plurals, none), boxes mapped back, DETR without timm, the task
function (speaking through the text-to-speech task), the API."""

from __future__ import annotations

import ast
import dataclasses
import json
from importlib.util import find_spec
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile
from gradio_client import Client, handle_file
from PIL import Image
from task_contexts import client_inputs, endpoint_parameters, tiny_context, tiny_manager
from tiny.vision import DETECTION_LABELS, build_detr, build_rtdetr
from vision_images import corrupt_file, write_variants

from apps import SPECS
from apps.core.errors import InputError, ModelUnavailable
from apps.core.images import prepare_image
from apps.core.manager import LoadRequest, ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import Kind, TaskContext
from apps.tasks import narration
from apps.tasks.narration import (
    COLUMNS,
    NOTHING_SEEN,
    Detection,
    Narration,
    as_speech,
    check_threshold,
    check_timm_backbone,
    count_phrase,
    describe,
    detections_frame,
    draw_detections,
    indefinite_article,
    load_detector,
    narrate,
    plural,
    to_detections,
)
from apps.ui.context import TabContext

# -- the sentence -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "sentence"),
    [
        (["cat", "remote", "cat", "couch"], "In this image there are two cats, a remote and a couch."),
        (["cat"], "In this image there is a cat."),
        (["dog", "cat"], "In this image there is a dog and a cat."),  # ties: in the order given
        (["person"] * 3 + ["bus"] * 2, "In this image there are three people and two buses."),
        (["car"] * 13, "In this image there are 13 cars."),
        (["mouse", "mouse", "apple", "umbrella"], "In this image there are two mice, an apple and an umbrella."),
        (["tv", "tv", "knife"], "In this image there are two TVs and a knife."),
        (
            ["traffic light", "traffic light", "wine glass"],
            "In this image there are two traffic lights and a wine glass.",
        ),
        (["skis", "scissors", "scissors"], "In this image there are two pairs of scissors and a pair of skis."),
        (["potted_plant", "Dining Table"], "In this image there is a potted plant and a dining table."),
        ([], NOTHING_SEEN),
        (["N/A", "n/a"], NOTHING_SEEN),
    ],
)
def test_describe_counts_and_plurals(labels: list[str], sentence: str) -> None:
    assert describe(labels) == sentence


def test_describe_orders_by_count_then_confidence() -> None:
    labels = ["couch", "remote", "cat", "cat"]
    assert describe(labels, [0.6, 0.9, 0.8, 0.7]) == "In this image there are two cats, a remote and a couch."
    assert describe(["couch", "remote"], [0.95, 0.9]) == "In this image there is a couch and a remote."


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("cat", "cats"),
        ("bench", "benches"),
        ("toothbrush", "toothbrushes"),
        ("glass", "glasses"),
        ("box", "boxes"),
        ("baby", "babies"),
        ("key", "keys"),
        ("person", "people"),
        ("sheep", "sheep"),
        ("knife", "knives"),
        ("giraffe", "giraffes"),
        ("hot dog", "hot dogs"),
        ("teddy bear", "teddy bears"),
    ],
)
def test_plural(noun: str, expected: str) -> None:
    assert plural(noun) == expected


@pytest.mark.parametrize(
    ("noun", "article"),
    [
        *[("apple", "an"), ("orange", "an"), ("elephant", "an"), ("umbrella", "an"), ("oven", "an"), ("hour", "an")],
        *[("cat", "a"), ("unicorn", "a"), ("user", "a"), ("one-way sign", "a"), ("hair drier", "a")],
    ],
)
def test_indefinite_article(noun: str, article: str) -> None:
    assert indefinite_article(noun) == article


def test_count_phrase_words_and_digits() -> None:
    assert count_phrase("cat", 1) == "a cat"
    assert count_phrase("cat", 2) == "two cats"
    assert count_phrase("cat", 12) == "twelve cats"
    assert count_phrase("cat", 20) == "20 cats"
    assert count_phrase("skis", 1) == "a pair of skis"


@pytest.mark.parametrize("value", ["x", None, -0.1, 1.5, float("nan")])
def test_check_threshold_rejects(value: object) -> None:
    with pytest.raises(InputError, match="threshold"):
        check_threshold(value)


# -- detections in original coordinates, drawing ---------------------------------------------------


def test_boxes_map_back_to_the_original_image() -> None:
    prepared = prepare_image(Image.new("RGB", (4000, 2000)), max_pixels=1_000_000)
    assert prepared.scale < 1
    raw = [
        {"label": "cat", "score": 0.6, "box": {"xmin": 10, "ymin": 20, "xmax": 100, "ymax": 200}},
        {"label": "N/A", "score": 0.9, "box": {"xmin": 0, "ymin": 0, "xmax": 5, "ymax": 5}},
        {"label": "dog", "score": 0.8, "box": {"xmin": 0, "ymin": 0, "xmax": 10_000, "ymax": 10_000}},
    ]
    detections = to_detections(raw, prepared)
    assert [d.label for d in detections] == ["dog", "cat"]  # best first, placeholder dropped
    assert detections[0].box == (0.0, 0.0, 4000.0, 2000.0)  # clipped to the image
    assert detections[1].box == pytest.approx(
        (10 / prepared.scale, 20 / prepared.scale, 100 / prepared.scale, 200 / prepared.scale)
    )


def test_draw_detections_draws_in_the_label_colour() -> None:
    image = Image.new("RGB", (200, 100), (255, 255, 255))
    drawn = draw_detections(image, [Detection("cat", 0.9, (40, 40, 160, 90))])
    assert drawn.size == image.size and image.getpixel((40, 60)) == (255, 255, 255)  # the input is untouched
    assert drawn.getpixel((40, 60)) != (255, 255, 255)  # the box's left edge
    assert drawn.getpixel((100, 70)) == (255, 255, 255)  # inside the box stays clear


# -- DETR, RT-DETR: which checkpoints load without timm -------------------------------------------


def _request(path: Path, name: str) -> LoadRequest:
    return LoadRequest("narration", ModelRef(name), path, "cpu", "float32", False)


def test_detr_with_transformers_resnet_loads_without_timm(tmp_path: Path) -> None:
    """The layout of facebook/detr-resnet-50@no_timm: legacy config keys, transformers' ResNet backbone."""
    detector = load_detector(_request(build_detr(tmp_path / "detr"), "facebook/detr-resnet-50"))
    found = detector(Image.new("RGB", (64, 48)), threshold=0.0)
    assert found and {item["label"] for item in found} <= set(DETECTION_LABELS)


@pytest.mark.skipif(find_spec("timm") is not None, reason="timm is installed here: a timm backbone would load")
def test_detr_with_timm_backbone_is_refused_clearly(tmp_path: Path) -> None:
    folder = build_detr(tmp_path / "detr", timm_backbone=True)
    with pytest.raises(ModelUnavailable, match=r"timm.*facebook/detr-resnet-50@no_timm"):
        load_detector(_request(folder, "facebook/detr-resnet-50"))


@pytest.mark.skipif(find_spec("timm") is not None, reason="timm is installed here: a timm backbone would load")
@pytest.mark.parametrize(
    ("config", "refused"),
    [
        ({"model_type": "detr"}, True),  # DETR's default backbone is timm's ResNet-50
        ({"model_type": "conditional_detr", "use_timm_backbone": True}, True),
        ({"model_type": "detr", "backbone_config": {"model_type": "timm_backbone"}}, True),
        ({"model_type": "detr", "use_timm_backbone": False, "backbone_config": {"model_type": "resnet"}}, False),
        ({"model_type": "yolos"}, False),
        ({"model_type": "rt_detr", "backbone_config": {"model_type": "rt_detr_resnet"}}, False),
    ],
)
def test_check_timm_backbone(tmp_path: Path, config: dict, refused: bool) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    if refused:
        with pytest.raises(ModelUnavailable, match="timm"):
            check_timm_backbone(tmp_path, "org/model")
    else:
        check_timm_backbone(tmp_path, "org/model")  # no error
    check_timm_backbone(tmp_path / "missing", "org/model")  # no config: the loader reports that


def test_rt_detr_loads(tmp_path: Path) -> None:
    detector = load_detector(_request(build_rtdetr(tmp_path / "rtdetr"), "PekingU/rtdetr_r18vd"))
    assert detector(Image.new("RGB", (80, 60)), threshold=0.0)


def test_registry_lists_detr_at_its_timm_free_revision() -> None:
    cards = {card.id: card for card in SPECS["narration"].cards}
    assert cards["hustvl/yolos-tiny"] is SPECS["narration"].default
    detr = cards["facebook/detr-resnet-50"]
    assert "timm" in detr.note and "no_timm" in detr.note
    assert detr.ref == ModelRef("facebook/detr-resnet-50", revision="no_timm")
    # Picking it by its plain id in the tab runs that revision.
    ctx = TabContext(
        SPECS["narration"],
        Settings(),
        ModelManager(loaders={}, selection=ModelSelection({"narration": SPECS["narration"].default.ref}), device="cpu"),
        SPECS,
    )
    assert ctx.resolve_model("facebook/detr-resnet-50") == detr.ref


# -- the task function ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manager(tiny_settings: Settings) -> ModelManager:
    return tiny_manager(tiny_settings)


@pytest.fixture(scope="module")
def ctx(tiny_settings: Settings, manager: ModelManager) -> TaskContext:
    return tiny_context("narration", tiny_settings, manager)


def with_tts(ctx: TaskContext, run: Any) -> TaskContext:
    """`ctx` in a registry whose text-to-speech task function is `run`."""
    specs = {**ctx.specs, "tts": dataclasses.replace(ctx.specs["tts"], run=run)}
    return TaskContext(ctx.spec, ctx.settings, ctx.manager, specs)


def test_narrate_returns_the_picture_detections_and_sentence(ctx: TaskContext) -> None:
    result = narrate(ctx, "assets/vision-cat.jpg", threshold=0.05, speak=False)
    assert isinstance(result, Narration)
    assert result.image.size == (451, 300) and result.image.mode == "RGB"
    assert result.detections and all(isinstance(d, Detection) for d in result.detections)
    assert [d.score for d in result.detections] == sorted((d.score for d in result.detections), reverse=True)
    for detection in result.detections:
        x0, y0, x1, y1 = detection.box
        assert detection.label in DETECTION_LABELS and 0.05 <= detection.score <= 1
        assert 0 <= x0 <= x1 <= 451 and 0 <= y0 <= y1 <= 300
    assert result.sentence == describe([d.label for d in result.detections], [d.score for d in result.detections])
    assert result.speech is None and result.speech_error == ""
    assert list(detections_frame(result.detections).columns) == COLUMNS


def test_narrate_sees_nothing_above_a_high_threshold(ctx: TaskContext) -> None:
    result = narrate(ctx, "assets/vision-cat.jpg", threshold=0.99, speak=False)
    assert result.detections == [] and result.sentence == NOTHING_SEEN


def test_narrate_speaks_with_the_text_to_speech_task(ctx: TaskContext) -> None:
    """Through the registry's tts task function and the tts task's own configured (tiny) voice."""
    result = narrate(ctx, "assets/vision-cat.jpg", threshold=0.05, speak=True)
    rate, samples = result.speech
    assert rate > 0 and samples.ndim == 1 and len(samples) > rate // 10 and np.abs(samples).max() > 0
    assert result.speech_error == ""
    assert ctx.manager.state_of("tts")["state"] == "loaded"  # the tts task's configured voice spoke


@pytest.mark.parametrize(
    "spoken",
    [SimpleNamespace(rate=8000, samples=np.ones(80, dtype=np.float32)), (8000, np.ones(80, dtype=np.float32))],
    ids=["result-with-rate-and-samples", "rate-samples-pair"],
)
def test_narrate_calls_tts_through_the_task_layer(ctx: TaskContext, spoken: object) -> None:
    calls: list[dict[str, Any]] = []

    def fake_tts(tts_ctx: TaskContext, **kwargs: Any) -> object:
        calls.append({"task": tts_ctx.spec.key, **kwargs})
        return spoken

    result = narrate(with_tts(ctx, fake_tts), "assets/vision-cat.jpg", threshold=0.05, speak=True)
    assert calls == [{"task": "tts", "text": result.sentence, "model": None, "progress": None}]
    rate, samples = result.speech
    assert rate == 8000 and np.array_equal(samples, np.ones(80, dtype=np.float32))
    assert as_speech(spoken)[0] == 8000


def test_speech_that_fails_keeps_the_picture_and_says_why(ctx: TaskContext) -> None:
    def broken_tts(tts_ctx: TaskContext, **kwargs: Any) -> object:
        raise ModelUnavailable("The voice `org/voice` is not cached.")

    result = narrate(with_tts(ctx, broken_tts), "assets/vision-cat.jpg", threshold=0.05, speak=True)
    assert result.speech is None and result.speech_error == "The voice `org/voice` is not cached."
    assert result.sentence.startswith("In this image there") and result.detections


def test_narrate_bad_input_is_an_input_error(ctx: TaskContext) -> None:
    with pytest.raises(InputError, match="threshold"):
        narrate(ctx, "assets/vision-cat.jpg", threshold=1.5, speak=False)
    with pytest.raises(InputError, match="No image"):
        narrate(ctx, None, speak=False)


def test_narration_imports_no_other_task_module() -> None:
    tree = ast.parse(Path(narration.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {name for name in imported if name and name.startswith("apps.tasks")}, imported


def test_registry_entry() -> None:
    spec = SPECS["narration"]
    assert spec.run is narrate and spec.takes == (Kind.IMAGE,) and spec.gives == Kind.TEXT
    assert spec.uses == ("tts",) and SPECS["tts"].run is not None
    assert [request.api_name for request in spec.requests] == list(spec.api_names)


# -- through the API ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, tuple[Path, tuple[int, int]]]:
    return write_variants(tmp_path_factory.mktemp("narration-images"))


def test_narrate_through_the_api(client: Client) -> None:
    picture, sentence, audio, table = client.predict(
        handle_file("assets/vision-cat.jpg"), 0.05, True, "", api_name="/narrate"
    )
    assert Image.open(picture).size == (451, 300)
    assert table["headers"] == ["label", "score", "x0", "y0", "x1", "y1"]
    assert len(table["data"]) >= 1  # random weights: ~0.14 for every box, above 0.05
    labels = [row[0] for row in table["data"]]
    assert set(labels) <= set(DETECTION_LABELS)
    assert sentence == describe(labels, [row[1] for row in table["data"]])
    samples, rate = soundfile.read(audio)
    assert rate > 0 and len(samples) > rate // 10 and np.abs(samples).max() > 0


def test_reference_request_names_every_parameter_and_runs(client: Client) -> None:
    (request,) = SPECS["narration"].requests
    assert list(request.inputs) == endpoint_parameters(client, "/narrate")
    picture, sentence, audio, table = client.predict(**client_inputs(request), api_name="/narrate")
    assert Path(picture).is_file() and sentence.endswith(".") and audio is None
    assert table["headers"] == COLUMNS


def test_the_endpoint_gives_what_the_task_function_does(client: Client, ctx: TaskContext) -> None:
    result = narrate(ctx, "assets/vision-coffee.jpg", threshold=0.05, speak=False)
    _, sentence, _, table = client.predict(
        handle_file("assets/vision-coffee.jpg"), 0.05, False, "", api_name="/narrate"
    )
    assert sentence == result.sentence
    assert table["data"] == detections_frame(result.detections).values.tolist()


def test_narrate_high_threshold_sees_nothing(client: Client) -> None:
    _, sentence, _, table = client.predict(handle_file("assets/vision-cat.jpg"), 0.99, False, "", api_name="/narrate")
    assert sentence == NOTHING_SEEN
    assert table["data"] == []


def test_narrate_without_speech_returns_no_audio(client: Client) -> None:
    _, _, audio, _ = client.predict(handle_file("assets/vision-coffee.jpg"), 0.05, False, "", api_name="/narrate")
    assert audio is None


@pytest.mark.parametrize("name", ["rgb", "rgba", "greyscale", "palette", "cmyk", "exif-rotated", "huge"])
def test_narrate_every_kind_of_image(client: Client, images, name: str) -> None:
    path, (width, height) = images[name]
    picture, sentence, _, table = client.predict(handle_file(str(path)), 0.05, False, "", api_name="/narrate")
    drawn = Image.open(picture)
    if name == "huge":  # the boxes are drawn on the working copy; the table is in original pixels
        assert drawn.width * drawn.height <= 4_000_000 and drawn.width / drawn.height == pytest.approx(1.5, rel=0.01)
    else:
        assert drawn.size == (width, height)
    assert sentence.startswith("In this image there")
    for _, _, x0, y0, x1, y1 in table["data"]:
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
    if name == "huge":
        assert max(row[4] for row in table["data"]) > 1000  # scaled back up, not working-copy pixels


def test_narrate_corrupt_file_is_a_clear_error(client: Client, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"not an image|damaged") as info:
        client.predict(handle_file(str(corrupt_file(tmp_path))), 0.5, False, "", api_name="/narrate")
    assert "Traceback" not in str(info.value)
    _, sentence, _, _ = client.predict(handle_file("assets/vision-shapes.png"), 0.05, False, "", api_name="/narrate")
    assert sentence.startswith("In this image")


def test_narrate_threshold_out_of_range_is_refused(client: Client) -> None:
    with pytest.raises(Exception, match=r"maximum|threshold"):
        client.predict(handle_file("assets/vision-cat.jpg"), 1.5, False, "", api_name="/narrate")
