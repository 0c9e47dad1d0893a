"""Browser: the audio tabs driven by clicking, with uploaded assets and a (fake) microphone recording."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import browser, open_tab, page  # noqa: F401

pytestmark = pytest.mark.browser

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def upload(panel, name: str) -> None:
    """Put an asset into the tab's audio input and wait until the player shows it."""
    panel.locator('input[type="file"]').first.set_input_files(str(ASSETS / name))
    panel.get_by_role("button", name="Clear").first.wait_for(timeout=30_000)


def test_transcribe_an_uploaded_file(page, output_dir: Path) -> None:  # noqa: F811
    panel = open_tab(page, "asr")
    upload(panel, "audio-speech-en.wav")
    panel.get_by_role("button", name="Transcribe", exact=True).click()
    info = page.locator("#asr-info")
    info.get_by_text("transcribed in 1 window(s)").wait_for(timeout=60_000)
    assert "0:06 of audio (1 channel(s) at 16,000 Hz)" in info.inner_text()
    assert page.locator("#asr-text textarea").input_value().strip()
    page.screenshot(path=str(output_dir / "asr.png"), full_page=True)
    assert page.errors == []


def test_speak_gives_a_player_with_download(page, output_dir: Path) -> None:  # noqa: F811
    panel = open_tab(page, "tts")
    panel.get_by_label("Text").fill("Hello there. This is a test of the speech tab!")
    panel.get_by_role("button", name="Speak", exact=True).click()
    page.locator("#tts-info").get_by_text("of speech at 16,000 Hz").wait_for(timeout=60_000)
    panel.get_by_role("button", name="Download").first.wait_for(timeout=10_000)
    panel.get_by_role("button", name="Play").first.wait_for(timeout=10_000)
    page.screenshot(path=str(output_dir / "tts.png"), full_page=True)
    assert page.errors == []


def test_classify_an_uploaded_sound(page, output_dir: Path) -> None:  # noqa: F811
    panel = open_tab(page, "audio_classification")
    upload(panel, "audio-chime.flac")
    panel.get_by_label("Candidate labels (comma-separated)").fill("a chime, rain, a voice")
    panel.get_by_role("button", name="Classify", exact=True).click()
    scores = page.locator("#audio-classification-scores")
    scores.get_by_text("rain").first.wait_for(timeout=60_000)
    text = scores.inner_text()
    assert all(label in text for label in ("a chime", "rain", "a voice"))
    page.screenshot(path=str(output_dir / "audio_classification.png"), full_page=True)
    assert page.errors == []


def test_translate_uploaded_speech(page, output_dir: Path) -> None:  # noqa: F811
    panel = open_tab(page, "speech_translation")
    upload(panel, "audio-speech-en.wav")
    panel.get_by_role("button", name="Translate speech", exact=True).click()
    page.locator("#speech-translation-voice").get_by_text("speaks").wait_for(timeout=120_000)
    assert page.locator("#speech-translation-transcript textarea").input_value().strip()
    assert page.locator("#speech-translation-text textarea").input_value().strip()
    panel.get_by_role("button", name="Play").first.wait_for(timeout=10_000)
    page.screenshot(path=str(output_dir / "speech_translation.png"), full_page=True)
    assert page.errors == []


def test_a_microphone_recording_is_transcribed(page, output_dir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    recorder = page  # its browser has a fake microphone (test_browser.FLAGS), allowed without asking
    panel = open_tab(recorder, "asr")
    panel.get_by_role("button", name="Record audio").click()
    panel.get_by_role("button", name="Record", exact=True).click()
    panel.get_by_role("button", name="Stop", exact=True).wait_for(timeout=10_000)
    recorder.wait_for_timeout(2_000)
    panel.get_by_role("button", name="Stop", exact=True).click()
    panel.get_by_role("button", name="Play").first.wait_for(timeout=10_000)  # the recording is in the player
    info = recorder.locator("#asr-info")
    before = info.inner_text()  # the page may show an earlier test's transcription of a 6 s file
    panel.get_by_role("button", name="Transcribe", exact=True).click()
    expect(info).not_to_have_text(before, timeout=60_000)
    expect(info).to_contain_text("transcribed in 1 window(s)")
    assert "1 channel(s)" in info.inner_text()  # gradio sent the recording as a WAV our helper read
    assert not info.inner_text().startswith("0:06")  # the ~2 s recording, not the earlier upload
    recorder.screenshot(path=str(output_dir / "asr-microphone.png"), full_page=True)
    assert recorder.errors == []
