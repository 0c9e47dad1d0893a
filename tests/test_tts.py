"""Text-to-speech: sentence splitting, the tiny VITS voice through the API, a phonemizing voice, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client

from apps import SPECS
from apps.core.errors import InputError, ModelUnavailable
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.tasks.tts import (
    PAUSE_SECONDS,
    _check_phonemizer,
    _needs_phonemizer,
    check_text,
    load_tts,
    split_sentences,
    synthesize,
)
from apps.ui.context import TabContext


def tiny_voice_context(folder: Path) -> TabContext:
    manager = ModelManager(
        loaders={"tts": load_tts}, selection=ModelSelection({"tts": ModelRef(str(folder))}), budget=None, device="cpu"
    )
    return TabContext(SPECS["tts"], Settings(), manager, SPECS)


# -- pure helpers -------------------------------------------------------------------------------


def test_split_sentences() -> None:
    text = "Hello there.  How are you?\nFine!  Thanks;   bye\n\n\n"
    assert split_sentences(text) == ["Hello there.", "How are you?", "Fine!", "Thanks;", "bye"]
    assert split_sentences("   \n  ") == []


def test_long_sentences_are_split_at_commas_or_spaces() -> None:
    sentence = ", ".join(["a few words here"] * 60)  # ~1,000 characters, no full stop
    pieces = split_sentences(sentence, max_chars=100)
    assert all(len(piece) <= 100 for piece in pieces)
    assert " ".join(pieces).replace(" ", "") == sentence.replace(" ", "")
    assert split_sentences("x" * 250, max_chars=100) == ["x" * 100, "x" * 100, "x" * 50]


@pytest.mark.parametrize(("text", "message"), [("", "Enter some"), ("  \n ", "Enter some"), (None, "Enter the")])
def test_check_text_rejects_empty(text: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_text(text, 100)


def test_check_text_rejects_too_long() -> None:
    with pytest.raises(InputError, match="limit is 100"):
        check_text("x" * 101, 100)
    assert check_text("  hi  ", 100) == "hi"


# -- through the API, on the tiny VITS voice ------------------------------------------------------


def read_wav(path: str) -> tuple[np.ndarray, int, sf._SoundFileInfo]:
    info = sf.info(path)
    data, rate = sf.read(path, dtype="int16")
    return data, rate, info


def test_speak_returns_a_playable_wav(client: Client) -> None:
    path, info = client.predict("Hello world. This is a test!", "", api_name="/speak")
    assert path.endswith(".wav")
    data, rate, details = read_wav(path)
    assert details.format == "WAV" and details.subtype == "PCM_16" and details.channels == 1
    assert rate == 16_000 and data.ndim == 1
    assert np.abs(data).max() > 1_000  # not silence
    assert f"{rate:,} Hz" in info


def test_more_sentences_make_longer_speech_with_pauses(client: Client) -> None:
    one, _ = client.predict("Hello world.", "", api_name="/speak")
    five, _ = client.predict("Hello world. " * 5, "", api_name="/speak")
    short, rate, _ = read_wav(one)
    long, _, _ = read_wav(five)
    assert len(long) >= 5 * len(short) * 0.5 + 4 * PAUSE_SECONDS * rate  # sentences vary: VITS is random


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Enter some text"),
        ("   ", "Enter some text"),
        ("日本語", "cannot speak this text"),
        ("x" * 50_001, "limit"),
    ],
)
def test_bad_text_is_a_clear_error_and_the_app_keeps_serving(client: Client, text: str, message: str) -> None:
    with pytest.raises(Exception, match=message) as info:
        client.predict(text, "", api_name="/speak")
    assert "Traceback" not in str(info.value)
    path, _ = client.predict("Still here.", "", api_name="/speak")
    assert sf.info(path).frames > 0


def test_synthesize_is_what_other_tabs_call(tiny_models_file: Path) -> None:
    folder = tiny_models_file.parent / "tts"
    rate, waveform = synthesize(tiny_voice_context(folder), "One. Two, three? 日本")
    assert rate == 16_000
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert np.isfinite(waveform).all() and 0.9 <= float(np.abs(waveform).max()) <= 0.951


# -- a voice that reads phonemes (like kakao-enterprise/vits-ljs) -----------------------------------


@pytest.fixture
def phoneme_voice(tiny_models_file: Path, tmp_path: Path) -> Path:
    """The tiny voice, its tokenizer switched to phonemes (espeak-ng through phonemizer)."""
    import shutil

    folder = tmp_path / "vits-phonemes"
    shutil.copytree(tiny_models_file.parent / "tts", folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.update(phonemize=True, tokenizer_class="VitsTokenizer")
    config_path.write_text(json.dumps(config))
    return folder


def test_phonemizing_voice_speaks(phoneme_voice: Path) -> None:
    assert _needs_phonemizer(phoneme_voice)
    ctx = tiny_voice_context(phoneme_voice)
    rate, waveform = synthesize(ctx, "Hello world. Phonemes come from espeak-ng.")
    assert rate == 16_000 and waveform.size > rate * PAUSE_SECONDS
    with ctx.use() as pipe:
        assert pipe.tokenizer.phonemize  # the voice really read phonemes
        assert "ə" in pipe.tokenizer.decode(pipe.tokenizer("Hello world")["input_ids"])


def test_phonemizing_voice_without_phonemizer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "phonemizer.backend", None)  # import fails as if not installed
    with pytest.raises(ModelUnavailable, match="install the `phonemizer` package"):
        _check_phonemizer("kakao-enterprise/vits-ljs")


def test_character_voice_needs_no_phonemizer(tiny_models_file: Path) -> None:
    assert not _needs_phonemizer(tiny_models_file.parent / "tts")
