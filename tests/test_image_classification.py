"""Zero-shot image classification: labels and template validation, CLIP scores, the task function's
ImageLabelScores, the API."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from task_contexts import client_inputs, endpoint_parameters, tiny_context, tiny_manager

from apps import SPECS
from apps.core.errors import InputError
from apps.core.labels import MAX_LABELS
from apps.core.manager import LoadRequest
from apps.core.refs import ModelRef
from apps.core.settings import Settings
from apps.core.spec import Kind, TaskContext
from apps.shared.clip import ClipEncoder, load_clip
from apps.tasks.image_classification import (
    DEFAULT_TEMPLATE,
    ImageLabelScores,
    classify_image,
    classify_images,
    clean_template,
    parse_labels,
    prompts_for,
)

APPLE = "assets/mm-apple.png"


@pytest.fixture(scope="module")
def encoder(tiny_models_file: Path) -> ClipEncoder:
    folder = Path(tomllib.loads(tiny_models_file.read_text())["image_classification"]["model"])
    return load_clip(LoadRequest("image_classification", ModelRef(str(folder)), folder, "cpu", "float32", False))


def test_parse_labels_strips_and_deduplicates() -> None:
    assert parse_labels(" apple ,  green   pear,Apple, car ") == ["apple", "green pear", "car"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least two labels"),
        ("   ", "at least two labels"),
        (None, "at least two labels"),
        ("apple", "at least two different labels"),
        ("apple, Apple, APPLE", "at least two different labels"),
        ("apple,,car", "Label 2 is empty"),
        ("apple, car,", "Label 3 is empty"),
        ("apple, " + "x" * 101, "Label 2 is 101 characters"),
        (", ".join(f"label {n}" for n in range(MAX_LABELS + 1)), "too many"),
    ],
)
def test_parse_labels_rejects_bad_input(text: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_labels(text)


def test_template() -> None:
    assert clean_template("") == clean_template(None) == DEFAULT_TEMPLATE
    assert clean_template("  a  drawing of {} ") == "a drawing of {}"
    assert prompts_for(["cat", "dog"], "a {} here") == ["a cat here", "a dog here"]
    assert prompts_for(["c{a}t"], "a {}") == ["a c{a}t"]  # braces in labels are just text
    for bad in ("a photo", "{} and {}", "x" * 201 + "{}"):
        with pytest.raises(InputError, match="template"):
            clean_template(bad)


def test_scores_match_the_transformers_pipeline(encoder: ClipEncoder) -> None:
    from transformers import ZeroShotImageClassificationPipeline

    image = Image.open(APPLE).convert("RGB")
    labels = ["apple", "car", "house"]
    (ours,) = classify_images(encoder, [image], [prompts_for(labels, "a photo of a {}.")])
    reference = ZeroShotImageClassificationPipeline(
        model=encoder.model, tokenizer=encoder.processor.tokenizer, image_processor=encoder.processor.image_processor
    )(image, candidate_labels=labels, hypothesis_template="a photo of a {}.")
    expected = {row["label"]: row["score"] for row in reference}
    np.testing.assert_allclose(ours, [expected[label] for label in labels], atol=1e-4)
    assert ours.sum() == pytest.approx(1.0)


def test_classify_images_is_a_batch_over_requests(encoder: ClipEncoder) -> None:
    images = [Image.open(APPLE).convert("RGB"), Image.new("RGB", (50, 40), "navy")]
    prompts = [["a cat", "a dog"], ["a dog", "a car", "a tree"]]
    batch = classify_images(encoder, images, prompts)
    alone = [classify_images(encoder, [image], [group])[0] for image, group in zip(images, prompts, strict=True)]
    assert [len(result) for result in batch] == [2, 3]
    for together, single in zip(batch, alone, strict=True):
        np.testing.assert_allclose(together, single, atol=1e-6)


# -- the task function ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tiny_settings: Settings) -> TaskContext:
    return tiny_context("image_classification", tiny_settings, tiny_manager(tiny_settings))


def test_classify_image_returns_scores_best_first(ctx: TaskContext, encoder: ClipEncoder) -> None:
    result = classify_image(ctx, APPLE, "apple, car, house", "a drawing of a {}.")
    assert isinstance(result, ImageLabelScores) and result.template == "a drawing of a {}."
    assert set(result.labels) == {"apple", "car", "house"} and sum(result.scores.values()) == pytest.approx(1.0)
    assert list(result.scores.values()) == sorted(result.scores.values(), reverse=True)
    assert result.best == result.labels[0]
    # The same probabilities as the forward pass on its own (the kit's tiny CLIP, loaded separately).
    (expected,) = classify_images(
        encoder, [Image.open(APPLE).convert("RGB")], [prompts_for(["apple", "car", "house"], "a drawing of a {}.")]
    )
    assert [result.scores[label] for label in ("apple", "car", "house")] == pytest.approx(list(expected), abs=1e-6)


def test_classify_image_default_template(ctx: TaskContext) -> None:
    default = classify_image(ctx, APPLE, "apple, car")
    assert default.template == DEFAULT_TEMPLATE
    assert default == classify_image(ctx, APPLE, "apple, car", DEFAULT_TEMPLATE)


def test_classify_image_bad_labels_are_input_errors(ctx: TaskContext) -> None:
    with pytest.raises(InputError, match="at least two different labels"):
        classify_image(ctx, APPLE, "apple, Apple")


def test_registry_entry() -> None:
    spec = SPECS["image_classification"]
    assert spec.run is classify_image and spec.takes == (Kind.IMAGE, Kind.TEXT) and spec.gives == Kind.LABELS
    assert [request.api_name for request in spec.requests] == list(spec.api_names)


def test_reference_request_names_every_parameter_and_runs(client: Client) -> None:
    (request,) = SPECS["image_classification"].requests
    assert list(request.inputs) == endpoint_parameters(client, "/classify_image")
    result = client.predict(**client_inputs(request), api_name="/classify_image")
    assert {row["label"] for row in result["confidences"]} == {"apple", "banana", "car"}


def test_the_endpoint_gives_what_the_task_function_does(client: Client, ctx: TaskContext) -> None:
    labels, template = "day, night, a city", "a picture taken at {}."
    result = classify_image(ctx, "assets/mm-night-sky.png", labels, template)
    answer = client.predict(handle_file("assets/mm-night-sky.png"), labels, template, "", api_name="/classify_image")
    assert answer["label"] == result.best
    assert [row["label"] for row in answer["confidences"]] == result.labels  # best first, as the result
    assert [row["confidence"] for row in answer["confidences"]] == pytest.approx(list(result.scores.values()))


def test_classify_image_through_the_api(client: Client) -> None:
    result = client.predict(
        handle_file(APPLE), "apple, car, house", "a drawing of a {}.", "", api_name="/classify_image"
    )
    scores = {row["label"]: row["confidence"] for row in result["confidences"]}
    assert set(scores) == {"apple", "car", "house"}
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert result["label"] == max(scores, key=scores.get)


def test_default_template_through_the_api(client: Client) -> None:
    with_default = client.predict(handle_file(APPLE), "apple, car", "", "", api_name="/classify_image")
    explicit = client.predict(handle_file(APPLE), "apple, car", DEFAULT_TEMPLATE, "", api_name="/classify_image")
    assert with_default == explicit


@pytest.mark.parametrize(
    ("image", "labels", "template", "message"),
    [
        (None, "apple, car", "", "No image"),
        (APPLE, "apple", "", "at least two different labels"),
        (APPLE, "apple, apple", "", "at least two different labels"),
        (APPLE, "apple, , car", "", "Label 2 is empty"),
        (APPLE, "apple, car", "no placeholder", "must contain {}"),
        ("corrupt", "apple, car", "", "not an image"),
    ],
)
def test_classify_image_bad_input_is_a_clear_error(
    client: Client, tmp_path: Path, image: str | None, labels: str, template: str, message: str
) -> None:
    if image == "corrupt":
        broken = tmp_path / "broken.jpg"
        broken.write_bytes(b"definitely not a jpeg")
        image = str(broken)
    with pytest.raises(Exception, match=message) as info:
        client.predict(handle_file(image) if image else None, labels, template, "", api_name="/classify_image")
    assert "Traceback" not in str(info.value)
    result = client.predict(handle_file(APPLE), "apple, car", "", "", api_name="/classify_image")  # still serving
    assert len(result["confidences"]) == 2
