"""Depth estimation: colour map, scaling, the 16-bit PNG, DPT-hybrid without timm, the task function's
DepthMap, the API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from task_contexts import client_inputs, endpoint_parameters, tiny_context, tiny_manager
from tiny.vision import build_dpt_hybrid
from vision_images import corrupt_file, write_variants

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import LoadRequest
from apps.core.refs import ModelRef
from apps.core.settings import Settings
from apps.core.spec import Kind, TaskContext
from apps.tasks.depth import (
    INFERNO,
    KEEP_OUTPUTS,
    LUT,
    DepthMap,
    colourise,
    estimate_depth,
    file_stem,
    load_depth_estimator,
    output_folder,
    save_depth_files,
    save_png16,
    to_png16,
    to_unit,
    upscale,
)


def test_colour_lut_runs_from_dark_to_bright() -> None:
    assert LUT.shape == (256, 3) and LUT.dtype == np.uint8
    assert tuple(LUT[0]) == INFERNO[0] and tuple(LUT[-1]) == INFERNO[-1]
    brightness = LUT.astype(float) @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(brightness) > -1.0)  # perceptually ordered: never noticeably darker


def test_to_unit_scales_and_survives_flat_and_broken_maps() -> None:
    unit, low, high = to_unit(np.array([[2.0, 4.0], [6.0, np.nan]]))
    assert (low, high) == (2.0, 6.0)
    assert np.allclose(unit, [[0.0, 0.5], [1.0, 0.0]])
    flat, low, high = to_unit(np.full((3, 3), 7.0))
    assert (low, high) == (7.0, 7.0) and not flat.any()
    empty, _, _ = to_unit(np.full((2, 2), np.inf))
    assert not empty.any()


def test_colourise_and_upscale() -> None:
    depth16 = to_png16(np.linspace(0, 1, 12).reshape(3, 4))
    assert depth16.mode == "I;16" and depth16.size == (4, 3)
    assert np.asarray(depth16)[0, 0] == 0 and np.asarray(depth16)[2, 3] == 65535
    image = colourise(depth16)
    assert image.mode == "RGB" and image.size == (4, 3)
    assert image.getpixel((0, 0)) == INFERNO[0] and image.getpixel((3, 2)) == INFERNO[-1]
    bigger = upscale(depth16, (40, 30))
    assert bigger.size == (40, 30) and bigger.mode == "I;16"
    pixels = np.asarray(bigger)
    assert pixels.min() == 0 and pixels.max() == 65535  # bilinear stays within the range, in 16 bits
    assert len(np.unique(pixels)) > 12 and np.any(pixels % 257)  # new values in between, not 8-bit steps
    assert upscale(depth16, (4, 3)) is depth16


def test_png16_round_trip(tmp_path: Path) -> None:
    raw = np.linspace(-3.0, 5.0, 200 * 100).reshape(100, 200)
    unit, low, high = to_unit(raw)
    path = save_png16(to_png16(unit), low, high, tmp_path / "depth.png")
    image = Image.open(path)
    assert image.size == (200, 100) and image.mode.startswith("I")
    pixels = np.asarray(image).astype(np.float64)
    assert pixels.min() == 0 and pixels.max() == 65535
    low, high = float(image.text["depth_min"]), float(image.text["depth_max"])
    recovered = low + pixels / 65535 * (high - low)
    assert np.abs(recovered - raw).max() < (5.0 + 3.0) / 65535


def test_output_files_are_named_after_the_input_and_pruned() -> None:
    assert file_stem("/some/where/My photo!.jpg") == "My_photo_"
    assert file_stem(b"bytes") == "image"
    folders = [output_folder() for _ in range(KEEP_OUTPUTS + 4)]
    assert all(folder.is_dir() for folder in folders[-KEEP_OUTPUTS + 1 :])
    assert len([p for p in folders[0].parent.iterdir() if p.is_dir()]) <= KEEP_OUTPUTS
    assert not folders[0].exists()


def test_dpt_hybrid_loads_without_timm(tmp_path: Path) -> None:
    """Intel/dpt-hybrid-midas is a ViT on transformers' own BiT backbone."""
    folder = build_dpt_hybrid(tmp_path / "dpt")
    estimator = load_depth_estimator(LoadRequest("depth", ModelRef(str(folder)), folder, "cpu", "float32", False))
    predicted = estimator(Image.new("RGB", (90, 60)))["predicted_depth"]
    assert tuple(predicted.shape[-2:]) == (60, 90)


# -- the task function ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tiny_settings: Settings) -> TaskContext:
    return tiny_context("depth", tiny_settings, tiny_manager(tiny_settings))


def test_estimate_depth_returns_a_depth_map_at_the_input_size(ctx: TaskContext) -> None:
    result = estimate_depth(ctx, "assets/vision-street.png")
    assert isinstance(result, DepthMap) and result.name == "vision-street"
    assert result.image.size == result.depth16.size == (480, 320)
    assert result.image.mode == "RGB" and result.depth16.mode == "I;16"
    assert result.image.tobytes() == colourise(result.depth16).tobytes()
    values = result.values()
    assert values.shape == (320, 480) and result.depth_min < result.depth_max
    assert values.min() == pytest.approx(result.depth_min) and values.max() == pytest.approx(result.depth_max)


def test_depth_files_hold_the_depth_map(ctx: TaskContext) -> None:
    result = estimate_depth(ctx, "assets/vision-coffee.jpg")
    coloured, raw = save_depth_files(result)
    assert Path(coloured).name == "vision-coffee-depth.png" and Path(raw).name == "vision-coffee-depth16.png"
    assert Image.open(coloured).tobytes() == result.image.tobytes()
    saved = Image.open(raw)
    assert float(saved.text["depth_min"]) == result.depth_min and float(saved.text["depth_max"]) == result.depth_max
    assert np.array_equal(np.asarray(saved), np.asarray(result.depth16))


def test_estimate_depth_without_an_image_is_an_input_error(ctx: TaskContext) -> None:
    with pytest.raises(InputError, match="No image"):
        estimate_depth(ctx, None)


def test_registry_entry() -> None:
    spec = SPECS["depth"]
    assert spec.run is estimate_depth and spec.takes == (Kind.IMAGE,) and spec.gives == Kind.IMAGE
    assert [request.api_name for request in spec.requests] == list(spec.api_names)


# -- through the API ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, tuple[Path, tuple[int, int]]]:
    return write_variants(tmp_path_factory.mktemp("depth-images"))


def check_outputs(coloured: str, raw: str, size: tuple[int, int]) -> None:
    image = Image.open(coloured)
    assert image.size == size and image.mode == "RGB"
    depth = Image.open(raw)
    assert depth.size == size and depth.mode.startswith("I")
    assert Path(raw).suffix == ".png" and {"depth_min", "depth_max"} <= set(depth.text)
    assert np.asarray(depth).max() <= 65535


def test_depth_through_the_api(client: Client) -> None:
    coloured, raw = client.predict(handle_file("assets/vision-street.png"), "", api_name="/depth")
    check_outputs(coloured, raw, (480, 320))
    assert Path(raw).name == "vision-street-depth16.png" and Path(coloured).name == "vision-street-depth.png"
    colours = {tuple(c) for c in np.asarray(Image.open(coloured)).reshape(-1, 3)[::97]}
    assert len(colours) > 1  # a map, not a flat image (random weights still vary across the picture)


def test_reference_request_names_every_parameter_and_runs(client: Client) -> None:
    (request,) = SPECS["depth"].requests
    assert list(request.inputs) == endpoint_parameters(client, "/depth")
    coloured, raw = client.predict(**client_inputs(request), api_name="/depth")
    check_outputs(coloured, raw, (480, 320))


def test_the_endpoint_gives_what_the_task_function_does(client: Client, ctx: TaskContext) -> None:
    result = estimate_depth(ctx, "assets/vision-cat.jpg")
    coloured, raw = client.predict(handle_file("assets/vision-cat.jpg"), "", api_name="/depth")
    assert np.array_equal(np.asarray(Image.open(raw)), np.asarray(result.depth16))
    assert Image.open(coloured).convert("RGB").tobytes() == result.image.tobytes()


@pytest.mark.parametrize("name", ["rgb", "rgba", "greyscale", "palette", "cmyk", "exif-rotated", "huge"])
def test_depth_every_kind_of_image(client: Client, images, name: str) -> None:
    path, size = images[name]
    coloured, raw = client.predict(handle_file(str(path)), "", api_name="/depth")
    check_outputs(coloured, raw, size)


def test_depth_corrupt_file_is_a_clear_error(client: Client, tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"not an image|damaged") as info:
        client.predict(handle_file(str(corrupt_file(tmp_path))), "", api_name="/depth")
    assert "Traceback" not in str(info.value)
    coloured, raw = client.predict(handle_file("assets/vision-shapes.png"), "", api_name="/depth")
    check_outputs(coloured, raw, (480, 320))
