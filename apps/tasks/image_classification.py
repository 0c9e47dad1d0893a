"""Zero-shot image classification: an image and labels you choose in, a CLIP score per label out.

The task function `classify_image` returns `ImageLabelScores`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from apps.core.errors import InputError
from apps.core.images import ImageSource, prepare_image
from apps.core.labels import parse_labels as parse_candidate_labels
from apps.core.manager import ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.batching import MAX_BATCH, Batcher
from apps.shared.clip import ClipEncoder
from apps.shared.code import literal
from apps.ui.components import ImageInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

DEFAULT_TEMPLATE = "a photo of a {}."  # CLIP's own prompt for zero-shot ImageNet
MAX_TEMPLATE_CHARS = 200


def parse_labels(text: Any) -> list[str]:
    """Comma-separated labels → distinct labels in order; InputError for empties, too few or too many."""
    return parse_candidate_labels(text, example="apple, banana, car", why_two="CLIP compares the image with each.")


def clean_template(template: str | None) -> str:
    """The prompt template ({} stands for the label); the default when empty; InputError if malformed."""
    if template is not None and not isinstance(template, str):
        raise InputError("The prompt template must be text.")
    template = " ".join((template or "").split())
    if not template:
        return DEFAULT_TEMPLATE
    if len(template) > MAX_TEMPLATE_CHARS:
        raise InputError(f"The template is {len(template)} characters long; keep it under {MAX_TEMPLATE_CHARS}.")
    if template.count("{}") != 1:
        raise InputError("The template must contain {} exactly once, where the label goes: e.g. “a photo of a {}.”")
    return template


def prompts_for(labels: Sequence[str], template: str) -> list[str]:
    """One prompt per label: the template with {} replaced (other braces stay as they are)."""
    return [template.replace("{}", label) for label in labels]


def classify_images(
    clip: ClipEncoder, images: Sequence[Image.Image], prompts: Sequence[Sequence[str]]
) -> list[np.ndarray]:
    """The forward pass for a batch of requests: per image, softmax probabilities over its own prompts.

    Images are embedded in one go (and cached); prompts shared between requests are embedded once.
    """
    image_vectors = clip.embed_images(images)
    unique = list(dict.fromkeys(prompt for group in prompts for prompt in group))
    text_vectors = dict(zip(unique, clip.embed_texts(unique), strict=True))
    scale = clip.logit_scale
    results = []
    for vector, group in zip(image_vectors, prompts, strict=True):
        logits = scale * (np.stack([text_vectors[prompt] for prompt in group]) @ vector)
        exp = np.exp(logits - logits.max())
        results.append(exp / exp.sum())
    return results


def classify_requests(clip: ClipEncoder, requests: Sequence[tuple[Image.Image, list[str]]]) -> list[np.ndarray]:
    """`classify_images` over (image, prompts) pairs of several requests: one result per request."""
    return classify_images(clip, [image for image, _ in requests], [prompts for _, prompts in requests])


# Concurrent requests share forward passes (see apps/shared/batching.py); each validates its input alone first.
CLASSIFY_BATCHES: Batcher[tuple[Image.Image, list[str]], np.ndarray] = Batcher(classify_requests)


@dataclass(frozen=True)
class ImageLabelScores:
    """How well each label describes the image (probabilities summing to 1), best first."""

    scores: dict[str, float]  # label → probability, highest first (ties keep the labels' order)
    template: str  # the prompt each label was put into, e.g. "a photo of a {}."

    @property
    def labels(self) -> list[str]:
        """The labels, best first."""
        return list(self.scores)

    @property
    def best(self) -> str:
        """The label that scored highest."""
        return next(iter(self.scores))


def classify_image(
    ctx: TaskContext,
    image: ImageSource,
    labels: str | None,
    template: str | None = None,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> ImageLabelScores:
    """Score the comma-separated labels against the image with CLIP; returns the ImageLabelScores, best first.

    `template` puts each label into a prompt ({} stands for the label); empty means DEFAULT_TEMPLATE.
    """
    prepared = prepare_image(image, ctx.settings.max_image_pixels)
    names = parse_labels(labels)
    prompt = clean_template(template)
    with ctx.use(model, progress) as clip:
        probabilities = CLASSIFY_BATCHES.run(clip, (prepared.working, prompts_for(names, prompt)))
    order = np.argsort(-probabilities, kind="stable")
    return ImageLabelScores({names[i]: float(probabilities[i]) for i in order}, prompt)


EXAMPLES = (  # (image under assets/, labels, template) rows
    ("mm-apple.png", "apple, banana, car, house", "a drawing of a {}."),
    ("mm-night-sky.png", "day, night", "a picture taken at {}."),
    ("mm-stop-sign.png", "stop sign, traffic light, tree", ""),
)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            image_box = ImageInput(label="Image", height=320)
            labels_box = gr.Textbox(
                label="Labels (comma-separated)", placeholder="apple, banana, car, house", max_lines=2
            )
            template_box = gr.Textbox(
                label="Prompt template (optional)",
                placeholder=DEFAULT_TEMPLATE,
                info="{} is replaced by each label; empty uses “a photo of a {}.”",
                max_lines=1,
            )
            model_box = model_picker(ctx)
            button = gr.Button("Classify", variant="primary")
        with gr.Column():
            result = gr.Label(label="Scores", num_top_classes=10, elem_id="image-classification-result")
    gr.Examples(
        [[ctx.asset(name), labels, template] for name, labels, template in EXAMPLES],
        inputs=[image_box, labels_box, template_box],
    )

    # The parameter names are the API's (`client.predict(image=..., labels=..., template=..., model=...)`).
    @user_errors(ctx.spec.title)
    def run(
        image: str | None,
        labels: str,
        template: str,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        return classify_image(ctx, image, labels, template, model, progress).scores

    gr.on(
        [button.click, labels_box.submit],
        run,
        [image_box, labels_box, template_box, model_box],
        [result],
        api_name="classify_image",
        concurrency_limit=MAX_BATCH,  # requests run side by side; their model calls are batched
    )


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------


def _code_fields(values: Mapping[str, Any]) -> dict[str, str]:
    labels = [label.strip() for label in str(values.get("labels") or "").split(",") if label.strip()]
    template = str(values.get("template") or "").strip() or DEFAULT_TEMPLATE
    return {"label_list": literal(labels), "template": literal(template)}


CODE = CodeRecipe(
    pipeline="""import torch
from PIL import Image
from transformers import pipeline

$pick_device
classify = pipeline("zero-shot-image-classification", model=$model$model_options, device=device)
image = Image.open($image).convert("RGB")
print(classify(image, candidate_labels=$label_list, hypothesis_template=$template))
""",
    direct="""import torch
from PIL import Image
from transformers import AutoModel, AutoProcessor

$pick_device
processor = AutoProcessor.from_pretrained($model$model_options)
model = AutoModel.from_pretrained($model$model_options).to(device)
image = Image.open($image).convert("RGB")
labels = $label_list
prompts = [$template.format(label) for label in labels]
inputs = processor(images=image, text=prompts, return_tensors="pt", padding=True).to(device)
with torch.no_grad():
    scores = model(**inputs).logits_per_image.softmax(dim=-1)[0]
print({label: round(score.item(), 3) for label, score in zip(labels, scores)})
""",
    packages=("transformers", "torch", "pillow"),
    fields=_code_fields,
)
