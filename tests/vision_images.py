"""Test images for the vision tabs: every mode `prepare_image` handles, EXIF rotation, a huge photo, bad files.

Each image is a simple scene (sky, ground, a red disc) so models see some structure; sizes are the
upright sizes the tabs must answer with.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

BASE_SIZE = (160, 120)
HUGE_SIZE = (6000, 4000)


def scene(size: tuple[int, int] = BASE_SIZE) -> Image.Image:
    """Sky over ground with a red disc: RGB."""
    width, height = size
    image = Image.new("RGB", size, (140, 190, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, height * 0.6, width, height], fill=(90, 140, 70))
    draw.ellipse([width * 0.35, height * 0.3, width * 0.65, height * 0.75], fill=(210, 40, 40))
    return image


def write_variants(folder: Path) -> dict[str, tuple[Path, tuple[int, int]]]:
    """{name: (file, upright (width, height))} for RGB, RGBA, greyscale, palette, CMYK, EXIF-rotated, huge."""
    folder.mkdir(parents=True, exist_ok=True)
    base = scene()
    variants: dict[str, tuple[Path, tuple[int, int]]] = {}

    def save(name: str, image: Image.Image, size: tuple[int, int], **kwargs) -> None:
        path = folder / name
        image.save(path, **kwargs)
        variants[path.stem] = (path, size)

    save("rgb.png", base, BASE_SIZE)
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(BASE_SIZE))
    save("rgba.png", rgba, BASE_SIZE)
    save("greyscale.png", base.convert("L"), BASE_SIZE)
    save("palette.png", base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), BASE_SIZE)
    save("cmyk.jpg", base.convert("CMYK"), BASE_SIZE, quality=90)
    # Stored landscape, shown portrait: orientation 6 means "rotate 90° clockwise to display".
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif-rotated.jpg", base, (BASE_SIZE[1], BASE_SIZE[0]), quality=90, exif=exif)
    save("huge.jpg", scene(HUGE_SIZE), HUGE_SIZE, quality=70)
    return variants


def corrupt_file(folder: Path) -> Path:
    """A file named .png whose bytes are not an image."""
    path = folder / "corrupt.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8)))
    return path


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
