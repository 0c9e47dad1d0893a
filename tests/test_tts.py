"""Text-to-speech: sentence splitting, the task function's Speech, the tiny VITS voice through the API,
a phonemizing voice, bad input."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_inputs import endpoint_parameters, kit_context, send
from gradio_client import Client

from apps import SPECS
from apps.core.errors import InputError, ModelUnavailable
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import Kind, TaskContext
from apps.shared.text import split_sentences, spoken_sentences
from apps.tasks.tts import (
    MAX_SENTENCE_CHARS,
    PAUSE_SECONDS,
    Speech,
    _check_phonemizer,
    _needs_phonemizer,
    check_text,
    load_tts,
    speech_summary,
    synthesize,
)


def tiny_voice_context(folder: Path) -> TaskContext:
    manager = ModelManager(
        loaders={"tts": load_tts}, selection=ModelSelection({"tts": ModelRef(str(folder))}), budget=None, device="cpu"
    )
    return TaskContext(SPECS["tts"], Settings(), manager, SPECS)


# -- pure helpers -------------------------------------------------------------------------------


def test_spoken_sentences_cut_at_sentences_clauses_and_lines() -> None:
    text = "Hello there.  How are you?\nFine!  Thanks;   bye\n\n\nNote: it is 10:30… Done"
    assert spoken_sentences(text, MAX_SENTENCE_CHARS) == [
        "Hello there.",
        "How are you?",
        "Fine!",
        "Thanks;",
        "bye",
        "Note:",
        "it is 10:30…",  # a colon inside a time is no pause; an ellipsis ends a sentence
        "Done",
    ]
    assert spoken_sentences("你好。世界：好", MAX_SENTENCE_CHARS) == ["你好。", "世界：", "好"]
    assert spoken_sentences("   \n  ", MAX_SENTENCE_CHARS) == []


def test_spoken_sentences_are_the_one_splitter_with_clauses() -> None:
    line = "First part; second part. Third: fourth!"
    assert split_sentences(line) == ["First part; second part.", "Third: fourth!"]  # translation, summarization
    assert split_sentences(line, clauses=True) == ["First part;", "second part.", "Third:", "fourth!"]
    assert spoken_sentences(line, MAX_SENTENCE_CHARS) == split_sentences(line, clauses=True)


def test_long_sentences_are_cut_between_words() -> None:
    sentence = ", ".join(["a few words here"] * 60)  # ~1,000 characters, no full stop
    pieces = spoken_sentences(sentence, 100)
    assert all(len(piece) <= 100 for piece in pieces) and len(pieces) >= 10
    assert " ".join(pieces) == sentence  # nothing dropped, every cut at a space
    assert spoken_sentences("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "Enter some text to speak"), ("  \n ", "Enter some"), (None, "text to speak must be text")],
)
def test_check_text_rejects_empty(text: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_text(text, 100)


def test_check_text_rejects_too_long() -> None:
    with pytest.raises(InputError, match="The text to speak is 101 characters long; the limit is 100"):
        check_text("x" * 101, 100)
    assert check_text("  hi  ", 100) == "hi"


# -- the task function, on the tiny VITS voice ---------------------------------------------------


@pytest.fixture(scope="module")
def tts_context(tiny_models_file: Path) -> TaskContext:
    return kit_context(tiny_models_file.parent, "tts")


def test_synthesize_gives_speech(tts_context: TaskContext, tiny_models_file: Path) -> None:
    speech = synthesize(tts_context, "One. Two, three? 日本")
    assert isinstance(speech, Speech) and speech.rate == 16_000
    assert speech.sentences == ["One.", "Two, three?"] and speech.skipped == ["日本"]  # no such letters
    assert speech.model == str(tiny_models_file.parent / "tts")
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert np.isfinite(speech.samples).all() and 0.9 <= float(np.abs(speech.samples).max()) <= 0.951
    assert speech.duration == len(speech.samples) / 16_000 > PAUSE_SECONDS  # two sentences and a pause
    rate, samples = speech.audio  # Kind.AUDIO: what a task that takes audio reads
    assert rate == 16_000 and samples is speech.samples
    assert speech_summary(speech).endswith(f"({speech.duration:.1f} s) of speech at 16,000 Hz.")


def test_the_registry_runs_synthesize(tts_context: TaskContext) -> None:
    spec = SPECS["tts"]
    assert spec.run is synthesize and spec.takes == (Kind.TEXT,) and spec.gives == Kind.AUDIO
    speech = tts_context.run_task("tts", text="Hello world.", model="")
    assert isinstance(speech, Speech) and speech.sentences == ["Hello world."]
    (request,) = spec.requests
    public = [name for name in inspect.signature(synthesize).parameters if name not in ("ctx", "progress")]
    assert request.api_name == "/speak" and list(request.inputs) == public


def test_unspeakable_text_is_a_clear_error(tts_context: TaskContext) -> None:
    with pytest.raises(InputError, match="cannot speak this text: none of its letters"):
        synthesize(tts_context, "日本語。")


def test_the_reference_request_names_every_parameter_and_answers(client: Client) -> None:
    (request,) = SPECS["tts"].requests
    assert endpoint_parameters(client, request.api_name) == list(request.inputs)
    path, info = send(client, request)
    assert sf.info(path).frames > 0 and "of speech at 16,000 Hz" in info


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
    speech = synthesize(ctx, "Hello world. Phonemes come from espeak-ng.")
    assert speech.rate == 16_000 and speech.samples.size > speech.rate * PAUSE_SECONDS
    assert speech.sentences == ["Hello world.", "Phonemes come from espeak-ng."]
    with ctx.use() as pipe:
        assert pipe.tokenizer.phonemize  # the voice really read phonemes
        assert "ə" in pipe.tokenizer.decode(pipe.tokenizer("Hello world")["input_ids"])


def test_phonemizing_voice_without_phonemizer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "phonemizer.backend", None)  # import fails as if not installed
    with pytest.raises(ModelUnavailable, match="install the `phonemizer` package"):
        _check_phonemizer("kakao-enterprise/vits-ljs")


def test_character_voice_needs_no_phonemizer(tiny_models_file: Path) -> None:
    assert not _needs_phonemizer(tiny_models_file.parent / "tts")
