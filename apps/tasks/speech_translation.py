"""Speech translation: speech → transcript → translation → speech, each stage another task's function.

The stages are the speech recognition, translation and text-to-speech tasks, called through the task
layer (`ctx.run_task`), so each runs with its own configured model; this module only chains them and
picks a voice that speaks the target language.
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
from apps.core.manager import ProgressFn
from apps.core.spec import ModelCard, TaskContext
from apps.shared.languages import whisper_code
from apps.shared.translation_languages import language_names
from apps.shared.voices import VOICES
from apps.ui.components import AudioInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_choices, model_header
from apps.ui.outputs import AudioOutput


@dataclass(frozen=True)
class SpeechTranslation:
    """What the stages produced so far: the transcript, then its translation, then the spoken translation."""

    source_language: str  # the spoken language, as the translation model names it
    target_language: str
    transcript: str = ""  # stage 1: what speech recognition heard
    translation: str = ""  # stage 2: the transcript translated
    speech: tuple[int, np.ndarray] | None = None  # stage 3: (rate, mono float32 samples) of the translation
    voice: str = ""  # the text-to-speech model that spoke
    voice_note: str = ""  # which voice spoke and why (Markdown)

    @property
    def complete(self) -> bool:
        """True once the translation has been spoken (the last stage)."""
        return self.speech is not None


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
        return whisper_code(name) or ""
    except InputError:
        return ""


def choose_voice(tts_ctx: TaskContext, language: str, voices: Mapping[str, ModelCard]) -> tuple[str | None, str]:
    """The TTS model for `language` (None = the TTS task's configured one) and a note naming the voice.

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
    ctx: TaskContext,
    audio: AudioSource,
    source_language: str,
    target_language: str,
    asr_model: str | None = None,
    progress: ProgressFn | None = None,
) -> Iterator[SpeechTranslation]:
    """Hear, translate, speak: yields a SpeechTranslation after each stage (the last one is complete).

    `asr_model` is the speech recognition model (empty: that task's); translation and voice are those tasks'.
    """
    source, target = check_languages(source_language, target_language, language_names(ctx.for_task("translation")))
    heard = ctx.run_task("asr", audio=audio, language=whisper_language(source), model=asr_model, progress=progress)
    if heard.silent:
        raise InputError("The recording is silent: record or upload speech to translate.")
    if not heard.text:
        raise InputError("No speech was recognised in the recording, so there is nothing to translate.")
    result = SpeechTranslation(source, target, transcript=heard.text)
    yield result
    translated = ctx.run_task(
        "translation", text=heard.text, source_language=source, target_language=target, progress=progress
    ).text
    if not translated.strip():
        raise InputError("The translation came back empty; try another recording or language pair.")
    result = replace(result, translation=translated)
    yield result
    voice, note = choose_voice(ctx.for_task("tts"), target, VOICES)
    spoken = ctx.run_task("tts", text=translated, model=voice, progress=progress)
    yield replace(result, speech=spoken.audio, voice=spoken.model, voice_note=note)


def language_defaults(names: list[str], source: str | None, target: str | None) -> tuple[str | None, str | None]:
    """Source and target to show: the current ones if still offered, else English → French, else the first."""
    source = source if source in names else ("English" if "English" in names else next(iter(names), None))
    others = [name for name in names if name != source]
    target = target if target in others else ("French" if "French" in others else next(iter(others), None))
    return source, target


def _language_pickers(ctx: TabContext) -> tuple[Any, Any]:
    names = language_names(ctx.for_task("translation"))
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
                names = language_names(ctx.for_task("translation"))
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
