"""Speech translation: language checks, voice choice, the staged task function on tiny models and how it
calls the other tasks, and the whole chain through the API."""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from audio_inputs import BAD, GOOD, LONG, SILENCE, endpoint_parameters, kit_context, make_inputs, send
from gradio_client import Client, handle_file

from apps import SPECS, VOICES
from apps.core import hub
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import Kind, TaskContext
from apps.tasks.asr import Transcript
from apps.tasks.speech_translation import (
    SpeechTranslation,
    check_languages,
    choose_voice,
    language_defaults,
    speech_translate,
    whisper_language,
)
from apps.tasks.tts import Speech

ROOT = Path(__file__).resolve().parent.parent
AUDIO_TASKS = ("asr", "tts", "audio_classification", "speech_translation")
# The translation task function's public parameters, as agreed between the tasks that call it.
TRANSLATION_PARAMETERS = {"text", "source_language", "target_language", "engine", "model", "progress"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, tiny_settings: Settings) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("speech-translation"), tiny_settings.max_audio_seconds)


def translate_speech(client: Client, path: Path | str, source: str = "English", target: str = "French") -> tuple:
    return client.predict(handle_file(str(path)), source, target, "", api_name="/speech_translate")


def assert_spoken(wav_path: str) -> None:
    info = sf.info(wav_path)
    samples, _ = sf.read(wav_path, dtype="int16")
    assert info.format == "WAV" and info.channels == 1 and info.frames > 0
    assert np.abs(samples).max() > 1_000


# -- pure helpers -------------------------------------------------------------------------------


def test_check_languages() -> None:
    names = ["English", "French", "German"]
    assert check_languages(" English ", "French", names) == ("English", "French")
    for source, target, message in (
        ("", "French", "Choose the spoken"),
        ("English", None, "Choose the target"),
        ("Klingon", "French", "does not offer “Klingon”"),
        ("English", "English", "are the same"),
    ):
        with pytest.raises(InputError, match=message):
            check_languages(source, target, names)


def test_whisper_language_falls_back_to_detection() -> None:
    assert whisper_language("French") == "fr"
    assert whisper_language("Klingon") == ""


def test_language_defaults() -> None:
    names = ["English", "French", "German"]
    assert language_defaults(names, None, None) == ("English", "French")
    assert language_defaults(names, "German", "German") == ("German", "French")
    assert language_defaults(names, "French", "Welsh") == ("French", "English")
    assert language_defaults(["Welsh"], None, None) == ("Welsh", None)
    assert language_defaults([], None, None) == (None, None)


def tts_context(configured: str, offline: bool) -> TaskContext:
    manager = ModelManager(
        loaders={"tts": lambda request: None},
        selection=ModelSelection({"tts": ModelRef(configured)}),
        budget=None,
        device="cpu",
        offline=offline,
    )
    return TaskContext(SPECS["tts"], Settings(), manager, SPECS)


def test_choose_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    french = VOICES["French"]
    online = tts_context("facebook/mms-tts-eng", offline=False)
    assert choose_voice(online, "French", VOICES) == (
        french.id,
        f"Spoken by [`{french.id}`]({french.url}) (licence CC-BY-NC-4.0).",
    )
    voice, note = choose_voice(tts_context(french.id, offline=True), "French", VOICES)
    assert voice is None and note.startswith("Spoken by")  # the configured voice is the French one
    monkeypatch.setattr(hub, "cached_path", lambda ref: None)
    voice, note = choose_voice(tts_context("facebook/mms-tts-eng", offline=True), "French", VOICES)
    assert voice is None and "not downloaded and the app is offline" in note
    monkeypatch.setattr(hub, "cached_path", lambda ref: Path("/cache"))
    assert choose_voice(tts_context("facebook/mms-tts-eng", offline=True), "French", VOICES)[0] == french.id
    voice, note = choose_voice(online, "Welsh", VOICES)
    assert voice is None and "No Welsh voice is listed" in note


def test_every_voice_is_offered_by_the_tts_tab() -> None:
    tts_cards = {card.id for card in SPECS["tts"].cards}
    assert {card.id for card in VOICES.values()} <= tts_cards  # so they are allowed even without custom models


def test_audio_tasks_import_no_other_task() -> None:
    """Speech translation reaches the other tasks through `ctx.run_task`, never by importing their modules."""
    for key in AUDIO_TASKS:
        tree = ast.parse((ROOT / "apps" / "tasks" / f"{key}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not {name for name in imported if name.startswith("apps.tasks")}, f"{key} imports a task module"


# -- the task function, on the tiny models ---------------------------------------------------------


@pytest.fixture(scope="module")
def chain_context(tiny_models_file: Path) -> TaskContext:
    return kit_context(tiny_models_file.parent, "speech_translation", "asr", "translation", "tts")


def test_speech_translate_yields_each_stage(chain_context: TaskContext, inputs: dict[str, Path]) -> None:
    stages = list(speech_translate(chain_context, str(inputs["speech-22k.ogg"]), "English", "French"))
    assert len(stages) == 3 and all(isinstance(stage, SpeechTranslation) for stage in stages)
    heard, translated, spoken = stages
    assert heard.transcript.strip() and not heard.translation and heard.speech is None and not heard.complete
    assert translated.transcript == heard.transcript and translated.translation.strip() and not translated.complete
    assert spoken.translation == translated.translation and spoken.complete
    assert (spoken.source_language, spoken.target_language) == ("English", "French")
    rate, samples = spoken.speech
    assert rate == 16_000 and samples.dtype == np.float32 and samples.size > 0
    assert spoken.voice == str(chain_context.for_task("tts").configured_model())  # offline: no French voice
    assert "offline" in spoken.voice_note


def test_stages_call_the_other_tasks_through_the_registry(chain_context: TaskContext) -> None:
    """asr, translation and tts are called by their public parameter names, and only their results are used."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}

    def recorder(key: str, answer: Any) -> Any:
        def run(ctx: TaskContext, **kwargs: Any) -> Any:
            calls[key] = (ctx.spec.key, kwargs)
            return answer

        return run

    samples = np.full(800, 0.5, dtype=np.float32)
    specs = {
        **SPECS,
        "asr": replace(SPECS["asr"], run=recorder("asr", Transcript(text="Good morning.", duration=1.0, windows=1))),
        "translation": replace(SPECS["translation"], run=recorder("translation", SimpleNamespace(text="Bonjour."))),
        "tts": replace(SPECS["tts"], run=recorder("tts", Speech(16_000, samples, ["Bonjour."], "a-voice"))),
    }
    ctx = TaskContext(specs["speech_translation"], chain_context.settings, chain_context.manager, specs)
    *_, last = speech_translate(ctx, "speech.wav", "English", "French", asr_model="")
    assert calls["asr"] == ("asr", {"audio": "speech.wav", "language": "en", "model": "", "progress": None})
    assert calls["translation"] == (
        "translation",
        {"text": "Good morning.", "source_language": "English", "target_language": "French", "progress": None},
    )
    assert set(calls["translation"][1]) <= TRANSLATION_PARAMETERS
    assert calls["tts"] == ("tts", {"text": "Bonjour.", "model": None, "progress": None})
    for key in ("asr", "tts"):
        assert set(calls[key][1]) <= set(inspect.signature(SPECS[key].run).parameters)
    assert (last.transcript, last.translation, last.voice) == ("Good morning.", "Bonjour.", "a-voice")
    assert last.speech[0] == 16_000 and last.speech[1] is samples


def test_the_registry_runs_speech_translate(chain_context: TaskContext) -> None:
    spec = SPECS["speech_translation"]
    assert spec.run is speech_translate and spec.takes == (Kind.AUDIO,) and spec.gives == Kind.AUDIO
    (request,) = spec.requests
    public = [name for name in inspect.signature(speech_translate).parameters if name not in ("ctx", "progress")]
    assert request.api_name == "/speech_translate" and list(request.inputs) == public
    inputs = {**request.inputs, "audio": str(request.inputs["audio"].path)}
    *_, last = chain_context.run_task("speech_translation", **inputs)
    assert last.complete and last.transcript and last.translation


def test_the_reference_request_names_every_parameter_and_answers(client: Client) -> None:
    (request,) = SPECS["speech_translation"].requests
    assert endpoint_parameters(client, request.api_name) == list(request.inputs)
    transcript, translated, speech, note = send(client, request)
    assert transcript.strip() and translated.strip() and note
    assert_spoken(speech)


# -- the chain through the API, on the tiny models -----------------------------------------------


@pytest.mark.parametrize("name", list(GOOD))
def test_every_format_is_heard_translated_and_spoken(client: Client, inputs: dict[str, Path], name: str) -> None:
    transcript, translated, speech, note = translate_speech(client, inputs[name])
    assert transcript.strip() and translated.strip()
    assert_spoken(speech)
    assert "offline" in note  # the tiny kit has no French voice: the configured tiny voice speaks


def test_three_minutes_are_heard_in_full(client: Client, inputs: dict[str, Path]) -> None:
    short, _, _, _ = translate_speech(client, inputs["speech-8k-int16.wav"])
    long, translated, speech, _ = translate_speech(client, inputs[LONG])
    assert len(long) > 3 * len(short)  # seven 30 s windows each add their words
    assert translated.strip()
    assert_spoken(speech)


def test_example_asset(client: Client) -> None:
    transcript, translated, speech, _ = translate_speech(client, "assets/audio-speech-en.wav", "English", "German")
    assert transcript and translated
    assert_spoken(speech)


@pytest.mark.parametrize(("name", "message"), [*BAD.items(), (SILENCE, "silent")])
def test_bad_audio_is_a_clear_error_and_the_app_keeps_serving(
    client: Client, inputs: dict[str, Path], name: str, message: str
) -> None:
    with pytest.raises(Exception, match=message) as info:
        translate_speech(client, inputs[name])
    assert "Traceback" not in str(info.value)
    transcript, _, speech, _ = translate_speech(client, inputs["speech-8k-int16.wav"])
    assert transcript and speech


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("English", "English", "are the same"),
        ("Klingon", "French", "does not offer"),
        ("English", "", "Choose the target"),
        ("French", "English", "English only"),  # the configured (tiny) Whisper is English-only
    ],
)
def test_bad_languages_are_clear_errors(
    client: Client, inputs: dict[str, Path], source: str, target: str, message: str
) -> None:
    with pytest.raises(Exception, match=message):
        translate_speech(client, inputs["speech-8k-int16.wav"], source, target)
