"""Speech recognition: audio in, transcript out (Whisper), long audio in 30 s windows, optional timestamps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import pandas as pd

from apps.core.audio import AudioSource, format_duration, prepare_audio, resample, windows
from apps.core.errors import InputError
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.code import literal
from apps.shared.languages import WHISPER_LANGUAGES, whisper_code
from apps.ui.components import AudioInput, CheckboxInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

SAMPLE_RATE = 16_000  # every Whisper model's feature extractor
WINDOW_SECONDS = 30.0  # Whisper hears 30 s at a time
CUT_SEARCH_SECONDS = 5.0  # each window ends at the quietest moment of its last 5 s
TASKS = ("transcribe", "translate")
SEGMENT_COLUMNS = ["start", "end", "text"]


@dataclass
class Segment:
    """A stretch of the transcript with its start and end, in seconds from the start of the audio."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """What `transcribe` found: the text, timed segments (when asked for), and how the audio was read."""

    text: str
    duration: float  # seconds of audio heard
    windows: int  # how many windows of up to WINDOW_SECONDS it was heard in (0 when silent)
    segments: list[Segment] = field(default_factory=list)  # filled only when timestamps were asked for
    silent: bool = False  # nothing to hear: `text` is empty and no model ran
    source_rate: int = SAMPLE_RATE  # the input's sample rate, before resampling
    channels: int = 1  # the input's channels, before mixing to mono
    task: str = "transcribe"  # "transcribe" (same language) or "translate" (into English)
    language: str | None = None  # the Whisper code of the spoken language asked for; None: detected


def load_asr(request: LoadRequest) -> Any:
    """The `automatic-speech-recognition` pipeline of a local model folder."""
    from transformers import pipeline

    return pipeline(
        "automatic-speech-recognition",
        model=str(request.path),
        device=request.device,
        dtype=request.dtype,
        trust_remote_code=request.trust_remote_code,
    )


def language_choices() -> list[tuple[str, str]]:
    """(label, value) pairs for the language picker: detect first, then names in alphabetical order."""
    names = sorted((name.title(), code) for code, name in WHISPER_LANGUAGES.items())
    return [("Detect automatically", ""), *names]


def check_task(task: str | None) -> str:
    """The task, lower-cased ("transcribe" when empty); InputError unless it is transcribe or translate."""
    task = (task or "transcribe").strip().lower()
    if task not in TASKS:
        raise InputError("The task must be “transcribe” (same language) or “translate” (into English).")
    return task


def segments_frame(segments: list[Segment]) -> pd.DataFrame:
    """Segments as a table: start and end as m:ss.s, and the text."""
    rows = [[_clock(s.start), _clock(s.end), s.text] for s in segments]
    return pd.DataFrame(rows, columns=SEGMENT_COLUMNS)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}:{secs:04.1f}"


def _window_segments(chunks: list[dict[str, Any]], start: float, end: float) -> list[Segment]:
    """The pipeline's timed chunks of one window, moved to audio time and kept inside the window."""
    segments = []
    for chunk in chunks:
        text = str(chunk.get("text", "")).strip()
        begin, finish = chunk.get("timestamp") or (None, None)
        begin = start if begin is None else min(start + float(begin), end)
        finish = end if finish is None else min(start + float(finish), end)
        if text:
            segments.append(Segment(round(begin, 2), round(max(begin, finish), 2), text))
    return segments


def transcribe(
    ctx: TaskContext,
    audio: AudioSource,
    language: str | None = None,
    task: str = "transcribe",
    timestamps: bool = False,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Transcript:
    """Transcribe (or translate into English) the whole recording, window by window; returns a Transcript.

    `language` is a name or Whisper code (empty: detect); `model` a Hub id or empty for the task's model.
    """
    task = check_task(task)
    code = whisper_code(language)
    prepared = prepare_audio(audio, SAMPLE_RATE, ctx.settings.max_audio_seconds)
    facts = {
        "duration": prepared.duration,
        "source_rate": prepared.source_rate,
        "channels": prepared.channels,
        "task": task,
        "language": code,
    }
    if prepared.is_silent:  # Whisper invents words for silence; there is nothing to hear
        return Transcript(text="", windows=0, silent=True, **facts)
    spans = windows(prepared.samples, SAMPLE_RATE, WINDOW_SECONDS, CUT_SEARCH_SECONDS)
    texts: list[str] = []
    segments: list[Segment] = []
    with ctx.use(model, progress) as pipe:
        rate = pipe.feature_extractor.sampling_rate
        samples = resample(prepared.samples, SAMPLE_RATE, rate)
        kwargs = _call_kwargs(pipe, code, task, timestamps, ctx.resolve_model(model).name)
        for number, (begin, end) in enumerate(spans, start=1):
            if progress is not None:
                progress((number - 1, len(spans)), desc=f"Transcribing window {number} of {len(spans)}")
            window = samples[begin * rate // SAMPLE_RATE : end * rate // SAMPLE_RATE]
            result = pipe({"raw": window, "sampling_rate": rate}, **kwargs)
            texts.append(str(result.get("text", "")).strip())
            if timestamps:
                segments += _window_segments(result.get("chunks", []), begin / SAMPLE_RATE, end / SAMPLE_RATE)
    return Transcript(text=" ".join(t for t in texts if t), windows=len(spans), segments=segments, **facts)


def _call_kwargs(pipe: Any, code: str | None, task: str, timestamps: bool, name: str) -> dict[str, Any]:
    """Pipeline keywords for this model: language and task for Whisper, word timestamps for CTC models."""
    kwargs: dict[str, Any] = {}
    if getattr(pipe, "type", "") == "seq2seq_whisper":
        if getattr(pipe.model.generation_config, "is_multilingual", False):
            kwargs["generate_kwargs"] = {"task": task, **({"language": code} if code else {})}
        elif task == "translate" or code not in (None, "en"):
            raise InputError(
                f"`{name}` understands English only, so it cannot transcribe other languages or translate. "
                "Choose a multilingual model such as openai/whisper-tiny or openai/whisper-base."
            )
        if timestamps:
            kwargs["return_timestamps"] = True
    else:
        if task == "translate" or code:
            raise InputError(f"`{name}` is not a Whisper model: it cannot take a language or translate.")
        if timestamps:
            kwargs["return_timestamps"] = "word"
    return kwargs


def summary(transcript: Transcript) -> str:
    """One line about what was heard: length, input format and windows."""
    heard = (
        f"{format_duration(transcript.duration)} of audio ({transcript.channels} channel(s) at "
        f"{transcript.source_rate:,} Hz)"
    )
    if transcript.silent:
        return f"{heard}: the recording is silent, so there is nothing to transcribe."
    verb = "translated into English" if transcript.task == "translate" else "transcribed"
    done = f"{heard} {verb} in {transcript.windows} window(s) of up to {WINDOW_SECONDS:.0f} s."
    return done if transcript.text else f"{done} No speech was recognised."


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            audio = AudioInput(label="Speech (upload or record)")
            model = model_picker(ctx)
            with gr.Row():
                language = gr.Dropdown(
                    choices=[("Detect automatically", "")],
                    value="",
                    label="Spoken language",
                    info="Multilingual Whisper models only (openai/whisper-tiny, -base).",
                    allow_custom_value=True,  # filled from Whisper's list when the page opens
                    filterable=True,
                )
                task = gr.Radio(
                    choices=[("Transcribe", "transcribe"), ("Translate into English", "translate")],
                    value="transcribe",
                    label="Task",
                )
            timestamps = CheckboxInput(label="Show timestamps (segments)", value=False)
            button = gr.Button("Transcribe", variant="primary")
        with gr.Column():
            text = gr.Textbox(label="Transcript", lines=8, buttons=["copy"], elem_id="asr-text")
            info = gr.Markdown(label="Summary", elem_id="asr-info")
            table = gr.Dataframe(headers=SEGMENT_COLUMNS, label="Segments", interactive=False, wrap=True)
    gr.Examples([[ctx.asset(name)] for name in ctx.spec.examples], inputs=[audio])
    ctx.on_page_load(lambda: gr.Dropdown(choices=language_choices()), [language])

    @user_errors(ctx.spec.title)
    def run(
        audio: str | None,
        language: str,
        task: str,
        timestamps: bool,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[str, str, pd.DataFrame]:
        result = transcribe(ctx, audio, language, task, timestamps, model, progress)
        return result.text, summary(result), segments_frame(result.segments)

    button.click(run, [audio, language, task, timestamps, model], [text, info, table], api_name="transcribe")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------


def _code_fields(values: Mapping[str, Any]) -> dict[str, str]:
    """What Whisper is asked for: the task, and the spoken language's code when one was chosen."""
    options: dict[str, str] = {"task": str(values.get("task") or "transcribe")}
    code = whisper_code(values.get("language")) if isinstance(values.get("language"), str) else None
    if code:
        options["language"] = code
    return {"whisper_options": literal(options)}


_READ_AUDIO = """samples, rate = soundfile.read($audio, dtype="float32", always_2d=True)
samples = soxr.resample(samples.mean(axis=1), rate, 16000)  # mono, at the 16 kHz Whisper hears
# An English-only Whisper takes no task or language; a multilingual one does.
options = $whisper_options if whisper.generation_config.is_multilingual else {}
"""
CODE = CodeRecipe(
    pipeline="""import soundfile
import soxr
import torch
from transformers import pipeline

$pick_device
asr = pipeline("automatic-speech-recognition", model=$model$model_options, device=device)
whisper = asr.model
"""
    + _READ_AUDIO
    + """# chunk_length_s: audio of any length is heard in 30 s windows
result = asr(
    {"raw": samples, "sampling_rate": 16000},
    chunk_length_s=30,
    return_timestamps=$timestamps,
    generate_kwargs=options,
)
print(result)
""",
    direct="""import soundfile
import soxr
import torch
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

$pick_device
processor = AutoProcessor.from_pretrained($model$model_options)
whisper = AutoModelForSpeechSeq2Seq.from_pretrained($model$model_options).to(device)
"""
    + _READ_AUDIO
    + """# The first 30 s (the pipeline above hears any length)
features = processor(samples[: 30 * 16000], sampling_rate=16000, return_tensors="pt").input_features
ids = whisper.generate(features.to(device, whisper.dtype), **options)
print(processor.batch_decode(ids, skip_special_tokens=True)[0])
""",
    packages=("transformers", "torch", "soundfile", "soxr"),
    fields=_code_fields,
)
