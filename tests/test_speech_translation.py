"""Speech translation: language checks, voice choice, and the whole chain through the API on tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio_inputs import BAD, GOOD, LONG, SILENCE, make_inputs
from gradio_client import Client, handle_file

from apps import SPECS, VOICES
from apps.core import hub
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.tasks.speech_translation import check_languages, choose_voice, language_defaults, whisper_language
from apps.ui.context import TabContext


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


def tts_context(configured: str, offline: bool) -> TabContext:
    manager = ModelManager(
        loaders={"tts": lambda request: None},
        selection=ModelSelection({"tts": ModelRef(configured)}),
        budget=None,
        device="cpu",
        offline=offline,
    )
    return TabContext(SPECS["tts"], Settings(), manager, SPECS)


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
