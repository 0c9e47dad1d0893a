"""Output components cache a result once, atomically: a second identical result never rewrites the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from apps.ui.outputs import AudioOutput, GalleryOutput, ImageOutput, cache_bytes


def test_cache_bytes_writes_once_and_leaves_no_partial_files(tmp_path) -> None:
    first = cache_bytes(b"result", "image.png", tmp_path)
    inode = (tmp_path / first).stat().st_ino
    second = cache_bytes(b"result", "image.png", tmp_path)
    assert first == second and Path(first).read_bytes() == b"result"
    assert (tmp_path / second).stat().st_ino == inode  # not rewritten: a client reading it is never cut off
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == ["image.png"]  # no staging files left
    assert cache_bytes(b"other", "image.png", tmp_path) != first


def test_image_output_caches_pil_images_and_arrays(tmp_path) -> None:
    output = ImageOutput(format="png")
    output.GRADIO_CACHE = str(tmp_path)
    image = Image.new("L", (30, 20), 255)
    first, second = output.postprocess(image), output.postprocess(np.asarray(image))
    assert first.path == second.path and first.path.startswith(str(tmp_path))
    with Image.open(first.path) as saved:
        assert saved.size == (30, 20) and saved.mode == "L"


def test_image_output_falls_back_to_png_when_the_format_cannot_hold_the_image(tmp_path) -> None:
    output = ImageOutput(format="jpeg")
    output.GRADIO_CACHE = str(tmp_path)
    assert output.postprocess(Image.new("RGBA", (8, 8))).path.endswith(".png")  # JPEG has no alpha


def test_audio_output_caches_a_wav(tmp_path) -> None:
    output = AudioOutput(type="numpy", format="wav")
    output.GRADIO_CACHE = str(tmp_path)
    samples = (np.sin(np.arange(1600) / 5) * 20000).astype(np.int16)
    first, second = output.postprocess((16_000, samples)), output.postprocess((16_000, samples))
    assert first.path == second.path
    read, rate = sf.read(first.path, dtype="int16")
    assert rate == 16_000 and np.array_equal(read, samples)


def test_gallery_output_caches_each_image(tmp_path) -> None:
    output = GalleryOutput()
    output.GRADIO_CACHE = str(tmp_path)
    gallery = output.postprocess([(Image.new("RGB", (4, 4), "red"), "red"), (Image.new("RGB", (4, 4), "blue"), "blue")])
    paths = [item.image.path for item in gallery.root]
    assert len(set(paths)) == 2 and all(path.startswith(str(tmp_path)) for path in paths)
    assert [item.caption for item in gallery.root] == ["red", "blue"]
