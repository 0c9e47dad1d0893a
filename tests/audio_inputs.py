"""Audio files the audio tabs' tests send: every rate, layout and sample type people upload, and bad files.

`make_inputs(folder, max_seconds)` writes them once per test module; names say what each one is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "assets" / "audio-speech-en.wav"

# Good inputs: (rate, channels, soundfile subtype, container).
GOOD = {
    "speech-8k-int16.wav": (8_000, 1, "PCM_16", "WAV"),
    "speech-44k-stereo-float.wav": (44_100, 2, "FLOAT", "WAV"),
    "speech-48k-int32.wav": (48_000, 1, "PCM_32", "WAV"),
    "speech-48k-stereo.flac": (48_000, 2, "PCM_16", "FLAC"),
    "speech-22k.ogg": (22_050, 1, "VORBIS", "OGG"),
    "speech-16k.mp3": (16_000, 1, "MPEG_LAYER_III", "MP3"),
}
LONG = "long-3min-8k.wav"
SILENCE = "silence-48k.wav"
# Bad inputs and the words their error must contain.
BAD = {
    "zero-length.wav": "empty",
    "empty-file.wav": "empty",
    "corrupt.wav": "damaged|not audio",
    "not-audio.wav": "not audio",
    "too-long.wav": "limit is",
}


def speech(rate: int) -> np.ndarray:
    """The espeak-ng example sentence at `rate`, float32 mono."""
    samples, source = sf.read(SPEECH, dtype="float32")
    return soxr.resample(samples, source, rate).astype(np.float32)


def make_inputs(folder: Path, max_seconds: float) -> dict[str, Path]:
    """Write every test input into `folder`; returns name → path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in [*GOOD, LONG, SILENCE, *BAD]}
    for name, (rate, channels, subtype, container) in GOOD.items():
        mono = speech(rate)
        # The second channel is quieter, so a wrong axis order or a dropped channel would show.
        data = np.stack([mono, 0.5 * mono], axis=1) if channels == 2 else mono
        sf.write(paths[name], data, rate, subtype=subtype, format=container)
    # Three minutes: the sentence, then a pause, again and again (8 kHz keeps the upload small).
    sentence = speech(8_000)
    gap = np.zeros(8_000, dtype=np.float32)
    repeats = int(np.ceil(180 * 8_000 / (len(sentence) + len(gap))))
    long = np.tile(np.concatenate([sentence, gap]), repeats)[: 180 * 8_000]
    sf.write(paths[LONG], long, 8_000, subtype="PCM_16")
    sf.write(paths[SILENCE], np.zeros(2 * 48_000, dtype=np.int16), 48_000, subtype="PCM_16")
    sf.write(paths["zero-length.wav"], np.zeros(0, dtype=np.int16), 16_000, subtype="PCM_16")
    paths["empty-file.wav"].write_bytes(b"")
    valid = paths["speech-8k-int16.wav"].read_bytes()
    paths["corrupt.wav"].write_bytes(valid[:12] + bytes(range(256)) * 8)  # RIFF/WAVE, then garbage
    paths["not-audio.wav"].write_bytes(b"This is a text file with a .wav name.\n" * 20)
    # Over the limit by ten seconds, at 1 kHz so the file stays small.
    sf.write(paths["too-long.wav"], np.zeros(int((max_seconds + 10) * 1_000), dtype=np.int16), 1_000)
    return paths
