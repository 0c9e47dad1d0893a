"""Speech recognition: pure helpers, every kind of input through the API, long audio, a multilingual Whisper."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from audio_inputs import BAD, GOOD, LONG, SILENCE, make_inputs
from gradio_client import Client, handle_file

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.tasks.asr import (
    Segment,
    Transcript,
    _call_kwargs,
    _window_segments,
    language_choices,
    language_code,
    load_asr,
    segments_frame,
    summary,
    transcribe,
)
from apps.ui.context import TabContext


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, tiny_settings: Settings) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("asr"), tiny_settings.max_audio_seconds)


def windows_in(info: str) -> int:
    match = re.search(r"in (\d+) window", info)
    assert match, info
    return int(match.group(1))


# -- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [("", None), ("  ", None), (None, None), ("French", "fr"), ("fr", "fr"), ("ENGLISH", "en"), ("Castilian", "es")],
)
def test_language_code(text: str | None, code: str | None) -> None:
    assert language_code(text) == code


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="does not know the language"):
        language_code("Klingon")


def test_language_choices_start_with_detect() -> None:
    choices = language_choices()
    assert choices[0] == ("Detect automatically", "")
    assert ("French", "fr") in choices and len(choices) > 90


def test_window_segments_move_to_audio_time_and_stay_in_the_window() -> None:
    chunks = [
        {"text": " hello", "timestamp": (0.5, 2.0)},
        {"text": "", "timestamp": (2.0, 3.0)},  # nothing said: dropped
        {"text": "world", "timestamp": (3.0, None)},  # no end: the window's end
        {"text": "late", "timestamp": (40.0, 55.0)},  # past the window: clamped
    ]
    segments = _window_segments(chunks, start=30.0, end=60.0)
    assert segments == [Segment(30.5, 32.0, "hello"), Segment(33.0, 60.0, "world"), Segment(60.0, 60.0, "late")]
    frame = segments_frame(segments)
    assert frame.columns.tolist() == ["start", "end", "text"]
    assert frame.iloc[0].tolist() == ["0:30.5", "0:32.0", "hello"]


def fake_pipe(kind: str, multilingual: bool) -> SimpleNamespace:
    generation = SimpleNamespace(is_multilingual=multilingual)
    return SimpleNamespace(type=kind, model=SimpleNamespace(generation_config=generation))


def test_call_kwargs_by_model_kind() -> None:
    multilingual = fake_pipe("seq2seq_whisper", True)
    assert _call_kwargs(multilingual, "fr", "translate", True, "m") == {
        "generate_kwargs": {"task": "translate", "language": "fr"},
        "return_timestamps": True,
    }
    assert _call_kwargs(multilingual, None, "transcribe", False, "m") == {"generate_kwargs": {"task": "transcribe"}}
    english = fake_pipe("seq2seq_whisper", False)
    assert _call_kwargs(english, "en", "transcribe", False, "m") == {}
    for code, task in (("fr", "transcribe"), (None, "translate")):
        with pytest.raises(InputError, match="English only"):
            _call_kwargs(english, code, task, False, "distil-small.en")
    assert _call_kwargs(fake_pipe("ctc", False), None, "transcribe", True, "m") == {"return_timestamps": "word"}
    with pytest.raises(InputError, match="not a Whisper model"):
        _call_kwargs(fake_pipe("ctc", False), "fr", "transcribe", False, "wav2vec2")


def test_summary_says_what_was_heard() -> None:
    heard = Transcript(text="hi", duration=75, windows=3, source_rate=44_100, channels=2)
    assert summary(heard, "transcribe") == (
        "1:15 of audio (2 channel(s) at 44,100 Hz) transcribed in 3 window(s) of up to 30 s."
    )
    assert "silent" in summary(Transcript(text="", duration=2, windows=0, silent=True), "transcribe")
    assert "No speech was recognised" in summary(Transcript(text="", duration=2, windows=1), "translate")


# -- through the API, on the tiny Whisper -------------------------------------------------------


@pytest.mark.parametrize("name", list(GOOD))
def test_every_format_through_the_api(client: Client, inputs: dict[str, Path], name: str) -> None:
    rate, channels, _, _ = GOOD[name]
    text, info, table = client.predict(handle_file(str(inputs[name])), api_name="/transcribe")
    assert text.strip()  # the tiny Whisper always writes something
    assert f"{channels} channel(s) at {rate:,} Hz" in info
    assert windows_in(info) == 1
    assert table["headers"] == ["start", "end", "text"] and table["data"] == []  # no timestamps asked for


def test_timestamps_give_segments_inside_the_audio(client: Client, inputs: dict[str, Path]) -> None:
    _, info, table = client.predict(
        handle_file(str(inputs["speech-48k-stereo.flac"])), "", "transcribe", True, "", api_name="/transcribe"
    )
    assert "2 channel(s) at 48,000 Hz" in info
    assert table["headers"] == ["start", "end", "text"] and table["data"]
    for start, end, text in table["data"]:
        assert re.fullmatch(r"0:0\d\.\d", start) and re.fullmatch(r"0:0\d\.\d", end) and text


def test_three_minutes_are_heard_window_by_window(client: Client, inputs: dict[str, Path]) -> None:
    _, info, table = client.predict(handle_file(str(inputs[LONG])), "", "transcribe", True, "", api_name="/transcribe")
    assert info.startswith("3:00 of audio (1 channel(s) at 8,000 Hz) transcribed in")
    windows = windows_in(info)
    assert 6 <= windows <= 8  # 30 s windows, each cut in a pause of its last 5 s
    short, _, _ = client.predict(handle_file(str(inputs["speech-8k-int16.wav"])), api_name="/transcribe")
    plain, _, _ = client.predict(handle_file(str(inputs[LONG])), api_name="/transcribe")
    assert len(plain) > (windows - 1) * len(short)  # every window's words are in the transcript
    starts = [int(start.split(":")[0]) * 60 + float(start.split(":")[1]) for start, _, _ in table["data"]]
    assert max(starts) > 150  # the last windows were transcribed too, not just the first 30 s


def test_silence_is_reported_not_transcribed(client: Client, inputs: dict[str, Path]) -> None:
    text, info, table = client.predict(handle_file(str(inputs[SILENCE])), api_name="/transcribe")
    assert text == "" and "silent" in info and table["data"] == []


@pytest.mark.parametrize("name", list(BAD))
def test_bad_files_are_clear_errors_and_the_app_keeps_serving(
    client: Client, inputs: dict[str, Path], name: str
) -> None:
    with pytest.raises(Exception, match=BAD[name]) as info:
        client.predict(handle_file(str(inputs[name])), api_name="/transcribe")
    assert "Traceback" not in str(info.value)
    _, summary_text, _ = client.predict(handle_file(str(inputs["speech-8k-int16.wav"])), api_name="/transcribe")
    assert "transcribed in 1 window(s)" in summary_text


@pytest.mark.parametrize(
    ("language", "task", "message"),
    [("French", "transcribe", "English only"), ("", "translate", "English only"), ("Klingon", "transcribe", "know")],
)
def test_english_only_model_refuses_other_languages(
    client: Client, inputs: dict[str, Path], language: str, task: str, message: str
) -> None:
    audio = handle_file(str(inputs["speech-8k-int16.wav"]))
    with pytest.raises(Exception, match=message):
        client.predict(audio, language, task, False, "", api_name="/transcribe")
    _, info, _ = client.predict(audio, "English", "transcribe", False, "", api_name="/transcribe")
    assert "transcribed in 1 window(s)" in info


def test_no_audio_is_a_clear_error(client: Client) -> None:
    with pytest.raises(Exception, match="No audio"):
        client.predict(None, api_name="/transcribe")


# -- a multilingual tiny Whisper, called directly ------------------------------------------------


def test_multilingual_whisper_takes_a_language_and_translates(tmp_path: Path, inputs: dict[str, Path]) -> None:
    from tiny.audio import whisper_checkpoint

    folder = tmp_path / "whisper-multilingual"
    whisper_checkpoint(folder, languages=("en", "fr", "de"))
    manager = ModelManager(
        loaders={"asr": load_asr},
        selection=ModelSelection({"asr": ModelRef(str(folder))}),
        budget=None,
        device="cpu",
    )
    ctx = TabContext(SPECS["asr"], Settings(), manager, SPECS)
    audio = str(inputs["speech-22k.ogg"])
    for language, task, stamps in (("French", "translate", False), ("", "transcribe", True), ("de", "transcribe", 0)):
        result = transcribe(ctx, audio, language, task, bool(stamps))
        assert result.windows == 1 and result.source_rate == 22_050
        assert result.text.strip()
        assert bool(result.segments) == bool(stamps)
