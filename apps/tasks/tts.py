"""Text-to-speech: text in, speech out (VITS), sentence by sentence, as a playable and downloadable WAV."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from apps.core.audio import format_duration, peak_normalize, to_int16
from apps.core.errors import InputError, ModelUnavailable
from apps.core.manager import LoadRequest
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker
from apps.ui.outputs import AudioOutput

PAUSE_SECONDS = 0.3  # silence between sentences
MAX_SENTENCE_CHARS = 400  # VITS reads a sentence in one pass; longer ones are split at commas or spaces
EXAMPLES = (
    "Open models run on your own machine. This sentence was spoken by one of them!",
    "The quick brown fox jumps over the lazy dog.",
)

_SENTENCE_END = re.compile(r"(?<=[.!?;:。！？])\s+|\n+")


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


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[str]:
    """Sentences (and lines) of `text`, none longer than `max_chars`; blank pieces dropped."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        while len(sentence) > max_chars:
            cut = max(sentence.rfind(", ", 0, max_chars), sentence.rfind(" ", 0, max_chars))
            cut = cut + 1 if cut > 0 else max_chars
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return [piece for piece in pieces if piece]


def check_text(text: Any, max_chars: int) -> str:
    """The text to speak, stripped; InputError if it is not text, empty or too long."""
    if not isinstance(text, str):
        raise InputError("Enter the text to speak.")
    text = text.strip()
    if not text:
        raise InputError("Enter some text to speak.")
    if len(text) > max_chars:
        raise InputError(f"The text is {len(text):,} characters long; the limit is {max_chars:,}.")
    return text


def _speakable(pipe: Any, sentence: str) -> bool:
    """False when a VITS voice's alphabet has none of the sentence's characters (it would say nothing)."""
    tokenizer = getattr(pipe, "tokenizer", None)
    if type(tokenizer).__name__ != "VitsTokenizer":
        return True
    return len(tokenizer(sentence)["input_ids"]) > 1  # one id is the lone blank of an empty text


def synthesize(ctx: TabContext, text: str, model: str | None = None, progress: Any = None) -> tuple[int, np.ndarray]:
    """Speak the whole text: (sample rate, mono float32 waveform), sentences joined by short pauses."""
    sentences = split_sentences(check_text(text, ctx.settings.max_text_chars))
    parts: list[np.ndarray] = []
    with ctx.use(model, progress) as pipe:
        rate = int(pipe.sampling_rate)
        for number, sentence in enumerate(sentences, start=1):
            if progress is not None:
                progress((number - 1, len(sentences)), desc=f"Speaking sentence {number} of {len(sentences)}")
            if _speakable(pipe, sentence):
                parts.append(np.asarray(pipe(sentence)["audio"], dtype=np.float32).reshape(-1))
        romanizes = bool(getattr(getattr(pipe, "tokenizer", None), "is_uroman", False))
    if not parts:
        hint = " (this voice reads Latin letters: `pip install uroman` romanizes other scripts)" if romanizes else ""
        raise InputError(
            f"`{ctx.resolve_model(model).name}` cannot speak this text: none of its letters are in the voice's "
            f"alphabet{hint}. Choose a voice for the text's language."
        )
    pause = np.zeros(int(PAUSE_SECONDS * rate), dtype=np.float32)
    joined = [piece for part in parts for piece in (part, pause)][:-1]
    return rate, peak_normalize(np.concatenate(joined))


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
        rate, waveform = synthesize(ctx, text, model, progress)
        seconds = len(waveform) / rate
        return (rate, to_int16(waveform)), f"{format_duration(seconds)} ({seconds:.1f} s) of speech at {rate:,} Hz."

    gr.on([button.click], run, [text, model], [speech, info], api_name="speak")
