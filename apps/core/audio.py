"""Audio input for every audio tab: read what people upload or record, mono float32 at the model's rate.

Reads anything libsndfile reads (WAV, FLAC, OGG, MP3, …) from a path, bytes or a Gradio file dict,
or a `(sample_rate, array)` tuple as `gr.Audio(type="numpy")` gives; int or float samples, mono or
multi-channel in either axis order. Resampling uses `soxr`: no torchaudio and no ffmpeg binary.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apps.core.errors import InputError

AudioSource = str | Path | bytes | tuple[int, np.ndarray] | dict | None

FORMATS = "WAV, FLAC, OGG or MP3"
MAX_CHANNELS = 32  # more "channels" than this means the array is laid out in some other way
MAX_RATE = 768_000
SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS: quieter than a microphone's own noise


@dataclass(frozen=True)
class PreparedAudio:
    """Mono float32 samples in [-1, 1] at `rate`, and what the input was (its rate and channels)."""

    samples: np.ndarray
    rate: int
    source_rate: int
    channels: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate

    @property
    def is_silent(self) -> bool:
        return is_silent(self.samples)


def format_duration(seconds: float) -> str:
    """`75.4` → `1:15`; hours when needed (`1:02:03`)."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _too_long(seconds: float, max_seconds: float) -> InputError:
    return InputError(
        f"The audio is {format_duration(seconds)} long; the limit is {format_duration(max_seconds)} "
        "(SHOWCASE_MAX_AUDIO_SECONDS). Trim it or upload a shorter clip."
    )


def read_audio(source: AudioSource, max_seconds: float) -> tuple[np.ndarray, int]:
    """Samples as a `(frames, channels)` float32 array and the sample rate; InputError if unreadable.

    Files are measured before they are decoded, so an over-long file is refused without reading it.
    """
    if source is None or (isinstance(source, str | bytes) and not source):
        raise InputError(f"No audio: upload a file ({FORMATS}) or record with the microphone first.")
    if isinstance(source, dict):
        source = source.get("path") or source.get("name")
        if not source:
            raise InputError(f"No audio: upload a file ({FORMATS}) or record with the microphone first.")
    if isinstance(source, tuple | list):
        return _from_array(source, max_seconds)
    if not isinstance(source, str | Path | bytes):
        raise InputError(f"Audio must be a file ({FORMATS}) or a (sample rate, samples) pair.")
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise InputError("The uploaded audio could not be found on the server; upload it again.")
        if path.stat().st_size == 0:
            raise InputError("The audio file is empty (0 bytes); upload another.")
    return _from_file(io.BytesIO(source) if isinstance(source, bytes) else source, max_seconds)


def _from_file(file: str | Path | io.BytesIO, max_seconds: float) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        with sf.SoundFile(file) as sound:
            rate = sound.samplerate
            if sound.frames > 0 and sound.frames / rate > max_seconds:
                raise _too_long(sound.frames / rate, max_seconds)
            data = sound.read(dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        if "format not recognised" in str(exc).lower():
            raise InputError(f"This file is not audio this app can read; upload {FORMATS}.") from None
        raise InputError(f"This audio file is damaged or truncated ({exc.error_string}); upload another.") from None
    except (RuntimeError, ValueError, TypeError) as exc:  # libsndfile failing mid-file, odd headers
        raise InputError(f"This audio file is damaged or truncated ({exc}); upload another.") from None
    return _checked(data, rate, max_seconds)


def _from_array(value: tuple | list, max_seconds: float) -> tuple[np.ndarray, int]:
    if len(value) != 2:
        raise InputError("Audio given as a pair must be (sample rate, samples).")
    rate, array = value
    try:
        rate = int(rate)
        array = np.asarray(array)
    except (TypeError, ValueError):
        raise InputError("Audio given as a pair must be (sample rate, samples).") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError("The audio samples must be numbers.")
    if array.ndim == 0 or array.ndim > 2:
        raise InputError(f"Audio samples must be 1-D (mono) or 2-D (channels), not {array.ndim}-D.")
    array = _frames_first(array) if array.ndim == 2 else array[:, None]
    if rate > 0 and array.shape[0] / rate > max_seconds:
        raise _too_long(array.shape[0] / rate, max_seconds)
    return _checked(to_float32(array), rate, max_seconds)


def _frames_first(array: np.ndarray) -> np.ndarray:
    """A 2-D array as (frames, channels): channels are the short axis (gradio gives (frames, channels))."""
    rows, columns = array.shape
    if columns <= MAX_CHANNELS and (rows >= columns or rows > MAX_CHANNELS):
        return array
    if rows <= MAX_CHANNELS:
        return array.T
    raise InputError(f"Cannot tell samples from channels in a {rows}×{columns} array; use (samples, channels).")


def _checked(data: np.ndarray, rate: int, max_seconds: float) -> tuple[np.ndarray, int]:
    if not 0 < rate <= MAX_RATE:
        raise InputError(f"The sample rate {rate} Hz is not valid; audio needs 1 Hz to {MAX_RATE:,} Hz.")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise InputError("The audio is empty (0 seconds long); record or upload a longer clip.")
    if data.shape[0] / rate > max_seconds:
        raise _too_long(data.shape[0] / rate, max_seconds)
    if not np.isfinite(data).all():
        raise InputError("The audio contains invalid samples (NaN or infinity); upload another file.")
    return data, rate


def to_float32(array: np.ndarray) -> np.ndarray:
    """Samples as float32 in [-1, 1]: ints scaled by their type's range; loud floats by their peak."""
    if array.dtype == bool:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.unsignedinteger):
        half = float(np.iinfo(array.dtype).max // 2 + 1)
        return ((array.astype(np.float64) - half) / half).astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        return (array.astype(np.float64) / -float(np.iinfo(array.dtype).min)).astype(np.float32)
    samples = array.astype(np.float32)
    finite = samples[np.isfinite(samples)]
    peak = float(np.abs(finite).max()) if finite.size else 0.0
    # Floats should already lie in [-1, 1]; larger ones (int-scaled floats) are brought back by their peak.
    return samples / peak if peak > 1.0 else samples


def to_mono(data: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) → (frames,), the mean of the channels."""
    return data if data.ndim == 1 else data.mean(axis=1, dtype=np.float32)


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Samples at `target_rate` (soxr, high quality); the duration is kept to within one sample."""
    if rate == target_rate:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def prepare_audio(source: AudioSource, target_rate: int, max_seconds: float) -> PreparedAudio:
    """Read + mono + resample to the model's rate: what every audio tab does first."""
    data, rate = read_audio(source, max_seconds)
    samples = np.clip(resample(to_mono(data), rate, target_rate), -1.0, 1.0)
    return PreparedAudio(samples, target_rate, rate, data.shape[1])


def is_silent(samples: np.ndarray, threshold: float = SILENCE_PEAK) -> bool:
    """True when no sample reaches `threshold` (digital silence, or nearly)."""
    return samples.size == 0 or float(np.abs(samples).max()) < threshold


def peak_normalize(samples: np.ndarray, peak: float = 0.95) -> np.ndarray:
    """Scale so the loudest sample is `peak`; silence stays silence (no division by zero, no NaN)."""
    loudest = float(np.abs(samples).max()) if samples.size else 0.0
    if loudest < 1e-9:
        return np.zeros_like(samples, dtype=np.float32)
    return (samples * (peak / loudest)).astype(np.float32)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as 16-bit PCM (what a WAV for the browser holds)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def windows(samples: np.ndarray, rate: int, seconds: float, search_seconds: float = 0.0) -> list[tuple[int, int]]:
    """(start, end) sample ranges of at most `seconds` covering all samples, in order, without gaps.

    With `search_seconds`, each cut falls at the quietest 20 ms within the window's last
    `search_seconds`, so words are rarely split between two windows.
    """
    length, size = len(samples), max(1, int(seconds * rate))
    frame = max(1, rate // 50)
    search = min(int(search_seconds * rate), size // 2) // frame * frame
    ranges: list[tuple[int, int]] = []
    start = 0
    while start < length:
        end = min(start + size, length)
        if end < length and search >= 2 * frame:
            region_start = end - search
            energy = np.square(samples[region_start:end].reshape(-1, frame)).mean(axis=1)
            quietest = len(energy) - 1 - int(np.argmin(energy[::-1]))  # ties: the latest, for longer windows
            end = region_start + quietest * frame + frame // 2
        ranges.append((start, end))
        start = end
    return ranges
