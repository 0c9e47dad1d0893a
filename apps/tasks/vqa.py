"""Visual question answering: an image and a question about it in, a short answer out.

The task function `answer` returns an `Answer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from apps.core.errors import InputError
from apps.core.images import ImageSource, prepare_image
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.ui.components import ImageInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

MAX_QUESTION_CHARS = 500
MAX_ANSWER_TOKENS = 20


def _pipeline_class() -> type:
    """The pipeline class, built on first use so that importing the app does not import transformers."""
    from transformers import Pipeline

    class VisualQuestionAnsweringPipeline(Pipeline):
        """Image + question → answers, for generative (BLIP) and classifier (ViLT) VQA models.

        transformers 5 removed its visual-question-answering pipeline, and `image-text-to-text` would
        load BLIP's VQA checkpoints without the question encoder; this keeps the usual three stages.
        """

        def _sanitize_parameters(
            self, max_new_tokens: int | None = None, top_k: int | None = None, **kwargs: Any
        ) -> tuple[dict, dict, dict]:
            forward = {"max_new_tokens": max_new_tokens} if max_new_tokens is not None else {}
            postprocess = {"top_k": top_k} if top_k is not None else {}
            return {}, forward, postprocess

        def preprocess(self, inputs: dict[str, Any]) -> dict[str, Any]:
            text_config = getattr(self.model.config, "text_config", self.model.config)
            model_inputs = self.processor(
                images=inputs["image"],
                text=inputs["question"],
                return_tensors="pt",
                truncation=True,
                max_length=getattr(text_config, "max_position_embeddings", 512),
            )
            model_inputs["pixel_values"] = model_inputs["pixel_values"].to(self.model.dtype)
            return dict(model_inputs)

        def _forward(self, model_inputs: dict[str, Any], max_new_tokens: int = MAX_ANSWER_TOKENS) -> dict[str, Any]:
            if self.model.can_generate():
                return {"sequences": self.model.generate(**model_inputs, max_new_tokens=max_new_tokens)}
            return {"logits": self.model(**model_inputs).logits}

        def postprocess(self, outputs: dict[str, Any], top_k: int = 1) -> list[dict[str, Any]]:
            if "sequences" in outputs:
                answer = self.processor.batch_decode(outputs["sequences"], skip_special_tokens=True)[0]
                return [{"answer": " ".join(answer.split()), "score": None}]
            # ViLT's VQA head is trained as multi-label (one sigmoid per answer), not a softmax.
            probabilities = outputs["logits"][0].float().sigmoid()
            scores, ids = probabilities.topk(min(top_k, probabilities.numel()))
            labels = self.model.config.id2label
            return [{"answer": labels[int(i)], "score": float(s)} for s, i in zip(scores, ids, strict=True)]

    return VisualQuestionAnsweringPipeline


def load_vqa_pipeline(request: LoadRequest) -> Any:
    """A VQA pipeline around the model's `AutoModelForVisualQuestionAnswering` class and processor."""
    from transformers import AutoModelForVisualQuestionAnswering, AutoProcessor

    processor = AutoProcessor.from_pretrained(request.path, trust_remote_code=request.trust_remote_code)
    model = AutoModelForVisualQuestionAnswering.from_pretrained(
        request.path, dtype=request.dtype, trust_remote_code=request.trust_remote_code
    )
    model.eval()
    return _pipeline_class()(model=model, processor=processor, device=request.device)


def clean_question(question: str | None) -> str:
    """The question with whitespace collapsed; InputError if it is empty, not text or too long."""
    if question is not None and not isinstance(question, str):
        raise InputError("The question must be text.")
    question = " ".join((question or "").split())
    if not question:
        raise InputError("Type a question about the image, e.g. “What colour is the car?”.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"The question is {len(question):,} characters long; ask in at most {MAX_QUESTION_CHARS}.")
    return question


@dataclass(frozen=True)
class Answer:
    """The model's answer to a question about an image."""

    text: str  # "" when the model answered nothing
    score: float | None = None  # a classifier's confidence (ViLT); None for a generated answer (BLIP)


def answer(
    ctx: TaskContext,
    image: ImageSource,
    question: str | None,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Answer:
    """Answer a question about the image; returns the Answer (with a confidence when the model gives one)."""
    prepared = prepare_image(image, ctx.settings.max_image_pixels)
    question = clean_question(question)
    with ctx.use(model, progress) as pipe:
        results = pipe({"image": prepared.working, "question": question}, max_new_tokens=MAX_ANSWER_TOKENS)
    best = results[0]
    return Answer(best["answer"].strip(), None if best["score"] is None else float(best["score"]))


EMPTY_ANSWER = "(the model gave an empty answer)"  # what the endpoint says rather than an empty string
EXAMPLES = (  # (image under assets/, question) rows
    ("mm-stop-sign.png", "What does the sign say?"),
    ("mm-house.png", "What colour is the door?"),
    ("mm-night-sky.png", "Is it day or night?"),
)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            image_box = ImageInput(label="Image", height=320)
            question_box = gr.Textbox(label="Question", placeholder="What is in the picture?", max_lines=2)
            model_box = model_picker(ctx)
            button = gr.Button("Answer", variant="primary")
        with gr.Column():
            result = gr.Textbox(label="Answer", interactive=False, elem_id="vqa-answer")
    gr.Examples([[ctx.asset(name), question] for name, question in EXAMPLES], inputs=[image_box, question_box])

    # The parameter names are the API's (`client.predict(image=..., question=..., model=...)`).
    @user_errors(ctx.spec.title)
    def run(image: str | None, question: str, model: str, progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        return answer(ctx, image, question, model, progress).text or EMPTY_ANSWER

    gr.on([button.click, question_box.submit], run, [image_box, question_box, model_box], [result], api_name="answer")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    no_pipeline="transformers 5 removed the `visual-question-answering` pipeline: the model is loaded "
    "directly (below).",
    direct="""import torch
from PIL import Image
from transformers import AutoModelForVisualQuestionAnswering, AutoProcessor

$pick_device
processor = AutoProcessor.from_pretrained($model$model_options)
model = AutoModelForVisualQuestionAnswering.from_pretrained($model$model_options).to(device)
image = Image.open($image).convert("RGB")
inputs = processor(images=image, text=$question, return_tensors="pt").to(device)
with torch.no_grad():
    if model.config.model_type == "vilt":  # ViLT picks one of its known answers
        scores = model(**inputs).logits.sigmoid()[0]
        print(model.config.id2label[scores.argmax().item()], round(scores.max().item(), 3))
    else:  # BLIP writes its answer
        ids = model.generate(**inputs, max_new_tokens=20)
        print(processor.decode(ids[0], skip_special_tokens=True))
""",
    packages=("transformers", "torch", "pillow"),
)
