"""What a task's typed result carries, read by kind: the text of a Caption or a Transcript, the audio of a
Speech, the image of a DepthMap, and a one-line summary of any of them.

The adapters live here, not in the tasks: a task returns its own result dataclass (Caption, Transcript,
Summary, Speech, Narration, …) and pipelines (the next step's input) and Compare (outputs side by side) read
the value of a kind from it, in the form every task of that kind takes (text: `str`; audio: `(rate,
samples)`; image: a PIL image).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from apps.core.errors import InputError
from apps.core.spec import Kind

SUMMARY_CHARS = 200


def text_of(result: Any) -> str:
    """The text a result carries: the `.text` of a Caption, Transcript, Summary, Translation, ChatReply, Answer;
    a Narration's sentence; a SpeechTranslation's translation."""
    if isinstance(result, str):
        return result
    for name in ("text", "sentence", "translation"):
        value = getattr(result, name, None)
        if isinstance(value, str):
            return value
    raise InputError(f"A {type(result).__name__} carries no text to pass on.")


def audio_of(result: Any) -> tuple[int, np.ndarray] | None:
    """(rate, samples) from a Speech, a SpeechTranslation, or a Narration that spoke; None if there is none."""
    if isinstance(result, tuple) and len(result) == 2:
        return result
    audio = getattr(result, "audio", None)
    if isinstance(audio, tuple):
        return audio
    speech = getattr(result, "speech", None)
    if isinstance(speech, tuple):
        return speech
    if speech is not None and isinstance(getattr(speech, "audio", None), tuple):
        return speech.audio
    return None


def image_of(result: Any) -> Image.Image | None:
    """A PIL image from a result: a DepthMap's or Narration's `.image`, a Segmentation's mask (white = object)."""
    if isinstance(result, Image.Image):
        return result
    image = getattr(result, "image", None)
    if isinstance(image, Image.Image):
        return image
    mask = getattr(result, "mask", None)
    if isinstance(mask, np.ndarray):
        return Image.fromarray(mask.astype(np.uint8) * 255)
    return None


def value_of(result: Any, kind: Kind | None) -> Any:
    """The step's output of its task's `gives` kind, as the next step takes it (labels and tables as they are)."""
    if kind == Kind.TEXT:
        return text_of(result)
    if kind == Kind.AUDIO:
        audio = audio_of(result)
        if audio is None:
            raise InputError(f"A {type(result).__name__} carries no audio to pass on.")
        return audio
    if kind == Kind.IMAGE:
        image = image_of(result)
        if image is None:
            raise InputError(f"A {type(result).__name__} carries no image to pass on.")
        return image
    return result


def summary_of(value: Any, kind: Kind | None) -> str:
    """A line about a step's output for the steps table."""
    if kind == Kind.TEXT:
        text = " ".join(str(value).split())
        return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"
    if kind == Kind.AUDIO:
        rate, samples = value
        return f"{len(samples) / rate:.1f} s of audio at {rate:,} Hz"
    if kind == Kind.IMAGE:
        return f"image, {value.width}×{value.height} pixels"
    scores = getattr(value, "scores", None)
    if isinstance(scores, dict) and scores:
        return ", ".join(f"{label} {score:.0%}" for label, score in list(scores.items())[:3])
    for name in ("hits", "matches", "images", "results", "rows"):
        rows = getattr(value, name, None)
        if isinstance(rows, list):
            return f"{len(rows)} {name}"
    return type(value).__name__
