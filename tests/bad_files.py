"""Bad input files for the hardening tests: corrupt, empty, silent, huge, the wrong kind. Written in a second."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

HUGE_SIZE = (2600, 1700)  # 4.4 megapixels: over the default 4,000,000-pixel cap, so it is downscaled
BOMB_SIZE = (20_000, 20_000)  # 400 megapixels: over PIL's decompression-bomb limit


def _png_header_only(path: Path, size: tuple[int, int]) -> None:
    """A PNG whose header claims `size` pixels, with one tiny data chunk: PIL refuses it when opening."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size[0], size[1], 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Write every bad input into `folder`: {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = folder / "whole.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(whole)
    files = {
        "corrupt.png": whole.read_bytes()[: whole.stat().st_size // 2],  # a PNG cut in half
        "not-an-image.png": b"hello, I am text with an image's name\n",
        "corrupt.wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 20,  # a WAV header cut short
        "empty.wav": b"",  # 0 bytes
        "binary.txt": bytes(range(256)) * 8,  # a "text" corpus full of NUL and control bytes
    }
    whole.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    sf.write(folder / "no-frames.wav", np.zeros(0, dtype=np.float32), 16_000)  # a valid WAV of 0 seconds
    sf.write(folder / "silence.wav", np.zeros(16_000, dtype=np.float32), 16_000)  # 1 s of digital silence
    Image.new("RGB", HUGE_SIZE, (120, 30, 200)).save(folder / "huge.png")
    _png_header_only(folder / "bomb.png", BOMB_SIZE)
    return {path.name: path for path in folder.iterdir()}
