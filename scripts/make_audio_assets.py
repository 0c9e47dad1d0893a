"""Make the audio tabs' example sounds (assets/audio-*): `python scripts/make_audio_assets.py`.

Speech is spoken by espeak-ng (GPL program; its output is ours), tones and noise are computed with
numpy. Small on purpose, and in different formats, rates and channel counts, as people upload them.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SPEECH = "Open models can listen, speak and translate. This sentence was spoken by a computer."


def speech(path: Path, text: str, voice: str = "en-us", rate: int = 16_000) -> None:
    """espeak-ng reading `text`, as 16-bit mono WAV at `rate`."""
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        samples, source_rate = sf.read(raw, dtype="float32")
    samples = soxr.resample(samples, source_rate, rate)
    sf.write(path, samples / max(1e-9, float(np.abs(samples).max())) * 0.9, rate, subtype="PCM_16")


def chime(path: Path, seconds: float = 2.0, rate: int = 48_000) -> None:
    """A 440 Hz tone with two overtones and a soft decay, stereo (the right channel quieter), FLAC."""
    time = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * 440 * k * time) / k**2 for k in (1, 2, 3)) * np.exp(-1.5 * time)
    tone *= 0.8 / np.abs(tone).max()
    sf.write(path, np.stack([tone, 0.6 * tone], axis=1), rate, subtype="PCM_16", format="FLAC")


def rain(path: Path, seconds: float = 3.0, rate: int = 44_100) -> None:
    """Low-passed random noise with random droplet clicks, mono OGG Vorbis at 44.1 kHz."""
    generator = np.random.default_rng(0)
    noise = generator.normal(0, 1, int(seconds * rate))
    noise = np.convolve(noise, np.ones(8) / 8, mode="same")  # softer, like distant rain
    drops = generator.random(noise.size) < 0.0008
    noise[drops] += generator.normal(0, 6, int(drops.sum()))
    sf.write(path, (0.5 * noise / np.abs(noise).max()).astype(np.float32), rate, format="OGG", subtype="VORBIS")


if __name__ == "__main__":
    speech(ASSETS / "audio-speech-en.wav", SPEECH)
    chime(ASSETS / "audio-chime.flac")
    rain(ASSETS / "audio-rain.ogg")
    for name in ("audio-speech-en.wav", "audio-chime.flac", "audio-rain.ogg"):
        info = sf.info(ASSETS / name)
        print(f"{name}: {info.duration:.1f} s, {info.samplerate} Hz, {info.channels} ch, {info.format}")
