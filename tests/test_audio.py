"""Shared audio handling: formats, sample types, channel layouts, resampling, silence, bad input."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_inputs import BAD, GOOD, LONG, SILENCE, make_inputs

from apps.core.audio import (
    format_duration,
    is_silent,
    peak_normalize,
    prepare_audio,
    read_audio,
    resample,
    to_float32,
    to_int16,
    to_mono,
    windows,
)
from apps.core.errors import InputError
from apps.ui.components import AudioInput

MAX_SECONDS = 600.0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("audio"), MAX_SECONDS)


def sine(rate: int, seconds: float, hz: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


@pytest.mark.parametrize("source_rate", [8_000, 11_025, 22_050, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("target_rate", [16_000, 48_000])
@pytest.mark.parametrize("frames", [1, 999, 48_001, 441_037])
def test_resampling_keeps_the_duration_within_one_sample(source_rate: int, target_rate: int, frames: int) -> None:
    samples = np.random.default_rng(frames).uniform(-0.5, 0.5, frames).astype(np.float32)
    out = resample(samples, source_rate, target_rate)
    assert out.dtype == np.float32
    assert abs(len(out) - frames * target_rate / source_rate) <= 1


def test_resampling_keeps_the_pitch() -> None:
    out = resample(sine(44_100, 1.0, hz=1_000), 44_100, 16_000)
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) * 16_000 / len(out) == pytest.approx(1_000, abs=2)


@pytest.mark.parametrize("layout", ["frames-first", "channels-first"])
def test_stereo_becomes_the_mean_of_its_channels(layout: str) -> None:
    left, right = sine(16_000, 0.5), np.zeros(8_000, dtype=np.float32)
    stereo = np.stack([left, right], axis=1 if layout == "frames-first" else 0)
    prepared = prepare_audio((16_000, stereo), 16_000, MAX_SECONDS)
    assert prepared.channels == 2
    assert prepared.samples.shape == (8_000,)
    assert np.allclose(prepared.samples, left / 2, atol=1e-6)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([0, 16_384, -32_768], dtype=np.int16), [0.0, 0.5, -1.0]),
        (np.array([0, 2**30, -(2**31)], dtype=np.int32), [0.0, 0.5, -1.0]),
        (np.array([128, 192, 0], dtype=np.uint8), [0.0, 0.5, -1.0]),
        (np.array([0.0, 0.5, -1.0], dtype=np.float64), [0.0, 0.5, -1.0]),
        (np.array([0.0, 8_192.0, -16_384.0], dtype=np.float32), [0.0, 0.5, -1.0]),  # int-scaled floats
    ],
    ids=["int16", "int32", "uint8", "float64", "loud-float"],
)
def test_sample_types_become_float32_in_range(array: np.ndarray, expected: list[float]) -> None:
    out = to_float32(array)
    assert out.dtype == np.float32
    assert np.allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("name", list(GOOD))
def test_every_format_reads_as_mono_at_the_model_rate(inputs: dict[str, Path], name: str) -> None:
    rate, channels, _, _ = GOOD[name]
    prepared = prepare_audio(str(inputs[name]), 16_000, MAX_SECONDS)
    assert (prepared.rate, prepared.source_rate, prepared.channels) == (16_000, rate, channels)
    assert prepared.samples.ndim == 1 and prepared.samples.dtype == np.float32
    assert prepared.duration == pytest.approx(6.2, abs=0.15)
    assert 0.3 < float(np.abs(prepared.samples).max()) <= 1.0


def test_gradio_numpy_tuple_bytes_and_file_dicts_read_alike(inputs: dict[str, Path]) -> None:
    path = inputs["speech-8k-int16.wav"]
    data, rate = sf.read(path, dtype="int16")
    from_path = prepare_audio(str(path), 16_000, MAX_SECONDS).samples
    for source in ((rate, data), path.read_bytes(), {"path": str(path)}, path):
        assert np.allclose(prepare_audio(source, 16_000, MAX_SECONDS).samples, from_path, atol=1e-4)


def test_three_minutes_read_in_full(inputs: dict[str, Path]) -> None:
    prepared = prepare_audio(str(inputs[LONG]), 16_000, MAX_SECONDS)
    assert prepared.duration == pytest.approx(180.0, abs=1 / 8_000)


def test_digital_silence_is_not_an_error_and_gives_no_nan(inputs: dict[str, Path]) -> None:
    prepared = prepare_audio(str(inputs[SILENCE]), 16_000, MAX_SECONDS)
    assert prepared.is_silent and prepared.duration == pytest.approx(2.0)
    normalized = peak_normalize(prepared.samples)
    assert np.isfinite(normalized).all() and not normalized.any()
    assert peak_normalize(np.zeros(0, dtype=np.float32)).size == 0


def test_peak_normalize_and_int16() -> None:
    loud = peak_normalize(np.array([0.1, -0.2, 0.05], dtype=np.float32), peak=0.9)
    assert float(np.abs(loud).max()) == pytest.approx(0.9)
    assert to_int16(np.array([1.5, -1.5, 0.5], dtype=np.float32)).tolist() == [32767, -32767, 16384]
    assert is_silent(np.full(10, 1e-5, dtype=np.float32)) and not is_silent(np.full(10, 0.01, dtype=np.float32))


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_get_clear_errors(inputs: dict[str, Path], name: str) -> None:
    with pytest.raises(InputError, match=BAD[name]):
        prepare_audio(str(inputs[name]), 16_000, MAX_SECONDS)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "No audio"),
        ("", "No audio"),
        (b"", "No audio"),
        ({}, "No audio"),
        ("/no/such/file.wav", "could not be found"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt garbage", "damaged|not audio"),
        ((16_000, np.zeros(0, dtype=np.int16)), "empty"),
        ((16_000, np.zeros((2, 3, 4))), "1-D"),
        ((16_000, np.array(["a", "b"])), "numbers"),
        ((0, np.zeros(100)), "sample rate"),
        ((16_000, np.array([0.1, np.nan])), "NaN"),
        ((16_000, np.zeros((100, 100))), "samples from channels"),
        ((1_000, np.zeros(int((MAX_SECONDS + 1) * 1_000), dtype=np.int16)), "limit is 10:00"),
        (42, "must be a file"),
    ],
)
def test_bad_sources_get_clear_errors(source: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        prepare_audio(source, 16_000, MAX_SECONDS)  # type: ignore[arg-type]


def test_over_long_files_are_refused_before_decoding(inputs: dict[str, Path], monkeypatch) -> None:
    def never(*args, **kwargs):
        raise AssertionError("decoded a file that is over the limit")

    monkeypatch.setattr(sf.SoundFile, "read", never)
    with pytest.raises(InputError, match="limit is"):
        read_audio(str(inputs["too-long.wav"]), MAX_SECONDS)


def test_windows_cover_everything_and_cut_in_pauses() -> None:
    rate = 1_000
    samples = np.ones(95 * rate, dtype=np.float32)
    samples[27 * rate : 27 * rate + 100] = 0.0  # a pause 27 s in: the first cut should fall there
    spans = windows(samples, rate, seconds=30, search_seconds=5)
    assert spans[0][0] == 0 and spans[-1][1] == len(samples)
    assert all(end == next_start for (_, end), (next_start, _) in pairwise(spans))
    assert all(0 < end - start <= 30 * rate for start, end in spans)
    assert 27 * rate <= spans[0][1] <= 27 * rate + 100
    assert len(spans) == 4
    assert windows(np.zeros(10, dtype=np.float32), rate, 30) == [(0, 10)]
    assert windows(np.zeros(0, dtype=np.float32), rate, 30) == []


def test_to_mono_and_durations() -> None:
    assert to_mono(np.ones((4, 3), dtype=np.float32)).shape == (4,)
    assert format_duration(75.4) == "1:15" and format_duration(3723) == "1:02:03"


def test_audio_input_hands_the_file_over_unopened(tmp_path: Path) -> None:
    from gradio.data_classes import FileData

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    component = AudioInput(label="x")
    assert component.type == "filepath" and component.format is None
    assert component.preprocess(FileData(path=str(broken))) == str(broken)
    assert component.preprocess(None) is None
    assert component.get_block_name() == "audio"  # the browser draws it as gradio's own audio component
    config = component.get_config()  # what the browser gets: gr.Audio's settings, or it cannot draw it
    assert config["label"] == "x" and config["waveform_options"] and config["sources"] == ["upload", "microphone"]
