"""Zero-shot audio classification: a sound and labels you choose in, how well each label fits out (CLAP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from apps.core.audio import AudioSource, prepare_audio, windows
from apps.core.errors import InputError
from apps.core.labels import LabelScores
from apps.core.labels import parse_labels as parse_candidate_labels
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.code import literal
from apps.ui.components import AudioInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

SAMPLE_RATE = 48_000  # CLAP's feature extractor
WINDOW_SECONDS = 10.0  # CLAP hears 10 s; longer sounds are heard window by window and the scores averaged
CUT_SEARCH_SECONDS = 2.0
DEFAULT_LABELS = "a person speaking, a musical tone, rain or noise, a dog barking, silence"


@dataclass(frozen=True)
class AudioLabelScores(LabelScores):
    """How well each label describes the sound (scores sum to 1, best first), and how the sound was heard."""

    windows: int  # how many windows of up to WINDOW_SECONDS the scores are averaged over
    duration: float  # seconds of audio heard


def load_clap(request: LoadRequest) -> Any:
    """The `zero-shot-audio-classification` pipeline of a local model folder."""
    from transformers import pipeline

    return pipeline(
        "zero-shot-audio-classification",
        model=str(request.path),
        device=request.device,
        dtype=request.dtype,
        trust_remote_code=request.trust_remote_code,
    )


def parse_labels(text: Any) -> list[str]:
    """Comma-separated labels → distinct labels in order; InputError for empties, too few or too many."""
    return parse_candidate_labels(text, example="dog barking, rain", why_two="CLAP compares them.")


def average_scores(results: list[list[dict[str, Any]]], labels: list[str]) -> dict[str, float]:
    """Each label's score averaged over the windows, highest first."""
    totals = dict.fromkeys(labels, 0.0)
    for result in results:
        for item in result:
            totals[item["label"]] += float(item["score"]) / len(results)
    return dict(sorted(totals.items(), key=lambda pair: -pair[1]))


def classify_audio(
    ctx: TaskContext, audio: AudioSource, labels: str, model: str | None = None, progress: ProgressFn | None = None
) -> AudioLabelScores:
    """How well each comma-separated label describes the sound; returns AudioLabelScores (best first).

    Sounds longer than WINDOW_SECONDS are heard window by window and each label's scores averaged.
    """
    candidates = parse_labels(labels)
    prepared = prepare_audio(audio, SAMPLE_RATE, ctx.settings.max_audio_seconds)
    spans = windows(prepared.samples, SAMPLE_RATE, WINDOW_SECONDS, CUT_SEARCH_SECONDS)
    results = []
    with ctx.use(model, progress) as pipe:
        for number, (start, end) in enumerate(spans, start=1):
            if progress is not None:
                progress((number - 1, len(spans)), desc=f"Listening to window {number} of {len(spans)}")
            results.append(pipe(prepared.samples[start:end], candidate_labels=candidates))
    return AudioLabelScores(average_scores(results, candidates), windows=len(spans), duration=prepared.duration)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            audio = AudioInput(label="Sound (upload or record)")
            labels = gr.Textbox(label="Candidate labels (comma-separated)", value=DEFAULT_LABELS, lines=2)
            model = model_picker(ctx)
            button = gr.Button("Classify", variant="primary")
        with gr.Column():
            scores = gr.Label(label="Scores", num_top_classes=10, elem_id="audio-classification-scores")
    gr.Examples([[ctx.asset(name), DEFAULT_LABELS] for name in ctx.spec.examples], inputs=[audio, labels])

    @user_errors(ctx.spec.title)
    def run(
        audio: str | None,
        labels: str,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> dict[str, float]:
        return classify_audio(ctx, audio, labels, model, progress).scores

    gr.on([button.click, labels.submit], run, [audio, labels, model], [scores], api_name="classify_audio")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

_READ_AUDIO = """samples, rate = soundfile.read($audio, dtype="float32", always_2d=True)
samples = soxr.resample(samples.mean(axis=1), rate, 48000)  # mono, at the 48 kHz CLAP hears
labels = $label_list
"""
CODE = CodeRecipe(
    pipeline="""import soundfile
import soxr
import torch
from transformers import pipeline

$pick_device
classify = pipeline("zero-shot-audio-classification", model=$model$model_options, device=device)
"""
    + _READ_AUDIO
    + """print(classify(samples, candidate_labels=labels))
""",
    direct="""import soundfile
import soxr
import torch
from transformers import AutoModel, AutoProcessor

$pick_device
processor = AutoProcessor.from_pretrained($model$model_options)
model = AutoModel.from_pretrained($model$model_options).to(device)
"""
    + _READ_AUDIO
    + """inputs = processor(text=labels, audio=samples, sampling_rate=48000, return_tensors="pt", padding=True)
with torch.no_grad():
    scores = model(**inputs.to(device)).logits_per_audio.softmax(dim=-1)[0]
print({label: round(score.item(), 3) for label, score in zip(labels, scores)})
""",
    packages=("transformers", "torch", "soundfile", "soxr"),
    fields=lambda values: {"label_list": literal(_code_labels(values.get("labels")))},
)


def _code_labels(text: Any) -> list[str]:
    try:
        return parse_labels(text)
    except InputError:
        return [label.strip() for label in str(text or "").split(",") if label.strip()]
