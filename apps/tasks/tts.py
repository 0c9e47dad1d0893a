"""Text-to-speech: text in, speech out (VITS), sentence by sentence, as a playable and downloadable WAV."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from apps.core.audio import format_duration, peak_normalize, to_int16
from apps.core.errors import InputError, ModelUnavailable
from apps.core.inputs import require_text
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.text import spoken_sentences
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker
from apps.ui.outputs import AudioOutput

PAUSE_SECONDS = 0.3  # silence between sentences
MAX_SENTENCE_CHARS = 400  # VITS reads a sentence in one pass; longer ones are cut between words
EXAMPLES = (
    "Open models run on your own machine. This sentence was spoken by one of them!",
    "The quick brown fox jumps over the lazy dog.",
)


@dataclass
class Speech:
    """What `synthesize` spoke: mono float32 samples at `rate`, the sentences read, and the voice that read them."""

    rate: int  # samples per second
    samples: np.ndarray  # mono float32, peak-normalised, sentences joined by PAUSE_SECONDS of silence
    sentences: list[str]  # the pieces read aloud, in order (the ones the voice had letters for)
    model: str = ""  # the voice (model) that spoke, as the model manager names it
    skipped: list[str] = field(default_factory=list)  # pieces the voice could not say (no letter in its alphabet)

    @property
    def duration(self) -> float:
        """Seconds of speech."""
        return len(self.samples) / self.rate

    @property
    def audio(self) -> tuple[int, np.ndarray]:
        """(rate, samples): the form every task that takes audio reads (Kind.AUDIO)."""
        return self.rate, self.samples


def load_tts(request: LoadRequest) -> Any:
    """The `text-to-speech` pipeline of a local folder; a clear error if its phonemizer is missing."""
    from transformers import pipeline

    if _needs_phonemizer(request.path):
        _check_phonemizer(request.ref.name)
    return pipeline(
        "text-to-speech",
        model=str(request.path),
        device=request.device,
        dtype=request.dtype,
        trust_remote_code=request.trust_remote_code,
    )


def _needs_phonemizer(path: Path) -> bool:
    """True for VITS voices that read phonemes (e.g. kakao-enterprise/vits-ljs), not characters (MMS)."""
    config = Path(path) / "tokenizer_config.json"
    if not config.is_file():
        return False
    data = json.loads(config.read_text())
    return data.get("tokenizer_class") == "VitsTokenizer" and data.get("phonemize", True)


def _check_phonemizer(name: str) -> None:
    """Raise ModelUnavailable unless `phonemizer` and the espeak-ng library are installed."""
    try:
        from phonemizer.backend import EspeakBackend
    except ImportError:
        raise ModelUnavailable(
            f"`{name}` reads phonemes: install the `phonemizer` package (pip install -r requirements.txt) "
            "and the espeak-ng system package (apt install espeak-ng), or choose an MMS voice such as "
            "facebook/mms-tts-eng."
        ) from None
    if not EspeakBackend.is_available():
        raise ModelUnavailable(
            f"`{name}` needs the espeak-ng system package (apt install espeak-ng, listed in packages.txt), "
            "or choose an MMS voice such as facebook/mms-tts-eng."
        )


def check_text(text: Any, max_chars: int) -> str:
    """The text to speak, stripped; InputError if it is not text, blank or longer than `max_chars`."""
    return require_text(text, max_chars, what="text to speak", empty="Enter some text to speak.")


def _speakable(pipe: Any, sentence: str) -> bool:
    """False when a VITS voice's alphabet has none of the sentence's characters (it would say nothing)."""
    tokenizer = getattr(pipe, "tokenizer", None)
    if type(tokenizer).__name__ != "VitsTokenizer":
        return True
    return len(tokenizer(sentence)["input_ids"]) > 1  # one id is the lone blank of an empty text


def synthesize(ctx: TaskContext, text: str, model: str | None = None, progress: ProgressFn | None = None) -> Speech:
    """Speak the whole text, sentence by sentence, with short pauses between; returns the Speech.

    `model` is a voice's Hub id, or empty for the task's configured voice.
    """
    sentences = spoken_sentences(check_text(text, ctx.settings.max_text_chars), MAX_SENTENCE_CHARS)
    ref = ctx.resolve_model(model)
    parts: list[np.ndarray] = []
    spoken: list[str] = []
    skipped: list[str] = []
    with ctx.use(model, progress) as pipe:
        rate = int(pipe.sampling_rate)
        for number, sentence in enumerate(sentences, start=1):
            if progress is not None:
                progress((number - 1, len(sentences)), desc=f"Speaking sentence {number} of {len(sentences)}")
            if _speakable(pipe, sentence):
                parts.append(np.asarray(pipe(sentence)["audio"], dtype=np.float32).reshape(-1))
                spoken.append(sentence)
            else:
                skipped.append(sentence)
        romanizes = bool(getattr(getattr(pipe, "tokenizer", None), "is_uroman", False))
    if not parts:
        hint = " (this voice reads Latin letters: `pip install uroman` romanizes other scripts)" if romanizes else ""
        raise InputError(
            f"`{ref.name}` cannot speak this text: none of its letters are in the voice's "
            f"alphabet{hint}. Choose a voice for the text's language."
        )
    pause = np.zeros(int(PAUSE_SECONDS * rate), dtype=np.float32)
    joined = [piece for part in parts for piece in (part, pause)][:-1]
    return Speech(rate, peak_normalize(np.concatenate(joined)), spoken, str(ref), skipped)


def speech_summary(speech: Speech) -> str:
    """One line about the speech: its length and sample rate."""
    return f"{format_duration(speech.duration)} ({speech.duration:.1f} s) of speech at {speech.rate:,} Hz."


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="Text", lines=6, placeholder=EXAMPLES[0])
            model = model_picker(ctx)
            button = gr.Button("Speak", variant="primary")
        with gr.Column():
            speech = AudioOutput(
                label="Speech (WAV)", type="numpy", format="wav", interactive=False, buttons=["download"]
            )
            info = gr.Markdown(label="Summary", elem_id="tts-info")
    gr.Examples([[example] for example in EXAMPLES], inputs=[text])

    @user_errors(ctx.spec.title)
    def run(
        text: str,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[tuple[int, np.ndarray], str]:
        speech = synthesize(ctx, text, model, progress)
        return (speech.rate, to_int16(speech.samples)), speech_summary(speech)

    gr.on([button.click], run, [text, model], [speech, info], api_name="speak")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    pipeline="""import soundfile
import torch
from transformers import pipeline

$pick_device
speak = pipeline("text-to-speech", model=$model$model_options, device=device)
speech = speak($text)
soundfile.write("speech.wav", speech["audio"].squeeze(), speech["sampling_rate"])
print("speech.wav:", speech["audio"].size / speech["sampling_rate"], "seconds")
""",
    direct="""import soundfile
import torch
from transformers import AutoTokenizer, VitsModel

$pick_device
tokenizer = AutoTokenizer.from_pretrained($model$model_options)
model = VitsModel.from_pretrained($model$model_options).to(device)
inputs = tokenizer($text, return_tensors="pt").to(device)
with torch.no_grad():
    waveform = model(**inputs).waveform[0].float().cpu().numpy()
soundfile.write("speech.wav", waveform, model.config.sampling_rate)
print("speech.wav:", waveform.size / model.config.sampling_rate, "seconds")
""",
    packages=("transformers", "torch", "soundfile"),
)
