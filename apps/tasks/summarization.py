"""Summarization: a document → a short summary, map-reduce style when it is longer than the model's input.

The document is split by tokens (between sentences) into chunks the model takes whole; each chunk is
summarized, the chunk summaries are summarized again until they fit, and one final pass writes the
summary at the length the user asked for. The user sees how many chunks and rounds it took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from apps.core.errors import InputError
from apps.core.inputs import require_text
from apps.core.manager import LoadRequest, ProgressFn
from apps.core.spec import CodeRecipe, TaskContext
from apps.shared.text import chunk_text, pack
from apps.ui.components import SliderInput
from apps.ui.context import TabContext
from apps.ui.errors import user_errors
from apps.ui.model import model_header, model_picker

MAX_SUMMARY_TOKENS = 1024
DEFAULT_MIN_TOKENS = 30
DEFAULT_MAX_TOKENS = 130
MAX_ROUNDS = 8  # each round at least halves the text (see map_reduce), so this is never reached in practice


def load_summarization(request: LoadRequest) -> Any:
    """A SummarizationPipeline (apps/shared/seq2seq.py) for a local BART / Pegasus / T5-style folder."""
    from apps.shared.seq2seq import load_summarization as load

    return load(request)


def validate(text: Any, min_tokens: Any, max_tokens: Any, max_chars: int) -> tuple[str, int, int]:
    """The document and the summary length bounds, checked; raises InputError with what to fix."""
    text = require_text(text, max_chars, what="document", empty="Paste a document to summarize.")
    try:
        low, high = int(min_tokens), int(max_tokens)
    except (TypeError, ValueError):
        raise InputError("Minimum and maximum summary length must be whole numbers of tokens.") from None
    if not 1 <= high <= MAX_SUMMARY_TOKENS:
        raise InputError(f"The maximum summary length must be between 1 and {MAX_SUMMARY_TOKENS} tokens.")
    if not 0 <= low <= high:
        raise InputError("The minimum summary length must be between 0 and the maximum length.")
    return text, low, high


@dataclass
class Summary:
    """The summary and how it was made."""

    text: str
    chunks: int  # chunks the document was split into
    rounds: int  # summarizing passes (1 when the document fit at once)
    tokens: int  # tokens of the document
    max_tokens: int  # the summary's length limit, after capping it to what the model can write
    capped: bool = False  # whether the asked maximum length was lowered to what the model can write


def map_reduce(pipe: Any, text: str, min_tokens: int, max_tokens: int, progress: ProgressFn | None = None) -> Summary:
    """Summarize `text` of any length with a pipeline whose input is limited to `pipe.input_limit` tokens."""
    limit = max(16, pipe.input_limit - pipe.special_tokens)
    capped = max_tokens > pipe.output_limit
    max_tokens = min(max_tokens, pipe.output_limit)  # the decoder cannot write past its positions
    min_tokens = min(min_tokens, max_tokens)
    # Chunk summaries must leave room to pack at least two per chunk, so every round at least halves the text.
    partial_max = max(4, min(max_tokens, limit // 3))
    chunks = chunk_text(text, pipe.count_tokens, limit)
    first, rounds = len(chunks), 0
    while len(chunks) > 1:
        rounds += 1
        if rounds >= MAX_ROUNDS:
            raise InputError("This document is too long to summarize with this model; split it and try again.")
        summaries = []
        for index, chunk in enumerate(chunks):
            if progress is not None:
                progress((index, len(chunks)), desc=f"Round {rounds}: summarizing chunk {index + 1} of {len(chunks)}…")
            result = pipe(chunk, max_new_tokens=partial_max, min_new_tokens=min(min_tokens, partial_max))
            summaries.append(result["summary_text"])
        chunks = pack([s for s in summaries if s.strip()], pipe.count_tokens, limit, joiner="\n") or [""]
    if progress is not None:
        progress((first if rounds else 0, max(first, 1)), desc="Writing the summary…")
    final = pipe(chunks[0], max_new_tokens=max_tokens, min_new_tokens=min_tokens)
    return Summary(final["summary_text"], first, rounds + 1, pipe.count_tokens(text), max_tokens, capped)


def info_markdown(summary: Summary) -> str:
    """How the summary was made, for the user: chunks, rounds, and any cap on its length."""
    if summary.chunks == 1:
        text = f"The document ({summary.tokens:,} tokens) fit the model in one piece: 1 chunk."
    else:
        text = (
            f"The document ({summary.tokens:,} tokens) was longer than the model's input, so it was split into "
            f"**{summary.chunks} chunks**; their summaries were combined in {summary.rounds} rounds."
        )
    if summary.capped:
        text += f" This model writes at most {summary.max_tokens} tokens, so the maximum length was lowered to that."
    return text


def summarize(
    ctx: TaskContext,
    text: str,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    model: str | None = None,
    progress: ProgressFn | None = None,
) -> Summary:
    """The summary of a document of any length, with how it was made (chunks, rounds, any length cap)."""
    text, low, high = validate(text, min_tokens, max_tokens, ctx.settings.max_text_chars)
    with ctx.use(model, progress) as pipe:
        return map_reduce(pipe, text, low, high, progress)


EXAMPLES = (
    "The city council approved a plan on Tuesday to turn the old railway line into a park. The project "
    "will add four kilometres of paths for walking and cycling, plant two thousand trees and build three "
    "playgrounds. Work starts next spring and should take two years. Supporters say the park will give "
    "residents of the crowded east side their first large green space, while critics worry about the cost "
    "of upkeep. The council expects most of the money to come from a regional fund for urban renewal.",
)


def build_tab(ctx: TabContext) -> None:
    model_header(ctx)
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="Document", lines=12, placeholder=EXAMPLES[0])
            with gr.Row():
                low = SliderInput(0, 512, value=DEFAULT_MIN_TOKENS, step=1, label="Minimum length (tokens)")
                high = SliderInput(
                    1, MAX_SUMMARY_TOKENS, value=DEFAULT_MAX_TOKENS, step=1, label="Maximum length (tokens)"
                )
            model = model_picker(ctx)
            button = gr.Button("Summarize", variant="primary")
        with gr.Column():
            summary = gr.Textbox(label="Summary", lines=8, buttons=["copy"], elem_id="summarization-summary")
            info = gr.Markdown(label="How it was summarized", elem_id="summarization-info")
    gr.Examples([[example] for example in EXAMPLES], inputs=[text])

    @user_errors(ctx.spec.title)
    def run(
        text: str,
        min_tokens: float,
        max_tokens: float,
        model: str,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ) -> tuple[str, str]:
        summary = summarize(ctx, text, min_tokens, max_tokens, model, progress)
        return summary.text, info_markdown(summary)

    button.click(run, [text, low, high, model], [summary, info], api_name="summarize")


# -- "Use it in code" (apps/shared/code.py fills in the last call's values) ----------------------

CODE = CodeRecipe(
    no_pipeline="transformers 5 removed the `summarization` pipeline: the model is loaded directly (below).",
    direct="""import torch
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

$pick_device
tokenizer = AutoTokenizer.from_pretrained($model$model_options)
model = AutoModelForSeq2SeqLM.from_pretrained($model$model_options).to(device)
text = $text
# (The app summarizes a long document in chunks, then summarizes the summaries.)
inputs = tokenizer(text, return_tensors="pt", truncation=True).to(device)  # as much as the model reads
output = model.generate(**inputs, min_new_tokens=$min_tokens, max_new_tokens=$max_tokens)
print(tokenizer.decode(output[0], skip_special_tokens=True))
""",
)
