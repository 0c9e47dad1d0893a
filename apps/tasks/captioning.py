"""Image captioning: an image (and optionally the words a caption should start with) in, a caption out.

The task function `caption` returns a `Caption`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from apps.core.errors import InputError, ShowcaseError
from apps.core.images import ImageSource, prepare_image
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.code import literal
from apps.ui.components import ImageInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

# BLIP's captioning models were fine-tuned with this prompt, and BLIP drops it from its captions;
# with no prefix we do the same, so the caption reads "A dog on a beach", not "a picture of a dog…".
DEFAULT_PREFIX = "a picture of"
MAX_PREFIX_CHARS = 200
GENERATION = {"max_new_tokens": 30, "min_new_tokens": 2, "num_beams": 3}


def load_captioner(request: LoadRequest) -> Any:
    """An `image-text-to-text` pipeline (transformers 5's name for image-to-text) from a local folder."""
    from transformers import pipeline

    return pipeline(
        "image-text-to-text",
        model=str(request.path),
        device=request.device,
        dtype=request.dtype,
        trust_remote_code=request.trust_remote_code,
    )


def clean_prefix(prefix: str | None) -> str:
    """The user's caption start with whitespace collapsed ("" when none); InputError if too long."""
    if prefix is not None and not isinstance(prefix, str):
        raise InputError("The caption prefix must be text.")
    prefix = " ".join((prefix or "").split())
    if len(prefix) > MAX_PREFIX_CHARS:
        raise InputError(f"The prefix is {len(prefix):,} characters long; keep it under {MAX_PREFIX_CHARS}.")
    return prefix


def compose_caption(prefix: str, continuation: str) -> str:
    """The caption as a sentence: the user's prefix (if any) + what the model wrote after the prompt."""
    continuation = " ".join(continuation.split())
    if not continuation:
        # Returning just the prefix would echo the user's words back as if they were a caption.
        shown = f"«{prefix}»" if prefix else "the image"
        raise ShowcaseError(f"The model wrote nothing after {shown}; try another prefix (or none), or another model.")
    caption = f"{prefix} {continuation}" if prefix else continuation
    return caption[0].upper() + caption[1:]


@dataclass(frozen=True)
class Caption:
    """A caption for an image: one sentence, starting with the prefix it was asked to start with."""

    text: str


def caption(
    ctx: TaskContext,
    image: ImageSource,
    prefix: str | None = None,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Caption:
    """Describe the image in one sentence (continuing `prefix` if given); returns the Caption."""
    prepared = prepare_image(image, ctx.settings.max_image_pixels)
    prefix = clean_prefix(prefix)
    with ctx.use(model, progress) as pipe:
        # return_full_text=False: the pipeline removes the prompt, we put back the user's own words.
        outputs = pipe(
            images=prepared.working, text=prefix or DEFAULT_PREFIX, return_full_text=False, generate_kwargs=GENERATION
        )
    return Caption(compose_caption(prefix, outputs[0]["generated_text"]))


EXAMPLES = (  # (image under assets/, prefix) rows
    ("mm-sunset.png", ""),
    ("mm-house.png", "a drawing of"),
    ("mm-night-sky.png", ""),
)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            image_box = ImageInput(label="Image", height=320)
            prefix_box = gr.Textbox(
                label="Start the caption with (optional)",
                placeholder="e.g. a photograph of",
                info="Leave empty for a plain caption; otherwise the caption continues your words.",
                max_lines=1,
            )
            model_box = model_picker(ctx)
            button = gr.Button("Caption", variant="primary")
        with gr.Column():
            result = gr.Textbox(label="Caption", interactive=False, elem_id="caption-result")
    gr.Examples([[ctx.asset(name), prefix] for name, prefix in EXAMPLES], inputs=[image_box, prefix_box])

    # The parameter names are the API's (`client.predict(image=..., prefix=..., model=...)`).
    @user_errors(ctx.spec.title)
    def run(image: str | None, prefix: str, model: str, progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        return caption(ctx, image, prefix, model, progress).text

    gr.on([button.click, prefix_box.submit], run, [image_box, prefix_box, model_box], [result], api_name="caption")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    pipeline="""import torch
from PIL import Image
from transformers import pipeline

$pick_device
caption = pipeline("image-text-to-text", model=$model$model_options, device=device)
image = Image.open($image).convert("RGB")
# BLIP continues the words it is given ($prompt_text); the app puts your own prefix back in front.
result = caption(images=image, text=$prompt, return_full_text=False, generate_kwargs=$generation)
print(result[0]["generated_text"])
""",
    direct="""import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

$pick_device
processor = AutoProcessor.from_pretrained($model$model_options)
model = AutoModelForImageTextToText.from_pretrained($model$model_options).to(device)
image = Image.open($image).convert("RGB")
inputs = processor(images=image, text=$prompt, return_tensors="pt").to(device)
ids = model.generate(**inputs, **$generation)
print(processor.decode(ids[0], skip_special_tokens=True))
""",
    packages=("transformers", "torch", "pillow"),
    fields=lambda values: {
        "prompt": literal(str(values.get("prefix") or "").strip() or DEFAULT_PREFIX),
        "prompt_text": str(values.get("prefix") or "").strip() or DEFAULT_PREFIX,
        "generation": literal(GENERATION),
    },
)
