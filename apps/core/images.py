"""Image input for every image tab: open anything PIL reads, fix orientation and mode, downscale.

Results computed on the downscaled working copy (boxes, points, masks) map back to the original's
pixel coordinates through `PreparedImage`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from apps.core.errors import InputError

ImageSource = str | Path | bytes | Image.Image | np.ndarray | dict | None


@dataclass
class PreparedImage:
    """An RGB image at full size plus the working copy models see (downscaled by `scale` ≤ 1)."""

    original: Image.Image
    working: Image.Image
    scale: float

    @property
    def size(self) -> tuple[int, int]:
        return self.original.size

    def to_original_box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) on the working copy → on the original, clipped to the image."""
        width, height = self.original.size
        x0, y0, x1, y1 = (value / self.scale for value in box)
        return (_clip(x0, width), _clip(y0, height), _clip(x1, width), _clip(y1, height))

    def to_working_point(self, x: float, y: float) -> tuple[float, float]:
        return (x * self.scale, y * self.scale)

    def to_original_point(self, x: float, y: float) -> tuple[float, float]:
        return (x / self.scale, y / self.scale)

    def to_original_mask(self, mask: np.ndarray) -> np.ndarray:
        """A boolean mask of the working copy's size, resized to the original's."""
        if mask.shape[:2] == (self.original.height, self.original.width):
            return mask.astype(bool)
        image = Image.fromarray(mask.astype(np.uint8) * 255)
        return np.asarray(image.resize(self.original.size, Image.Resampling.NEAREST)) > 127


def _clip(value: float, limit: int) -> float:
    return float(min(max(value, 0.0), limit))


def open_image(source: ImageSource) -> Image.Image:
    """Open a path, bytes, array, PIL image or Gradio file dict; clear InputError if it is not an image."""
    if source is None or (isinstance(source, str) and not source.strip()):
        raise InputError("No image: upload an image (PNG, JPEG, WebP, …) first.")
    if isinstance(source, dict):
        source = source.get("path") or source.get("url")
        if not source:
            raise InputError("No image: upload an image (PNG, JPEG, WebP, …) first.")
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        try:
            return Image.fromarray(source)
        except (TypeError, ValueError) as exc:
            raise InputError(f"This array is not an image ({exc}).") from None
    try:
        image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()  # decode now, so a truncated file fails here and not inside a model
    except FileNotFoundError:
        raise InputError("The uploaded image could not be found on the server; upload it again.") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise InputError("This file is not an image this app can read; upload a PNG, JPEG or WebP.") from None
        raise InputError(f"This image is too large to open safely ({exc}).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"This image file is damaged or truncated ({exc}); upload another.") from None
    return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Upright RGB: apply EXIF orientation; flatten alpha on white; convert P, L, CMYK, 16-bit, float."""
    with contextlib.suppress(Exception):  # broken EXIF must not cost the user their image
        image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() if array.size and array.max() > 0 else 1.0
        image = Image.fromarray((array / top * 255.0).clip(0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB") if image.mode != "RGB" else image


def downscale(image: Image.Image, max_pixels: int) -> tuple[Image.Image, float]:
    """The image shrunk (aspect kept) to at most `max_pixels`, and the scale applied (≤ 1)."""
    width, height = image.size
    if width * height <= max_pixels:
        return image, 1.0
    scale = (max_pixels / (width * height)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS), size[0] / width


def prepare_image(source: ImageSource, max_pixels: int) -> PreparedImage:
    """Open + RGB + downscale: what every image tab does first."""
    image = open_image(source)
    if image.width == 0 or image.height == 0:
        raise InputError("This image is empty (0 pixels wide or high).")
    rgb = to_rgb(image)
    working, scale = downscale(rgb, max_pixels)
    return PreparedImage(rgb, working, scale)


def image_hash(image: Image.Image) -> str:
    """Content hash of an image's pixels (for caches keyed by image, e.g. embeddings)."""
    digest = hashlib.sha256()
    digest.update(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()
