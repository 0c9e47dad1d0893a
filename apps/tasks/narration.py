"""Image narration: detect objects, say what is there in one sentence, and speak it with the text-to-speech task.

The task function `narrate` returns a `Narration`; it speaks through `ctx.run_task("tts", ...)` (the
registry's text-to-speech task function), never by importing that task's module.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from apps.core.errors import InputError, ModelUnavailable, ShowcaseError
from apps.core.images import ImageSource, PreparedImage, prepare_image
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.ui.components import CheckboxInput, ImageInput, SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker
from apps.ui.outputs import AudioOutput, ImageOutput

DEFAULT_THRESHOLD = 0.7
NOTHING_SEEN = "I don't see any object I know."
COLUMNS = ["label", "score", "x0", "y0", "x1", "y1"]

NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
# English plurals the suffix rules get wrong; COCO names (what most detectors know) come first.
IRREGULAR_PLURALS = {
    "person": "people",
    "mouse": "mice",
    "knife": "knives",
    "sheep": "sheep",
    "child": "children",
    "man": "men",
    "woman": "women",
    "foot": "feet",
    "tooth": "teeth",
    "goose": "geese",
    "fish": "fish",
    "deer": "deer",
    "shelf": "shelves",
    "leaf": "leaves",
    "wolf": "wolves",
}
PAIR_NOUNS = {"skis", "scissors", "glasses", "trousers", "pants", "jeans", "shorts"}  # "a pair of skis"
SPOKEN = {"tv": "TV"}
NOT_OBJECTS = {"", "n/a", "na", "none", "background", "no object"}  # placeholders some label maps carry
# Detector configs whose backbone is a timm model unless the checkpoint says otherwise (transformers 5.24).
TIMM_BY_DEFAULT = ("detr", "conditional_detr", "deformable_detr", "table-transformer", "dab-detr")

PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240))


@dataclass(frozen=True)
class Detection:
    """One detected object: its label, score and box (x0, y0, x1, y1) in original image pixels."""

    label: str
    score: float
    box: tuple[float, float, float, float]


def load_detector(request: LoadRequest) -> Any:
    """An `object-detection` pipeline (YOLOS, DETR, RT-DETR, …) from a local folder, PIL image processing."""
    from transformers import AutoImageProcessor, pipeline

    check_timm_backbone(request.path, request.ref.name)
    return pipeline(
        "object-detection",
        model=str(request.path),
        image_processor=AutoImageProcessor.from_pretrained(str(request.path), backend="pil"),
        device=request.device,
        dtype=request.dtype,
        trust_remote_code=request.trust_remote_code,
    )


def check_timm_backbone(folder: Path, name: str) -> None:
    """Refuse, with what to do instead, a checkpoint whose backbone needs timm when timm is missing.

    DETR checkpoints such as `facebook/detr-resnet-50` (main) build a timm ResNet; timm pulls in
    torchvision, which this app does without. Their `no_timm` revisions use transformers' ResNet.
    """
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return  # the loader itself will say what is wrong with the folder
    backbone = config.get("backbone_config") or {}
    wants_timm = backbone.get("model_type") == "timm_backbone" or (
        not backbone and config.get("use_timm_backbone", config.get("model_type") in TIMM_BY_DEFAULT)
    )
    if wants_timm and find_spec("timm") is None:
        raise ModelUnavailable(
            f"`{name}` uses a timm backbone, and the timm package is not installed (it needs torchvision). "
            f"Use its timm-free revision `{name}@no_timm` if it has one (facebook/detr-resnet-50 does), "
            "or another detector such as hustvl/yolos-tiny."
        )


# -- the sentence -------------------------------------------------------------------------------


def clean_label(label: str) -> str:
    """A label as a noun: lower case, underscores as spaces ("" for placeholders such as "N/A")."""
    noun = " ".join(str(label).replace("_", " ").split()).lower()
    return "" if noun in NOT_OBJECTS else noun


def plural(noun: str) -> str:
    """English plural of a noun (of its last word for "traffic light" → "traffic lights")."""
    head, _, last = noun.rpartition(" ")
    prefix = f"{head} " if head else ""
    if last in IRREGULAR_PLURALS:
        return prefix + IRREGULAR_PLURALS[last]
    if last in PAIR_NOUNS:
        return noun
    if last.endswith(("s", "x", "z", "ch", "sh")):
        return f"{noun}es"
    if len(last) > 1 and last.endswith("y") and last[-2] not in "aeiou":
        return f"{noun[:-1]}ies"
    return f"{noun}s"


def indefinite_article(noun: str) -> str:
    """ "a" or "an", by the sound the noun starts with (an apple, a unicorn, an hour)."""
    word = noun.lower()
    if word.startswith(("uni", "use", "usu", "eu", "one", "once")):
        return "a"
    if word.startswith(("hour", "honest", "honor", "honour", "heir")):
        return "an"
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def count_phrase(noun: str, count: int) -> str:
    """ "a cat", "two cats", "13 cars", "a pair of skis", "an apple"."""
    if noun.rpartition(" ")[2] in PAIR_NOUNS:
        return count_phrase("pair", count) + f" of {_spoken(noun)}"
    if count == 1:
        spoken = _spoken(noun)
        return f"{indefinite_article(noun)} {spoken}"
    number = NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count)
    return f"{number} {_spoken(plural(noun))}"


def _spoken(noun: str) -> str:
    return " ".join(_spoken_word(word) for word in noun.split())


def _spoken_word(word: str) -> str:
    if word in SPOKEN:
        return SPOKEN[word]
    if word.endswith("s") and word[:-1] in SPOKEN:  # "tvs" → "TVs"
        return SPOKEN[word[:-1]] + "s"
    return word


def join_phrases(phrases: Sequence[str]) -> str:
    """ "a, b and c"."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"


def describe(labels: Sequence[str], scores: Sequence[float] | None = None) -> str:
    """One sentence naming what was detected, with counts: "In this image there are two cats and a remote."

    Most frequent objects first (ties: the most confident, then the first listed); the verb agrees
    with the first one, as in speech. No objects: "I don't see any object I know."
    """
    scores = list(scores) if scores is not None else [0.0] * len(labels)
    best: dict[str, float] = {}
    counts: Counter[str] = Counter()
    for label, score in zip(labels, scores, strict=True):
        noun = clean_label(label)
        if noun:
            counts[noun] += 1
            best[noun] = max(best.get(noun, score), score)
    if not counts:
        return NOTHING_SEEN
    order = sorted(counts, key=lambda noun: (-counts[noun], -best[noun]))  # stable: first listed first
    first = order[0]
    verb = "is" if counts[first] == 1 else "are"
    return f"In this image there {verb} {join_phrases([count_phrase(noun, counts[noun]) for noun in order])}."


# -- detections and drawing ---------------------------------------------------------------------


def check_threshold(threshold: Any) -> float:
    """The score threshold as a float in [0, 1]; InputError otherwise."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InputError("The score threshold must be a number between 0 and 1, e.g. 0.7.") from None
    if not 0.0 <= value <= 1.0 or value != value:
        raise InputError(f"The score threshold must be between 0 and 1 (got {threshold}).")
    return value


def to_detections(raw: Sequence[dict[str, Any]], prepared: PreparedImage) -> list[Detection]:
    """The pipeline's detections (working-copy boxes) in original pixels, placeholders dropped, best first."""
    detections = []
    for item in raw:
        if not clean_label(item["label"]):
            continue
        box = item["box"]
        original = prepared.to_original_box((box["xmin"], box["ymin"], box["xmax"], box["ymax"]))
        detections.append(Detection(str(item["label"]), float(item["score"]), original))
    return sorted(detections, key=lambda detection: -detection.score)


def detections_frame(detections: Sequence[Detection]) -> pd.DataFrame:
    """One row per detection: label, score and box corners in original image pixels."""
    rows = [[d.label, round(d.score, 3), *(round(value) for value in d.box)] for d in detections]
    return pd.DataFrame(rows, columns=COLUMNS)


def label_colour(label: str) -> tuple[int, int, int]:
    return PALETTE[zlib.crc32(label.encode()) % len(PALETTE)]


def draw_detections(image: Image.Image, detections: Sequence[Detection], scale: float = 1.0) -> Image.Image:
    """A copy of `image` with each detection's box and "label score" drawn; boxes are multiplied by `scale`."""
    canvas = image.convert("RGB")  # a copy
    draw = ImageDraw.Draw(canvas)
    side = min(canvas.size)
    width = max(2, round(side / 250))
    font = ImageFont.load_default(size=max(12, round(side / 32)))
    for detection in reversed(detections):  # the most confident drawn last, on top
        colour = label_colour(detection.label)
        x0, y0, x1, y1 = (value * scale for value in detection.box)
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        text = f"{detection.label} {detection.score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_y = y0 - (bottom - top) - 2 * width if y0 - (bottom - top) - 2 * width >= 0 else y0
        draw.rectangle((x0, text_y, x0 + (right - left) + 2 * width, text_y + (bottom - top) + 2 * width), fill=colour)
        draw.text((x0 + width - left, text_y + width - top), text, fill=(255, 255, 255), font=font)
    return canvas


# -- the task function --------------------------------------------------------------------------

Speech = tuple[int, np.ndarray]  # (sample rate, mono float32 samples)


@dataclass(frozen=True)
class Narration:
    """What `narrate` saw and said: the boxed picture, the detections, the sentence and its speech."""

    image: Image.Image  # the boxes drawn on the working copy (the input, shrunk to the app's pixel limit)
    detections: list[Detection]  # above the threshold, best first, boxes in the original image's pixels
    sentence: str  # "In this image there are two cats and a remote." (or NOTHING_SEEN)
    speech: Speech | None  # the sentence read by the text-to-speech task; None if not asked for or not possible
    speech_error: str = ""  # why the sentence could not be spoken, when speech was asked for


def detect(
    ctx: TaskContext,
    image: ImageSource,
    threshold: float = DEFAULT_THRESHOLD,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> tuple[PreparedImage, list[Detection]]:
    """The prepared image and its detections above `threshold` (original pixel boxes, best first)."""
    prepared = prepare_image(image, ctx.settings.max_image_pixels)
    value = check_threshold(threshold)
    with ctx.use(model, progress) as detector:
        raw = detector(prepared.working, threshold=value)
    return prepared, to_detections(raw, prepared)


def as_speech(result: Any) -> Speech:
    """(rate, samples) of what the text-to-speech task returned: a result with `rate` and `samples`, or that pair."""
    if hasattr(result, "rate") and hasattr(result, "samples"):
        return int(result.rate), np.asarray(result.samples)
    rate, samples = result
    return int(rate), np.asarray(samples)


def narrate(
    ctx: TaskContext,
    image: ImageSource,
    threshold: float = DEFAULT_THRESHOLD,
    speak: bool = True,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Narration:
    """Detect the objects in `image`, name them in one sentence and (with `speak`) read it aloud; returns the Narration.

    `model` is the detector. The sentence is spoken by the text-to-speech task with its configured voice;
    if that fails (its model cannot load, …), the picture and the sentence are still returned, with
    `speech_error` saying why.
    """
    prepared, detections = detect(ctx, image, threshold, model, progress)
    annotated = draw_detections(prepared.working, detections, scale=prepared.scale)
    sentence = describe([d.label for d in detections], [d.score for d in detections])
    speech, speech_error = None, ""
    if speak:
        try:
            speech = as_speech(ctx.run_task("tts", text=sentence, model=None, progress=progress))
        except ShowcaseError as exc:  # the picture and the sentence are still worth showing
            speech_error = str(exc)
    return Narration(annotated, detections, sentence, speech, speech_error)


EXAMPLES = ("vision-cat.jpg", "vision-coffee.jpg", "vision-street.png")  # files under assets/


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            image = ImageInput(label="Image", height=360)
            threshold = SliderInput(
                0.05,
                0.99,
                value=DEFAULT_THRESHOLD,
                step=0.01,
                label="Score threshold",
                info="Only objects the model is at least this sure of are kept.",
            )
            spoken = CheckboxInput(value=True, label="Speak the sentence (text-to-speech tab's model)")
            model = model_picker(ctx)
            button = gr.Button("Narrate", variant="primary")
        with gr.Column():
            annotated = ImageOutput(label="Detected objects", format="jpeg", interactive=False)
            sentence = gr.Textbox(label="Narration", interactive=False, elem_id="narration-sentence")
            audio = AudioOutput(label="Spoken", type="numpy", interactive=False)
            table = gr.Dataframe(label="Detections (original image pixels)", interactive=False, headers=COLUMNS)
    gr.Examples([[ctx.asset(name)] for name in EXAMPLES], inputs=[image])

    @user_errors(ctx.spec.title)
    def narration_run(
        image: str | None,
        threshold: float,
        speak: bool,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        result = narrate(ctx, image, threshold, speak, model, progress)
        if result.speech_error:
            gr.Warning(f"The sentence could not be spoken: {result.speech_error}")
        return result.image, result.sentence, result.speech, detections_frame(result.detections)

    gr.on(
        [button.click],
        narration_run,
        [image, threshold, spoken, model],
        [annotated, sentence, audio, table],
        api_name="narrate",
    )


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    pipeline="""import torch
from PIL import Image
from transformers import pipeline

$pick_device
detect = pipeline("object-detection", model=$model$model_options, device=device)
image = Image.open($image).convert("RGB")
# (The app then names what it found in one sentence, read aloud by the Text to speech tab's voice.)
found = detect(image, threshold=$threshold)
print(len(found), "objects found")
for item in found:
    print(item["label"], round(item["score"], 3), item["box"])
""",
    direct="""import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForObjectDetection

$pick_device
processor = AutoImageProcessor.from_pretrained($model$model_options)
model = AutoModelForObjectDetection.from_pretrained($model$model_options).to(device)
image = Image.open($image).convert("RGB")
with torch.no_grad():
    outputs = model(**processor(images=image, return_tensors="pt").to(device))
found = processor.post_process_object_detection(outputs, threshold=$threshold, target_sizes=[image.size[::-1]])[0]
print(len(found["scores"]), "objects found")
for score, label, box in zip(found["scores"], found["labels"], found["boxes"]):
    print(model.config.id2label[label.item()], round(score.item(), 3), [round(x) for x in box.tolist()])
""",
    packages=("transformers", "torch", "pillow"),
)
