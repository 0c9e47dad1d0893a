"""Shared image handling: every mode to RGB, EXIF orientation, downscaling and mapping back, bad files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from apps.core.errors import InputError
from apps.core.images import image_hash, prepare_image


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (40, 30), (10, 20, 30)),
        Image.new("RGBA", (40, 30), (10, 20, 30, 0)),
        Image.new("LA", (40, 30), (100, 128)),
        Image.new("L", (40, 30), 77),
        Image.new("1", (40, 30), 1),
        Image.new("P", (40, 30), 3),
        Image.new("CMYK", (40, 30), (0, 255, 0, 0)),
        Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16)),
        Image.new("F", (40, 30), 0.5),
    ],
    ids=lambda image: image.mode,
)
def test_every_mode_becomes_rgb(image: Image.Image) -> None:
    prepared = prepare_image(image, max_pixels=10_000)
    assert prepared.original.mode == "RGB"
    assert prepared.original.size == (40, 30)


def test_transparent_pixels_become_white() -> None:
    prepared = prepare_image(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), max_pixels=100)
    assert prepared.original.getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (60, 20), (200, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    data = encode(image, "JPEG", exif=exif)
    assert prepare_image(data, max_pixels=10**6).size == (20, 60)


def test_huge_image_is_downscaled_and_maps_back() -> None:
    image = Image.new("RGB", (6000, 4000), (1, 2, 3))
    prepared = prepare_image(image, max_pixels=1_000_000)
    assert prepared.size == (6000, 4000)
    assert prepared.working.width * prepared.working.height <= 1_000_000
    assert prepared.working.width / prepared.working.height == pytest.approx(1.5, rel=0.01)
    x0, y0, x1, y1 = prepared.to_original_box((0, 0, prepared.working.width, prepared.working.height))
    assert (x0, y0) == (0, 0) and x1 == pytest.approx(6000, abs=1) and y1 == pytest.approx(4000, abs=1)
    assert prepared.to_original_point(*prepared.to_working_point(3000, 2000)) == pytest.approx((3000, 2000))
    mask = np.zeros((prepared.working.height, prepared.working.width), dtype=bool)
    mask[: prepared.working.height // 2] = True
    full = prepared.to_original_mask(mask)
    assert full.shape == (4000, 6000) and full[:1990].all() and not full[2010:].any()


def test_paths_and_gradio_file_dicts_open(tmp_path) -> None:
    path = tmp_path / "x.png"
    Image.new("RGB", (5, 5)).save(path)
    assert prepare_image(str(path), 100).size == (5, 5)
    assert prepare_image({"path": str(path)}, 100).size == (5, 5)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "No image"),
        ("", "No image"),
        (b"this is not an image", "not an image"),
        (encode(Image.new("RGB", (64, 64)))[:60], "damaged or truncated|not an image"),
        (encode(Image.new("RGB", (64, 64)), "JPEG")[:300], "damaged or truncated"),
        ("/no/such/file.png", "could not be found"),
    ],
)
def test_bad_images_get_clear_errors(source: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        prepare_image(source, 1000)  # type: ignore[arg-type]


def test_image_hash_depends_on_pixels_only() -> None:
    a = Image.new("RGB", (8, 8), (1, 2, 3))
    assert image_hash(a) == image_hash(a.copy())
    assert image_hash(a) != image_hash(Image.new("RGB", (8, 8), (1, 2, 4)))
