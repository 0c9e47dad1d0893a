"""Point-prompted segmentation: click on an image (+ object, − background), SAM draws the object's mask.

SAM has no point-prompt pipeline, so `PointSegmenter` wraps `SamModel` + `SamProcessor` and the
manager loads it like any other model. The heavy image encoder runs once per image (embeddings are
kept in a small LRU keyed by the image's content hash); each further click runs only the prompt
encoder and the mask decoder.

The task function `segment` returns a `Segmentation`; the /segment endpoint gives its mask as a PNG and
its summary as JSON (`summary_json`), which the tab shows as tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from apps.core.errors import InputError
from apps.core.images import ImageSource, image_hash, prepare_image
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.cache import LRUCache
from apps.ui.components import ImageInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker
from apps.ui.outputs import ImageOutput

MAX_POINTS = 32
EMBEDDING_CACHE_SIZE = 4  # images per loaded model (SAM ViT-B: 4 MB of embeddings each)
DISPLAY_SIDE = 1024  # the clickable preview's longest side; points map back to original pixels
FOREGROUND, BACKGROUND = 1, 0
MASK_COLOUR = (30, 144, 255)
POINT_COLOURS = {FOREGROUND: (34, 197, 94), BACKGROUND: (239, 68, 68)}
EXAMPLES = ("vision-cat.jpg", "vision-shapes.png", "vision-coffee.jpg")  # files under assets/

Point = tuple[float, float, int]  # x, y in original pixels; label 1 = object, 0 = background


@dataclass(frozen=True)
class ImageEmbedding:
    """The image encoder's output for one image, with the sizes SAM's post-processing needs."""

    embeddings: Any  # torch.Tensor (1, C, h, w)
    original_size: tuple[int, int]  # (height, width) of the image given to the encoder
    reshaped_size: tuple[int, int]  # (height, width) after resizing its longest side, before padding


class PointSegmenter:
    """SAM behind one object: `segment(image, points, labels)` → candidate masks and their scores."""

    def __init__(self, model: Any, processor: Any, cache_size: int = EMBEDDING_CACHE_SIZE) -> None:
        self.model = model  # a torch module attribute: the manager measures its size
        self.processor = processor
        self.cache_size = cache_size
        self.encoder_runs = 0  # how often the image encoder ran (tests and the cache's worth)
        self._cache: LRUCache[ImageEmbedding] = LRUCache(cache_size)  # by image content hash

    @property
    def longest_edge(self) -> int:
        return int(self.processor.image_processor.size["longest_edge"])

    def embedding(self, image: Image.Image) -> ImageEmbedding:
        """The image's embedding, from the cache when this image was seen recently."""
        return self._cache.get_or_compute(image_hash(image), lambda: self.encode(image))

    def encode(self, image: Image.Image) -> ImageEmbedding:
        """Run the image encoder (the expensive part: a ViT on a 1024×1024 input for SAM)."""
        import torch

        inputs = self.processor.image_processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.model.device, self.model.dtype)
        with torch.inference_mode():
            embeddings = self.model.get_image_embeddings(pixels)
        self.encoder_runs += 1
        return ImageEmbedding(
            embeddings,
            tuple(int(v) for v in inputs["original_sizes"][0]),
            tuple(int(v) for v in inputs["reshaped_input_sizes"][0]),
        )

    def segment(
        self, image: Image.Image, points: Sequence[tuple[float, float]], labels: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Boolean masks (n, height, width) at the image's size and their predicted IoU scores (n,)."""
        import torch

        embedding = self.embedding(image)
        coords = to_model_coordinates(points, embedding.original_size, self.longest_edge)
        input_points = torch.tensor([[coords]], dtype=self.model.dtype, device=self.model.device)
        input_labels = torch.tensor([[list(labels)]], dtype=torch.long, device=self.model.device)
        with torch.inference_mode():
            output = self.model(
                image_embeddings=embedding.embeddings,
                input_points=input_points,
                input_labels=input_labels,
                multimask_output=True,
            )
        masks = self.processor.image_processor.post_process_masks(
            output.pred_masks.float().cpu(), [embedding.original_size], [embedding.reshaped_size]
        )[0][0]
        return masks.numpy().astype(bool), output.iou_scores[0, 0].float().cpu().numpy()


def load_segmenter(request: LoadRequest) -> PointSegmenter:
    """SAM (or SlimSAM) from a local folder: `SamModel` + `SamProcessor` with the PIL image processor."""
    from transformers import AutoImageProcessor, SamModel, SamProcessor

    model = SamModel.from_pretrained(str(request.path), dtype=request.dtype).to(request.device).eval()
    processor = SamProcessor(image_processor=AutoImageProcessor.from_pretrained(str(request.path), backend="pil"))
    return PointSegmenter(model, processor)


def to_model_coordinates(
    points: Sequence[tuple[float, float]], size: tuple[int, int], longest_edge: int
) -> list[list[float]]:
    """(x, y) in pixels of an image of `size` (height, width) → SAM's input frame (longest side resized).

    The same arithmetic as `SamProcessor`, which only does it together with preprocessing the image.
    """
    height, width = size
    scale = longest_edge / max(height, width)
    new_height, new_width = int(height * scale + 0.5), int(width * scale + 0.5)
    return [[x * new_width / width, y * new_height / height] for x, y in points]


# -- input and output ---------------------------------------------------------------------------


def parse_points(points: Any, size: tuple[int, int]) -> list[Point]:
    """Points `[x, y, label]` (original pixels; label 1 object, 0 background) checked against the image size.

    Accepts a list or its JSON text; `[x, y]` counts as an object point. InputError for an empty
    list, malformed points, points outside the image, or no object point at all.
    """
    width, height = size
    if isinstance(points, str):
        try:
            points = json.loads(points) if points.strip() else []
        except ValueError:
            raise InputError("Points must be a JSON list of [x, y, label], e.g. [[120, 80, 1]].") from None
    if points is None or (isinstance(points, list | tuple) and not points):
        raise InputError("Add at least one point: click on the object (or pass [[x, y, 1]] through the API).")
    if not isinstance(points, list | tuple):
        raise InputError("Points must be a list of [x, y, label], e.g. [[120, 80, 1], [300, 40, 0]].")
    if len(points) > MAX_POINTS:
        raise InputError(f"{len(points)} points is too many; use at most {MAX_POINTS}.")
    parsed: list[Point] = []
    for number, point in enumerate(points, start=1):
        if not isinstance(point, list | tuple) or len(point) not in (2, 3):
            raise InputError(f"Point {number} must be [x, y, label] (label 1 = object, 0 = background), got {point!r}.")
        x, y = (_number(value, number) for value in point[:2])
        label = point[2] if len(point) == 3 else FOREGROUND
        if isinstance(label, float) and label.is_integer():
            label = int(label)
        if label not in (FOREGROUND, BACKGROUND) or isinstance(label, str):
            raise InputError(f"Point {number} has label {label!r}: use 1 for the object (+) or 0 for background (−).")
        if not (0 <= x < width and 0 <= y < height):
            raise InputError(
                f"Point {number} ({x:g}, {y:g}) is outside the image, which is {width}×{height} pixels: "
                f"x must be between 0 and {width - 1}, y between 0 and {height - 1}."
            )
        parsed.append((x, y, int(label)))
    if not any(label == FOREGROUND for _, _, label in parsed):
        raise InputError("All points are background (−): add at least one object point (+, label 1).")
    return parsed


def _number(value: Any, number: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) == float("inf"):
        raise InputError(f"Point {number} needs numeric x and y pixel coordinates, got {value!r}.")
    return float(value)


def choose_mask(scores: np.ndarray, mask_index: Any) -> int:
    """The 0-based index of the mask to return: 0 picks the best score, 1…n picks that candidate."""
    try:
        index = int(mask_index or 0)
    except (TypeError, ValueError):
        raise InputError(f"The mask choice must be 0 (best) or 1–{len(scores)}.") from None
    if not 0 <= index <= len(scores):
        raise InputError(f"The mask choice must be 0 (best) or 1–{len(scores)}, got {mask_index}.")
    return int(np.argmax(scores)) if index == 0 else index - 1


def mask_image(mask: np.ndarray) -> Image.Image:
    """A boolean mask as a black-and-white 8-bit image (255 = object)."""
    return Image.fromarray(mask.astype(np.uint8) * 255, "L")


@dataclass(frozen=True)
class Segmentation:
    """What `segment` cut out: the chosen mask at the image's original size and every candidate's score."""

    mask: np.ndarray  # bool (height, width) at the original size, True = the object
    scores: list[float]  # SAM's predicted IoU of each candidate mask, in its order
    chosen: int  # which candidate `mask` is, 1-based
    area: float  # the fraction of the image the mask covers
    points: list[Point]  # the points it was given, in original pixels (label 1 object, 0 background)
    size: tuple[int, int]  # the image's (width, height)

    @property
    def score(self) -> float:
        """The chosen mask's score."""
        return self.scores[self.chosen - 1]


def segment(
    ctx: TaskContext,
    image: ImageSource,
    points: Any,
    mask_index: int = 0,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Segmentation:
    """Cut out the object the points show; returns the Segmentation (the chosen mask and every candidate's score).

    `points` are `[x, y, label]` in original pixels (a list or its JSON text); `mask_index` 0 picks the
    best-scoring of SAM's candidates, 1…n that candidate.
    """
    prepared = prepare_image(image, ctx.settings.max_image_pixels)
    parsed = parse_points(points, prepared.size)
    working = [prepared.to_working_point(x, y) for x, y, _ in parsed]
    labels = [label for _, _, label in parsed]
    with ctx.use(model, progress) as segmenter:
        masks, scores = segmenter.segment(prepared.working, working, labels)
    chosen = choose_mask(scores, mask_index)
    mask = prepared.to_original_mask(masks[chosen])
    return Segmentation(mask, [float(score) for score in scores], chosen + 1, float(mask.mean()), parsed, prepared.size)


def summary_json(result: Segmentation) -> dict[str, Any]:
    """The /segment endpoint's summary: scores, the chosen mask (1-based), its score and area, points, size."""
    return {
        "scores": [round(score, 4) + 0.0 for score in result.scores],  # + 0.0: no "-0.0"
        "mask": result.chosen,
        "score": round(result.score, 4) + 0.0,
        "area": round(result.area, 4),
        "points": [[round(x, 1), round(y, 1), label] for x, y, label in result.points],
        "size": list(result.size),
    }


# -- the clickable preview ----------------------------------------------------------------------


def display_copy(image: Image.Image, side: int = DISPLAY_SIDE) -> tuple[Image.Image, float]:
    """The image shrunk to at most `side` pixels on its longest side, and that scale (≤ 1)."""
    scale = min(1.0, side / max(image.size))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS), size[0] / image.width


def render_overlay(
    base: Image.Image, mask: np.ndarray | None, points: Sequence[Sequence[float]], scale: float
) -> Image.Image:
    """The preview with the mask tinted (and outlined) and the points drawn: green +, red −.

    `mask` has the preview's size; `points` are in original pixels and are multiplied by `scale`.
    """
    canvas = base.convert("RGB")
    if mask is not None and mask.any():
        pixels = np.asarray(canvas, dtype=np.float32)
        tint = np.array(MASK_COLOUR, dtype=np.float32)
        pixels[mask] = pixels[mask] * 0.45 + tint * 0.55
        inner = mask.copy()
        inner[1:, :] &= mask[:-1, :]
        inner[:-1, :] &= mask[1:, :]
        inner[:, 1:] &= mask[:, :-1]
        inner[:, :-1] &= mask[:, 1:]
        pixels[mask & ~inner] = (255, 255, 255)
        canvas = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    radius = max(5, round(min(canvas.size) / 50))
    for x, y, label in points:
        cx, cy = x * scale, y * scale
        fill = POINT_COLOURS.get(int(label), POINT_COLOURS[FOREGROUND])
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill, outline="white", width=2)
        half = radius * 0.55
        draw.line((cx - half, cy, cx + half, cy), fill="white", width=2)
        if int(label) == FOREGROUND:
            draw.line((cx, cy - half, cx, cy + half), fill="white", width=2)
    return canvas


def score_text(score: float) -> str:
    """A mask's score as shown: three decimals, never "-0.000"."""
    return f"{round(score, 3) + 0.0:.3f}"


def points_markdown(points: Sequence[Sequence[float]] | None) -> str:
    """The points as a person reads them: a table of number, x, y (original pixels) and what each adds."""
    if not points:
        return "**Points**: none yet. Click on the object in the preview."
    rows = [
        f"| {number} | {x:g} | {y:g} | {'+ object' if int(label) == FOREGROUND else '− background'} |"
        for number, (x, y, label) in enumerate(points, start=1)
    ]
    return "\n".join(
        ["**Points** (pixels of the original image)", "", "| Point | x | y | Adds |", "|--:|--:|--:|:--|", *rows]
    )


def summary_markdown(summary: dict[str, Any] | None) -> str:
    """The /segment summary (`summary_json`) as a person reads it: the mask shown, its score and area, all scores."""
    if not summary or not summary.get("scores"):
        return "**Masks**: click on the object to see SAM's candidate masks and their scores."
    scores, chosen = summary["scores"], summary["mask"]
    width, height = summary["size"]
    best = " (the best score)" if summary["score"] == max(scores) else ""
    rows = [
        f"| **{number} (shown)** | **{score_text(score)}** |"
        if number == chosen
        else f"| {number} | {score_text(score)} |"
        for number, score in enumerate(scores, start=1)
    ]
    return "\n".join(
        [
            f"**Mask {chosen}** of {len(scores)} is shown{best}: score {score_text(summary['score'])}, "
            f"covering {summary['area']:.1%} of the {width} × {height} px image.",
            "",
            "| Mask | Score (predicted IoU) |",
            "|:--|--:|",
            *rows,
        ]
    )


def mask_choices(scores: Sequence[float] | None) -> list[tuple[str, int]]:
    """Radio choices: "Best" and one per candidate mask with its score."""
    choices = [("Best", 0)]
    for number, score in enumerate(scores or (), start=1):
        choices.append((f"Mask {number} · {score_text(score)}", number))
    if not scores:
        choices += [(f"Mask {number}", number) for number in (1, 2, 3)]
    return choices


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    view = gr.State(None)  # {"base": preview image, "scale": preview / original}
    with gr.Row():
        with gr.Column():
            image = ImageInput(label="Image", height=280)
            mode = gr.Radio(
                [("+ object", FOREGROUND), ("− background", BACKGROUND)],
                value=FOREGROUND,
                label="A click adds",
                elem_id="segmentation-mode",
            )
            mask_index = gr.Radio(
                mask_choices(None), value=0, label="Mask", info="SAM proposes three masks; Best = highest score."
            )
            clear = gr.Button("Clear points")
            points_view = gr.Markdown(points_markdown(None), elem_id="segmentation-points")
            model = model_picker(ctx)
        with gr.Column():
            overlay = ImageOutput(
                label="Click on the object (upload an image first)",
                interactive=False,
                format="jpeg",
                elem_id="segmentation-overlay",
            )
            summary_view = gr.Markdown(summary_markdown(None), elem_id="segmentation-summary")
            mask = ImageOutput(
                label="Mask (PNG, original size)",
                format="png",
                image_mode="L",
                type="numpy",
                interactive=False,
                elem_id="segmentation-mask",
            )
    gr.Examples([[ctx.asset(name)] for name in EXAMPLES], inputs=[image])
    # The /segment endpoint's points and summary, as its clients know them (JSON); the page shows them
    # as tables above (points_view, summary_view).
    with gr.Group(visible=False):
        points = gr.JSON(value=[], label="Points [x, y, label] (original pixels)")
        scores = gr.JSON(label="Scores")

    @user_errors(ctx.spec.title)
    def segmentation_show(picture: str | None):
        cleared = ([], points_markdown(None), None, None, summary_markdown(None))
        if not picture:
            return None, None, *cleared, gr.Radio(choices=mask_choices(None), value=0)
        prepared = prepare_image(picture, ctx.settings.max_image_pixels)
        base, scale = display_copy(prepared.original)
        state = {"base": base, "scale": scale, "size": prepared.size}
        return base, state, *cleared, gr.Radio(choices=mask_choices(None), value=0)

    @user_errors(ctx.spec.title)
    def segmentation_add_point(current: list | None, state: dict | None, label: int, event: gr.SelectData):
        if not state or not event.index:
            raise InputError("Upload an image first, then click on the object in the preview.")
        width, height = state["size"]
        x = min(width - 1, max(0, round(event.index[0] / state["scale"])))
        y = min(height - 1, max(0, round(event.index[1] / state["scale"])))
        chosen = [*(current or []), [x, y, int(label)]]
        return chosen, points_markdown(chosen)

    @user_errors(ctx.spec.title)
    def segmentation_run(
        image: str | None,
        points: Any,
        mask_index: int,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        result = segment(ctx, image, points, mask_index, model, progress)
        return mask_image(result.mask), summary_json(result)

    @user_errors(ctx.spec.title)
    def segmentation_draw(
        state: dict | None, chosen_points: list | None, mask_pixels: np.ndarray | None, summary: dict | None
    ):
        if not state:
            return None, gr.Radio(), summary_markdown(summary)
        preview = None
        if mask_pixels is not None:
            resized = Image.fromarray(mask_pixels).resize(state["base"].size, Image.Resampling.NEAREST)
            preview = np.asarray(resized) > 127
        picture = render_overlay(state["base"], preview, chosen_points or [], state["scale"])
        return picture, gr.Radio(choices=mask_choices((summary or {}).get("scores"))), summary_markdown(summary)

    def segmentation_reset(state: dict | None):
        base = state["base"] if state else None
        cleared = ([], points_markdown(None), None, None, summary_markdown(None))
        return base, *cleared, gr.Radio(choices=mask_choices(None), value=0)

    private = {"api_visibility": "private"}
    shown = [points, points_view, mask, scores, summary_view]  # what a new image or "Clear points" resets
    image.change(segmentation_show, [image], [overlay, view, *shown, mask_index], **private)
    clicked = overlay.select(segmentation_add_point, [points, view, mode], [points, points_view], **private)
    segmented = clicked.success(
        segmentation_run, [image, points, mask_index, model], [mask, scores], api_name="segment"
    )
    drawn = [overlay, mask_index, summary_view]
    segmented.success(segmentation_draw, [view, points, mask, scores], drawn, **private)
    rechosen = mask_index.input(segmentation_run, [image, points, mask_index, model], [mask, scores], **private)
    rechosen.success(segmentation_draw, [view, points, mask, scores], drawn, **private)
    clear.click(segmentation_reset, [view], [overlay, *shown, mask_index], **private)


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    no_pipeline="transformers' `mask-generation` pipeline segments everything (and needs torchvision); "
    "clicked points go to SAM directly (below).",
    direct="""import numpy as np
import torch
from PIL import Image
from transformers import SamModel, SamProcessor

$pick_device
processor = SamProcessor.from_pretrained($model$model_options)
model = SamModel.from_pretrained($model$model_options).to(device)
image = Image.open($image).convert("RGB")
points = $points  # [x, y, 1] on the object, [x, y, 0] on what is not
inputs = processor(
    image,
    input_points=[[[[x, y] for x, y, _ in points]]],
    input_labels=[[[label for _, _, label in points]]],
    return_tensors="pt",
).to(device)
with torch.no_grad():
    outputs = model(**inputs, multimask_output=True)
masks = processor.image_processor.post_process_masks(
    outputs.pred_masks.cpu(), inputs["original_sizes"].cpu(), inputs["reshaped_input_sizes"].cpu()
)[0][0]
scores = outputs.iou_scores[0, 0].tolist()
mask = masks[$mask_index].numpy()
Image.fromarray((mask * 255).astype(np.uint8)).save("mask.png")
print("mask.png:", mask.sum(), "pixels; candidates' scores", [round(s, 3) for s in scores])
""",
    packages=("transformers", "torch", "numpy", "pillow"),
)
