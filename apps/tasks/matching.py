"""Image–text matching: an image and some texts in, the probability that each text describes the image out.

The task function `match` returns `Matches`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from apps.core.errors import InputError
from apps.core.images import ImageSource, prepare_image
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.code import literal
from apps.ui.components import ImageInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

MAX_TEXTS = 20
MAX_TEXT_CHARS = 300
MATCH_THRESHOLD = 0.5


def _pipeline_class() -> type:
    """The pipeline class, built on first use so that importing the app does not import transformers."""
    import torch
    from transformers import Pipeline

    class ImageTextMatchingPipeline(Pipeline):
        """Image + texts → P(text describes image) from BLIP's image–text matching (ITM) head.

        The image is encoded once and shared by every text, instead of once per text as calling
        the model with the image repeated would do.
        """

        def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict, dict, dict]:
            return {}, {}, {}

        def preprocess(self, inputs: dict[str, Any]) -> dict[str, Any]:
            model_inputs = self.processor(
                images=inputs["image"],
                text=inputs["texts"],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.model.config.text_config.max_position_embeddings,
            )
            model_inputs["pixel_values"] = model_inputs["pixel_values"].to(self.model.dtype)
            return {**model_inputs, "texts": list(inputs["texts"])}

        def _forward(self, model_inputs: dict[str, Any]) -> dict[str, Any]:
            texts = model_inputs.pop("texts")
            image = self.model.vision_model(pixel_values=model_inputs["pixel_values"]).last_hidden_state
            image = image.expand(len(texts), -1, -1)
            image_mask = torch.ones(image.shape[:-1], dtype=torch.long, device=image.device)
            fused = self.model.text_encoder(
                input_ids=model_inputs["input_ids"],
                attention_mask=model_inputs["attention_mask"],
                encoder_hidden_states=image,
                encoder_attention_mask=image_mask,
            ).last_hidden_state
            logits = self.model.itm_head(fused[:, 0, :])  # [no match, match] per text
            return {"probabilities": logits.float().softmax(dim=-1)[:, 1], "texts": texts}

        def postprocess(self, outputs: dict[str, Any]) -> list[dict[str, Any]]:
            scores = outputs["probabilities"].tolist()
            return [{"text": text, "score": score} for text, score in zip(outputs["texts"], scores, strict=True)]

    return ImageTextMatchingPipeline


def load_matcher(request: LoadRequest) -> Any:
    """BLIP's image–text retrieval model (with its ITM head) and processor, as a pipeline."""
    from transformers import AutoProcessor, BlipForImageTextRetrieval

    processor = AutoProcessor.from_pretrained(request.path, trust_remote_code=request.trust_remote_code)
    model = BlipForImageTextRetrieval.from_pretrained(request.path, dtype=request.dtype)
    model.eval()
    return _pipeline_class()(model=model, processor=processor, device=request.device)


def parse_texts(text: str | None) -> list[str]:
    """One candidate description per non-blank line; InputError for none, too many or too long."""
    if text is not None and not isinstance(text, str):
        raise InputError("The descriptions must be text, one per line.")
    texts = [" ".join(line.split()) for line in (text or "").splitlines()]
    texts = [line for line in texts if line]
    if not texts:
        raise InputError("Type at least one description of the image (one per line) to check it against the image.")
    if len(texts) > MAX_TEXTS:
        raise InputError(f"{len(texts)} descriptions is too many; check at most {MAX_TEXTS} at a time.")
    for number, line in enumerate(texts, start=1):
        if len(line) > MAX_TEXT_CHARS:
            raise InputError(
                f"Description {number} is {len(line):,} characters long; keep each under {MAX_TEXT_CHARS}."
            )
    return texts


@dataclass(frozen=True)
class Match:
    """One text and the probability that it describes the image."""

    text: str
    probability: float

    @property
    def describes(self) -> bool:
        """Whether the model thinks the text describes the image (probability at least MATCH_THRESHOLD)."""
        return self.probability >= MATCH_THRESHOLD


@dataclass(frozen=True)
class Matches:
    """Each text's match with the image, in the order the texts were given."""

    matches: list[Match]

    @property
    def best(self) -> Match:
        """The text most likely to describe the image (the first of equals)."""
        return max(self.matches, key=lambda match: match.probability)


MATCH_COLUMNS = ["text", "probability", "describes the image"]


def results_frame(result: Matches) -> pd.DataFrame:
    """Input order kept: text, probability that it describes the image, and a yes/no verdict."""
    rows = [[match.text, round(match.probability, 4), "yes" if match.describes else "no"] for match in result.matches]
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def summary_markdown(result: Matches) -> str:
    """One line naming the text most likely to describe the image."""
    best = result.best
    return f"**Best match:** «{best.text}» (probability {best.probability:.3f})"


def match(
    ctx: TaskContext,
    image: ImageSource,
    texts: str | None,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Matches:
    """How likely each text (one per line) describes the image; returns the Matches, in the texts' order."""
    prepared = prepare_image(image, ctx.settings.max_image_pixels)
    candidates = parse_texts(texts)
    with ctx.use(model, progress) as pipe:
        results = pipe({"image": prepared.working, "texts": candidates})
    return Matches([Match(row["text"], float(row["score"])) for row in results])


EXAMPLE_TEXTS = "a red apple on a table\na green car on a road\na drawing of a fruit"
EXAMPLES = (  # (image under assets/, texts) rows
    ("mm-apple.png", EXAMPLE_TEXTS),
    ("mm-night-sky.png", "the moon and stars at night\na sunny beach\na city street"),
)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            image_box = ImageInput(label="Image", height=320)
            texts_box = gr.Textbox(label="Descriptions (one per line)", lines=4, placeholder=EXAMPLE_TEXTS)
            model_box = model_picker(ctx)
            button = gr.Button("Match", variant="primary")
        with gr.Column():
            best = gr.Markdown(label="Best match", elem_id="matching-best")
            table = gr.Dataframe(
                headers=MATCH_COLUMNS,
                label="Probability that each text describes the image",
                interactive=False,
                wrap=True,
            )
    gr.Examples([[ctx.asset(name), texts] for name, texts in EXAMPLES], inputs=[image_box, texts_box])

    # The parameter names are the API's (`client.predict(image=..., texts=..., model=...)`).
    @user_errors(ctx.spec.title)
    def run(image: str | None, texts: str, model: str, progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        result = match(ctx, image, texts, model, progress)
        return results_frame(result), summary_markdown(result)

    gr.on([button.click], run, [image_box, texts_box, model_box], [table, best], api_name="match")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    no_pipeline="transformers has no image–text matching pipeline: BLIP's matching head is called directly (below).",
    direct="""import torch
from PIL import Image
from transformers import AutoProcessor, BlipForImageTextRetrieval

$pick_device
processor = AutoProcessor.from_pretrained($model$model_options)
model = BlipForImageTextRetrieval.from_pretrained($model$model_options).to(device)
image = Image.open($image).convert("RGB")
texts = $text_list
for text in texts:
    inputs = processor(images=image, text=text, return_tensors="pt").to(device)
    with torch.no_grad():
        match = model(**inputs, use_itm_head=True).itm_score.softmax(dim=-1)[0, 1]
    print(round(match.item(), 3), text)  # how likely the text describes the image
""",
    packages=("transformers", "torch", "pillow"),
    fields=lambda values: {
        "text_list": literal([line.strip() for line in str(values.get("texts") or "").splitlines() if line.strip()])
    },
)
