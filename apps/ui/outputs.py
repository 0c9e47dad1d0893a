"""Output components for results that are images or sounds made in memory: safe when requests coincide.

Gradio saves a returned PIL image or (rate, samples) pair into its cache at a path named after the
content, writing the file in place every time. Two requests with the same result (everyone clicking
the same example) then rewrite the file while the first client is still downloading it, and that
download breaks ("peer closed connection without sending complete message body"). These components
write the result once, atomically (a temporary name, then a rename), and hand gradio the path, which it
serves as it is.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image


def cache_bytes(data: bytes, name: str, cache_dir: str | Path) -> str:
    """The path of `data` under `cache_dir/<sha256>/name`, written atomically if it is not there yet."""
    folder = Path(cache_dir) / hashlib.sha256(data).hexdigest()
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(staging, path)  # readers see the whole file or none
    return str(path)


def image_bytes(image: Image.Image | np.ndarray, format: str) -> tuple[bytes, str]:
    """The image encoded as `format` (PNG when that cannot hold it), and the format used."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=format)
    except (KeyError, ValueError, OSError):  # e.g. JPEG cannot hold transparency
        buffer, format = io.BytesIO(), "png"
        image.save(buffer, format=format)
    return buffer.getvalue(), format


def wav_bytes(rate: int, samples: np.ndarray) -> bytes:
    """A WAV file of the samples (16-bit PCM for integers, float otherwise)."""
    import soundfile as sf

    buffer = io.BytesIO()
    subtype = "PCM_16" if np.issubdtype(samples.dtype, np.integer) else "FLOAT"
    sf.write(buffer, samples, int(rate), format="WAV", subtype=subtype)
    return buffer.getvalue()


class ImageOutput(gr.Image):
    """`gr.Image` for results: PIL images and arrays are cached once, atomically (see the module)."""

    is_template = True  # drawn, and described in the API, as a plain gr.Image

    def postprocess(self, value: Any) -> Any:
        if isinstance(value, Image.Image) or (isinstance(value, np.ndarray) and value.dtype == np.uint8):
            data, format = image_bytes(value, self.format or "png")
            value = cache_bytes(data, f"image.{format}", self.GRADIO_CACHE)
        return super().postprocess(value)


class AudioOutput(gr.Audio):
    """`gr.Audio` for results: (rate, samples) pairs are cached once as WAV, atomically (see the module)."""

    is_template = True  # drawn, and described in the API, as a plain gr.Audio

    def postprocess(self, value: Any) -> Any:
        if isinstance(value, tuple) and len(value) == 2 and (self.format or "wav") == "wav":
            rate, samples = value
            value = cache_bytes(wav_bytes(rate, np.asarray(samples)), "audio.wav", self.GRADIO_CACHE)
        return super().postprocess(value)


class GalleryOutput(gr.Gallery):
    """`gr.Gallery` for results: PIL images are cached once, atomically (see the module)."""

    is_template = True  # drawn, and described in the API, as a plain gr.Gallery

    def postprocess(self, value: Any) -> Any:
        def cached(item: Any) -> Any:
            if isinstance(item, Image.Image):
                data, format = image_bytes(item, self.format or "png")
                return cache_bytes(data, f"image.{format}", self.GRADIO_CACHE)
            return item

        if isinstance(value, list):
            value = [(cached(item[0]), *item[1:]) if isinstance(item, tuple | list) else cached(item) for item in value]
        return super().postprocess(value)
