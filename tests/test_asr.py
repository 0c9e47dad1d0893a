"""Speech recognition: pure helpers, the task function's Transcript, every kind of input through the API,
long audio, a multilingual Whisper."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import soundfile as sf
from audio_inputs import BAD, GOOD, LONG, SILENCE, SPEECH, endpoint_parameters, kit_context, make_inputs, send
from gradio_client import Client, handle_file

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import Kind, TaskContext
from apps.shared.languages import whisper_code
from apps.tasks.asr import (
    Segment,
    Transcript,
    _call_kwargs,
    _window_segments,
    language_choices,
    load_asr,
    segments_frame,
    summary,
    transcribe,
)


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
def test_whisper_code(text: str | None, code: str | None) -> None:
    assert whisper_code(text) == code


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="does not know the language"):
        whisper_code("Klingon")
    with pytest.raises(InputError, match="must be a name or code"):
        whisper_code(42)  # type: ignore[arg-type]


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
    assert summary(heard) == "1:15 of audio (2 channel(s) at 44,100 Hz) transcribed in 3 window(s) of up to 30 s."
    assert "silent" in summary(Transcript(text="", duration=2, windows=0, silent=True))
    nothing = summary(Transcript(text="", duration=2, windows=1, task="translate"))
    assert "translated into English in 1 window(s)" in nothing and "No speech was recognised" in nothing


# -- the task function, on the tiny Whisper --------------------------------------------------------


@pytest.fixture(scope="module")
def asr_context(tiny_models_file: Path) -> TaskContext:
    return kit_context(tiny_models_file.parent, "asr")


def test_transcribe_gives_a_transcript(asr_context: TaskContext, inputs: dict[str, Path]) -> None:
    result = transcribe(asr_context, str(inputs["speech-48k-stereo.flac"]), "English", "transcribe", True)
    assert isinstance(result, Transcript) and result.text.strip() and not result.silent
    assert (result.task, result.language, result.windows) == ("transcribe", "en", 1)
    assert (result.source_rate, result.channels) == (48_000, 2)
    assert result.duration == pytest.approx(sf.info(SPEECH).duration, abs=0.01)  # the asset, resampled
    assert result.segments and all(isinstance(segment, Segment) for segment in result.segments)
    assert all(0 <= s.start <= s.end <= result.duration + 0.01 and s.text for s in result.segments)


def test_transcribe_takes_samples_and_reports_silence(asr_context: TaskContext, inputs: dict[str, Path]) -> None:
    samples, rate = sf.read(inputs["speech-8k-int16.wav"], dtype="float32")
    heard = transcribe(asr_context, (rate, samples))  # Kind.AUDIO as (rate, samples): what TTS gives
    assert heard.text.strip() and heard.segments == [] and heard.source_rate == 8_000
    silent = transcribe(asr_context, str(inputs[SILENCE]))
    assert silent == Transcript(text="", duration=2.0, windows=0, silent=True, source_rate=48_000, channels=1)


def test_the_registry_runs_transcribe(asr_context: TaskContext, inputs: dict[str, Path]) -> None:
    spec = SPECS["asr"]
    assert spec.run is transcribe and spec.takes == (Kind.AUDIO,) and spec.gives == Kind.TEXT
    result = asr_context.run_task("asr", audio=str(inputs["speech-22k.ogg"]), language="", model="")
    assert isinstance(result, Transcript) and result.text.strip()
    (request,) = spec.requests
    public = [name for name in inspect.signature(transcribe).parameters if name not in ("ctx", "progress")]
    assert request.api_name == "/transcribe" and list(request.inputs) == public


def test_the_reference_request_names_every_parameter_and_answers(client: Client) -> None:
    (request,) = SPECS["asr"].requests
    assert endpoint_parameters(client, request.api_name) == list(request.inputs)
    text, info, table = send(client, request)
    assert text.strip() and "0:06 of audio (1 channel(s) at 16,000 Hz) transcribed in 1 window(s)" in info
    assert table["headers"] == ["start", "end", "text"] and table["data"]


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
    ctx = TaskContext(SPECS["asr"], Settings(), manager, SPECS)
    audio = str(inputs["speech-22k.ogg"])
    for language, task, stamps in (("French", "translate", False), ("", "transcribe", True), ("de", "transcribe", 0)):
        result = transcribe(ctx, audio, language, task, bool(stamps))
        assert result.windows == 1 and result.source_rate == 22_050
        assert result.text.strip() and result.task == task and result.language == whisper_code(language)
        assert bool(result.segments) == bool(stamps)
