"""Speech translation: speech → transcript → translation → speech, built from the other tabs' functions.

Each stage is another tab's own function (speech recognition, translation, text-to-speech) called with
that tab's context, so each uses its configured model; this module only chains them and picks a voice
that speaks the target language.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr
import numpy as np

from apps.core import hub
from apps.core.audio import AudioSource, to_int16
from apps.core.errors import InputError
from apps.core.spec import ModelCard
from apps.shared.voices import VOICES
from apps.tasks import asr, translation, tts
from apps.ui.components import AudioInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_choices, model_header
from apps.ui.outputs import AudioOutput


@dataclass(frozen=True)
class SpeechTranslation:
    """What each stage produced so far: the transcript, its translation, the spoken translation."""

    transcript: str = ""
    translation: str = ""
    speech: tuple[int, np.ndarray] | None = None
    voice_note: str = ""


def registry_voices() -> Mapping[str, ModelCard]:
    """The text-to-speech voice per language (apps/shared/voices.py)."""
    return VOICES


def check_languages(source: str | None, target: str | None, names: list[str]) -> tuple[str, str]:
    """Source and target as given, if the translation model offers both and they differ."""
    if not all(isinstance(name, str | None) for name in (source, target)):
        raise InputError("The languages must be names from the list, such as “English” or “French”.")
    source, target = (source or "").strip(), (target or "").strip()
    for side, name in (("spoken (source)", source), ("target", target)):
        if not name:
            raise InputError(f"Choose the {side} language.")
        if name not in names:
            raise InputError(f"The translation model does not offer “{name}” as the {side} language.")
    if source == target:
        raise InputError("The spoken and target languages are the same: choose another target language.")
    return source, target


def whisper_language(name: str) -> str:
    """Whisper's code for a language name, or "" (detect) when Whisper does not know that name."""
    try:
        return asr.language_code(name) or ""
    except InputError:
        return ""


def choose_voice(tts_ctx: TabContext, language: str, voices: Mapping[str, ModelCard]) -> tuple[str | None, str]:
    """The TTS model for `language` (None = the TTS tab's configured one) and a note naming the voice.

    The language's own voice speaks when it is configured, cached, or can be downloaded; offline
    without it, or for a language with no voice listed, the configured voice speaks and the note says so.
    """
    configured = tts_ctx.configured_model()
    card = voices.get(language)
    if card is None:
        return None, (
            f"No {language} voice is listed, so the configured voice `{configured.name}` speaks; it may not "
            f"pronounce {language} well."
        )
    spoken_by = f"Spoken by [`{card.id}`]({card.url}) (licence {card.licence})."
    if card.ref.source == configured.source:
        return None, spoken_by
    if tts_ctx.manager.offline and hub.cached_path(card.ref) is None:
        return None, (
            f"The {language} voice `{card.id}` is not downloaded and the app is offline, so the configured "
            f"voice `{configured.name}` speaks instead."
        )
    return card.id, spoken_by


def speech_translate(
    ctx: TabContext,
    audio: AudioSource,
    source_language: str,
    target_language: str,
    asr_model: str | None = None,
    progress: Any = None,
) -> Iterator[SpeechTranslation]:
    """Hear, translate, speak: yields the result after each stage (the last one is complete)."""
    translation_ctx, tts_ctx = ctx.for_task("translation"), ctx.for_task("tts")
    source, target = check_languages(source_language, target_language, translation.language_names(translation_ctx))
    heard = asr.transcribe(ctx.for_task("asr"), audio, whisper_language(source), model=asr_model, progress=progress)
    if heard.silent:
        raise InputError("The recording is silent: record or upload speech to translate.")
    if not heard.text:
        raise InputError("No speech was recognised in the recording, so there is nothing to translate.")
    result = SpeechTranslation(transcript=heard.text)
    yield result
    translated = translation.translate(translation_ctx, heard.text, source, target, progress=progress).text
    if not translated.strip():
        raise InputError("The translation came back empty; try another recording or language pair.")
    result = replace(result, translation=translated)
    yield result
    voice, note = choose_voice(tts_ctx, target, registry_voices())
    speech = tts.synthesize(tts_ctx, translated, voice, progress)
    yield replace(result, speech=speech, voice_note=note)


def language_defaults(names: list[str], source: str | None, target: str | None) -> tuple[str | None, str | None]:
    """Source and target to show: the current ones if still offered, else English → French, else the first."""
    source = source if source in names else ("English" if "English" in names else next(iter(names), None))
    others = [name for name in names if name != source]
    target = target if target in others else ("French" if "French" in others else next(iter(others), None))
    return source, target


def _language_pickers(ctx: TabContext) -> tuple[Any, Any]:
    names = translation.language_names(ctx.for_task("translation"))
    source, target = language_defaults(names, None, None)
    return gr.Dropdown(choices=names, value=source), gr.Dropdown(choices=names, value=target)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)  # lists the speech recognition, translation and text-to-speech models it uses
    asr_ctx = ctx.for_task("asr")
    with gr.Row():
        with gr.Column():
            audio = AudioInput(label="Speech (upload or record)")
            with gr.Row():
                # Any name is accepted here and checked against the translation model's list when run,
                # since that list changes with the model.
                names = translation.language_names(ctx.for_task("translation"))
                first, second = language_defaults(names, None, None)
                source = gr.Dropdown(names, value=first, label="Spoken language", allow_custom_value=True)
                target = gr.Dropdown(names, value=second, label="Translate into", allow_custom_value=True)
            with gr.Accordion("Speech recognition model", open=False):
                asr_model = gr.Dropdown(
                    choices=model_choices(asr_ctx),
                    value=str(asr_ctx.configured_model()),
                    label="Speech recognition model",
                    info="English-only models (*.en) hear English; pick a multilingual Whisper for other languages.",
                    allow_custom_value=ctx.settings.allow_custom_models,
                )
            button = gr.Button("Translate speech", variant="primary")
        with gr.Column():
            transcript = gr.Textbox(label="1. Transcript", lines=4, elem_id="speech-translation-transcript")
            translated = gr.Textbox(label="2. Translation", lines=4, elem_id="speech-translation-text")
            speech = AudioOutput(label="3. Spoken translation (WAV)", type="numpy", format="wav", interactive=False)
            note = gr.Markdown(label="Voice", elem_id="speech-translation-voice")
    gr.Examples([[ctx.asset(name), "English", "French"] for name in ctx.spec.examples], inputs=[audio, source, target])
    ctx.on_page_load(lambda: _language_pickers(ctx), [source, target])
    ctx.on_page_load(
        lambda: gr.Dropdown(choices=model_choices(asr_ctx), value=str(asr_ctx.configured_model())), [asr_model]
    )

    @user_errors(ctx.spec.title)
    def run(
        audio: str | None,
        source_language: str,
        target_language: str,
        asr_model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> Iterator[tuple[str, str, Any, str]]:
        for stage in speech_translate(ctx, audio, source_language, target_language, asr_model, progress):
            spoken = None if stage.speech is None else (stage.speech[0], to_int16(stage.speech[1]))
            yield stage.transcript, stage.translation, spoken, stage.voice_note

    button.click(
        run, [audio, source, target, asr_model], [transcript, translated, speech, note], api_name="speech_translate"
    )
