"""Bad-input matrix: every public endpoint gets every bad input that fits its parameters.

Each case says what must happen. Most inputs must fail with a clear message: a sentence matching the
case's pattern, never gradio's generic "upstream Gradio app has raised an exception", a traceback or a
leaked Python exception ("AttributeError: ..."). Some are legitimately accepted (silence transcribes to
nothing and says so; an empty caption prefix means none; a huge image is downscaled) and their answer's
shape is checked. After every refused input the same endpoint must still answer a good request: its
reference request from the registry (`tests/reference_requests.py`), which every case starts from.

`test_every_endpoint_and_parameter_has_bad_inputs` reads the registry and the live API: a new endpoint,
or a parameter without the bad inputs its type calls for, fails the suite until cases are added here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bad_files import HUGE_SIZE, write_bad_files
from conftest import KIT_DIR, ROOT
from gradio_client import Client
from gradio_client.exceptions import AppError
from reference_requests import (
    ANSWERS,
    check_depth,
    check_found,
    check_gallery,
    check_mask,
    check_match,
    check_narration,
    check_pipeline,
    check_rag_answer,
    check_rag_documents,
    check_rag_table,
    client_value,
    inputs_of,
    is_text,
    label_scores,
    local_value,
    request_for,
    table,
    with_answers,
)

from apps import TASKS
from apps.core.spec import Asset

MB_TEXT = "x" * 1_000_000
WHITESPACE = "  \n\t  \n "
INVALID_ID = "not a model!!"
UNCACHED_ID = "nobody/no-such-model-here"
APPLE = ROOT / "assets" / "mm-apple.png"  # 320 × 320
GENERIC = "upstream Gradio app has raised an exception"
LEAKED_EXCEPTION = re.compile(r"\b[A-Z]\w*(Error|Exception):")  # "AttributeError: 'int' object…"


@dataclass(frozen=True)
class Upload:
    """A file to send: a name in the bad-files folder, or a path."""

    name: str


def upload(path: Path) -> Upload:
    return Upload(str(path))


@dataclass(frozen=True)
class Case:
    """One bad input: `value` goes to `param` (plus `also`); it must fail with `error` or be accepted and `check`ed."""

    param: str
    kind: str
    value: Any
    error: str | None = None  # a regex the message must match; None: the input is accepted
    check: Callable[[Any, dict[str, Any]], None] | None = None  # the accepted answer's shape, given what was sent
    also: dict[str, Any] = field(default_factory=dict)  # other parameters this case changes
    label: str = ""  # tells apart cases of the same parameter and kind

    @property
    def id(self) -> str:
        return "-".join(part.replace(" ", "_") for part in (self.param, self.kind, self.label) if part)


# -- what each kind of parameter must be sent ----------------------------------------------------

TEXT = ("empty", "whitespace", "1 MB text")
MODEL = ("invalid model id", "uncached model id", "wrong type")
NEEDED = {
    "Textbox": TEXT,
    "Slider": ("wrong type", "out of range"),
    "Checkbox": ("wrong type",),
    "Json": ("wrong type",),
    "Dropdown": ("unknown choice",),
    "Radio": ("unknown choice",),
    "Image": ("corrupt file", "wrong kind of file", "wrong type", "huge image"),
    "Audio": ("corrupt file", "wrong kind of file", "zero-length audio", "silence", "wrong type"),
    "File": ("corrupt file", "wrong type"),
}
# Inputs the issue names that belong to one endpoint's meaning rather than to a parameter type.
EXTRA_NEEDED = {
    "/segment": {("points", "out of range")},
    "/classify_image": {("labels", "one label")},
    "/classify_audio": {("labels", "one label")},
    "/translate": {("source_language", "unknown choice"), ("target_language", "unknown choice")},
    "/transcribe": {("language", "unknown choice")},
    "/speech_translate": {("source_language", "unknown choice"), ("target_language", "unknown choice")},
    "/estimate_memory": {("model", "invalid model id"), ("model", "uncached model id")},
}


def needed_kinds(parameter: dict[str, Any]) -> tuple[str, ...]:
    """The bad inputs a parameter of the live API must be sent, from its component (and default)."""
    component = parameter["component"]
    if component == "Dropdown" and str(parameter.get("parameter_default") or "").startswith(str(KIT_DIR)):
        return MODEL  # a model picker: its default is the tiny kit's folder of that task
    return NEEDED[component]


# -- checks of accepted answers (besides reference_requests.ANSWERS) -------------------------------


def check_silent_transcript(out: Any, sent: dict[str, Any]) -> None:
    text, summary, segments = out
    assert text == "" and "silent" in summary
    table(segments, ["start", "end", "text"], 0)


# -- good requests: what each endpoint must still answer after a bad one ---------------------------

# The reference requests (the registry's), with what the tiny app needs instead: it is offline, so the
# memory estimate reads a tiny local model rather than the Hub's.
# The arena draws from two chat models, and the tiny app has one of its own (the curated ones are not cached):
# its battles are between the tiny kit's two chat checkpoints.
TINY_CHAT_MODELS = f"{KIT_DIR / 'chat'}\n{KIT_DIR / 'finetune'}"
TINY_APP: dict[str, dict[str, Any]] = {
    "/estimate_memory": {"model": str(KIT_DIR / "similarity")},
    "/arena_battle": {"models": TINY_CHAT_MODELS},
}


def good_request(api_name: str) -> dict[str, Any]:
    """The endpoint's reference request (by name), as the tiny app can answer it."""
    return inputs_of(request_for(api_name), **TINY_APP.get(api_name, {}))


# -- the cases -----------------------------------------------------------------------------------


def text_cases(
    param: str, empty: str | None, whitespace: str | None, long: str, accept: Callable | None = None
) -> list:
    """Empty, whitespace-only and 1 MB text for `param`: a pattern each must fail with, or None to accept."""
    cases = []
    for kind, value, error in (
        ("empty", "", empty),
        ("whitespace", WHITESPACE, whitespace),
        ("1 MB text", MB_TEXT, long),
    ):
        cases.append(Case(param, kind, value, error=error, check=None if error else accept))
    return cases


# Variants of a kind run on one endpoint only: the code that refuses them is shared (core helpers), so
# one endpoint shows it, and the matrix stays fast.


def sent_with(cases: list[Case], **also: Any) -> list[Case]:
    """The cases, each sent with these other values too (a pipeline spec, a task: one that reads the parameter)."""
    return [Case(c.param, c.kind, c.value, c.error, c.check, {**c.also, **also}, c.label) for c in cases]


def with_spec(cases: list[Case], spec: str) -> list[Case]:
    """The cases, each sent with this pipeline spec (one that reads the parameter they fill)."""
    return sent_with(cases, spec=spec)


def model_cases(param: str = "model", variants: bool = False) -> list[Case]:
    cases = [
        Case(param, "invalid model id", INVALID_ID, error="is not a valid model id: use a Hub id"),
        Case(
            param, "uncached model id", UNCACHED_ID, error="not in the local Hugging Face cache and the app is offline"
        ),
        Case(param, "wrong type", 42, error="The model must be text"),
    ]
    if variants:
        cases += [
            Case(param, "invalid model id", "/etc", error="is not allowed here", label="folder outside the allowed"),
            Case(param, "invalid model id", MB_TEXT, error="1,000,000 characters long", label="1 MB"),
            Case(param, "invalid model id", "org/name\x00", error="control characters", label="NUL"),
        ]
    return cases


def rag_summary(pattern: str) -> Callable[[Any, dict[str, Any]], None]:
    """A /rag_add answer whose summary matches `pattern` (what was added, or what could not be and why)."""

    def check(out: Any, sent: dict[str, Any]) -> None:
        check_rag_documents(out, sent)
        assert re.search(pattern, out[0], re.IGNORECASE), out[0]

    return check


def slider_cases(param: str, low: float, high: float, label: str) -> list[Case]:
    return [
        Case(param, "wrong type", "abc", error=f"“{re.escape(label)}” must be a number from {low:g} to {high:g}"),
        Case(param, "out of range", high * 10 + 1, error=f"greater than maximum value {high:g}"),
    ]


def image_cases(
    param: str, huge: Callable[[Any], None], huge_also: dict[str, Any] | None = None, variants: bool = False
) -> list[Case]:
    cases = [
        Case(param, "corrupt file", Upload("corrupt.png"), error="damaged or truncated"),
        Case(param, "wrong kind of file", Upload("silence.wav"), error="not an image this app can read"),
        Case(param, "wrong type", 42, error="The image must be an image file"),
        Case(param, "huge image", Upload("huge.png"), check=huge, also=huge_also or {}),
    ]
    if variants:
        cases += [
            Case(param, "wrong kind of file", Upload("not-an-image.png"), error="not an image", label="text"),
            Case(param, "wrong type", None, error="No image: upload an image", label="none"),
            Case(param, "huge image", Upload("bomb.png"), error="too large to open safely", label="bomb"),
        ]
    return cases


def audio_cases(param: str, silence: Case, variants: bool = False) -> list[Case]:
    cases = [
        Case(param, "corrupt file", Upload("corrupt.wav"), error="damaged or truncated"),
        Case(param, "wrong kind of file", Upload("huge.png"), error="not audio this app can read"),
        Case(param, "zero-length audio", Upload("empty.wav"), error="empty \\(0 bytes\\)"),
        silence,
        Case(param, "wrong type", 42, error="The audio must be an audio file"),
    ]
    if variants:
        cases += [
            Case(
                param,
                "zero-length audio",
                Upload("no-frames.wav"),
                error="empty \\(0 seconds long\\)",
                label="0 frames",
            ),
            Case(param, "wrong type", None, error="No audio: upload a file", label="none"),
        ]
    return cases


def pipeline_spec(*steps: dict[str, Any], input: str = "image") -> str:
    import json

    return json.dumps({"input": input, "steps": list(steps)})


CAPTION_STEPS = ({"task": "captioning"}, {"task": "translation", "target_language": "French"})
TEXT_PIPELINE = pipeline_spec({"task": "translation", "target_language": "French"}, input="text")
AUDIO_PIPELINE = pipeline_spec({"task": "asr"}, input="audio")
HUGE = HUGE_SIZE
CASES: dict[str, list[Case]] = {
    "/chat": [
        *text_cases("message", "Type a message", "Type a message", "1,000,000 characters long; the limit is 50,000"),
        Case("history", "wrong type", "not a list", error="history must be a list of messages"),
        Case("history", "wrong type", [{"role": "robot", "content": "beep"}], error="role 'robot'", label="role"),
        *text_cases("system_prompt", None, None, "system prompt is 1,000,000 characters long", accept=is_text),
        *slider_cases("max_new_tokens", 16, 4096, "Max new tokens"),
        *slider_cases("temperature", 0, 2, "Temperature"),
        *slider_cases("top_p", 0.05, 1, "Top-p"),
        *slider_cases("repetition_penalty", 0.5, 2, "Repetition penalty"),
        *model_cases(),
        *text_cases("json_schema", None, None, "JSON schema is 1,000,000 characters long", accept=is_text),
        Case("json_schema", "not json", "{oops", error="JSON schema is not valid JSON"),
        Case("json_schema", "bad schema", '{"type": "strng"}', error="JSON schema is not valid"),
    ],
    "/finetune": [
        # "" (and blank) = the Chat tab's model, as for /chat.
        *text_cases("model", None, None, "1,000,000 characters long", accept=ANSWERS["/finetune"]),
        *model_cases()[:2],
        # A Textbox hands the number over as the text "42": a model id that is not cached.
        Case("model", "wrong type", 42, error="The model must be text|not in the local Hugging Face cache"),
        Case("dataset", "corrupt file", Upload("corrupt.png"), error="Invalid file type|not a .jsonl or .csv"),
        Case("dataset", "wrong type", None, error="Upload a dataset"),
        Case("name", "empty", "", error="Give the adapter a name"),
        Case("name", "whitespace", "   ", error="Give the adapter a name"),
        Case("name", "1 MB text", "a" * 1_000_000, error="cannot be a adapter name"),
        Case("name", "path traversal", "../escape", error="cannot be a adapter name"),
        *slider_cases("steps", 1, 10_000, "Steps"),
        *slider_cases("learning_rate", 1e-5, 1, "Learning rate"),
        *slider_cases("lora_r", 1, 256, "LoRA r"),
        *slider_cases("lora_alpha", 1, 1024, "LoRA alpha"),
        *slider_cases("max_length", 16, 8192, "Max length (tokens)"),
        *slider_cases("batch_size", 1, 256, "Batch size"),
        # "" (and blank) = no Hub dataset: the uploaded file is used.
        *text_cases("dataset_id", None, None, "is not a Hub dataset id", accept=ANSWERS["/finetune"]),
        Case("dataset_id", "path traversal", "../../etc/passwd", error="is not a Hub dataset id"),
        Case("dataset_id", "both sources", "org/name", error="not both"),
        Case(
            "dataset_id",
            "Hub unreachable",
            "nobody/no-such-dataset",
            also={"dataset": None},
            error="Could not reach the Hugging Face Hub",
        ),
        *slider_cases("epochs", 0, 1000, "Epochs (0 = train for the steps above)"),
        *slider_cases("gradient_accumulation", 1, 256, "Gradient accumulation (batches per step)"),
        *slider_cases("lora_dropout", 0, 0.9, "LoRA dropout"),
        # "" (and blank) = all-linear.
        *text_cases(
            "target_modules", None, None, "Target modules are 1,000,000 characters", accept=ANSWERS["/finetune"]
        ),
        Case("target_modules", "not a layer", "no_such_proj", error="No layer of this model is named no_such_proj"),
        Case("target_modules", "not a name", "q_proj; rm -rf", error="Target modules must be `all-linear` or layer"),
        *slider_cases("validation_fraction", 0, 0.5, "Validation fraction"),
        *slider_cases("seed", 0, 100_000, "Seed"),
        Case("long_rows", "unknown choice", "shorten", error="not in the list of choices"),
        Case("long_rows", "refused", "refuse", also={"max_length": 16}, error="longer than the max length of 16"),
    ],
    "/finetune_status": [],
    "/finetune_stop": [],
    "/translate": [
        *text_cases("text", "Enter some text to translate", "Enter some text", "1,000,000 characters long"),
        Case("source_language", "unknown choice", "Klingon", error="cannot translate from 'Klingon'"),
        Case("target_language", "unknown choice", "Klingon", error="cannot translate into 'Klingon'"),
        Case(
            "target_language",
            "unknown choice",
            "English",
            also={"source_language": "English"},
            error="languages are the same",
            label="same",
        ),
        Case("source_language", "wrong type", 42, error="Choose a source language"),
        Case("engine", "unknown choice", "Bogus", error="not in the list of choices"),
        *model_cases(),
    ],
    "/summarize": [
        *text_cases("text", "Paste a document", "Paste a document", "1,000,000 characters long"),
        *slider_cases("min_tokens", 0, 512, "Minimum length (tokens)"),
        *slider_cases("max_tokens", 1, 1024, "Maximum length (tokens)"),
        Case(
            "min_tokens",
            "out of range",
            100,
            also={"max_tokens": 10},
            error="between 0 and the maximum",
            label="min>max",
        ),
        *model_cases(),
    ],
    "/similarity": [
        *text_cases("sentences", "at least two sentences", "at least two sentences", "1,000,000 characters long"),
        Case("sentences", "wrong type", 42, error="at least two sentences"),  # gradio hands the text box "42"
        *model_cases(variants=True),
    ],
    "/search": [
        *text_cases("query", "Type a query", "Type a query", "1,000,000 characters long"),
        *text_cases("corpus", "corpus is empty", "corpus is empty", "limit for the text box is 50,000"),
        Case("corpus_file", "corrupt file", Upload("binary.txt"), error="is not a text file"),
        Case("corpus_file", "corrupt file", Upload("huge.png"), error="Invalid file type", label="image"),
        Case("corpus_file", "wrong type", 42, error="must be a file"),
        *slider_cases("top_k", 1, 100, "Top-k"),
        Case(
            "top_k",
            "out of range",
            5,
            also={"corpus": "a cat\nthe market", "corpus_file": None},
            error="the corpus has only 2 passages",
            label="above corpus",
        ),
        *model_cases(),
    ],
    # The collections' own names: "" and blanks mean the default collection (accepted); each endpoint's answer
    # is checked as its reference request's is.
    "/rag_add": [
        # One item that cannot be added does not stop the others: the summary names it and says why.
        Case("text", "empty", "", check=check_rag_documents),
        Case("text", "whitespace", WHITESPACE, check=check_rag_documents),
        # A megabyte of text is a long document (up to 2,000,000 characters may be added).
        Case("text", "1 MB text", MB_TEXT, check=rag_summary(r"added \*\*pasted text")),
        Case(
            "files", "corrupt file", [Upload("binary.txt")], check=rag_summary(r"could not add \*\*binary.txt.*binary")
        ),
        Case("files", "wrong type", 42, error="must be a list of files"),
        *text_cases("collection", None, None, "cannot be a collection name", accept=check_rag_documents),
        Case("collection", "wrong type", "../etc", error="cannot be a collection name", label="traversal"),
    ],
    "/rag_ask": [
        *text_cases("question", "Ask a question", "Ask a question", "1,000,000 characters long"),
        Case("history", "wrong type", "not a list", error="history must be a list of messages"),
        *text_cases("collection", None, None, "cannot be a collection name", accept=check_rag_answer),
        *slider_cases("top_k", 1, 10, "Sources (top k)"),
        Case("rerank", "wrong type", "abc", error="must be true or false"),
        *model_cases(),
    ],
    "/rag_documents": [
        *text_cases("collection", None, None, "cannot be a collection name", accept=check_rag_table),
    ],
    "/rag_remove": [
        *text_cases("document", "Name the document", "Name the document", "document name is at most"),
        *text_cases("collection", None, None, "cannot be a collection name", accept=check_rag_documents),
    ],
    "/rerank": [
        *text_cases("query", "Enter a query", "Enter a query", "1,000,000 characters long"),
        *text_cases("passages", "Enter passages", "Enter passages", "1,000,000 characters long"),
        *model_cases(),
    ],
    "/transcribe": [
        *audio_cases(
            "audio",
            Case("audio", "silence", Upload("silence.wav"), check=check_silent_transcript),
            variants=True,
        ),
        Case("language", "unknown choice", "Klingon", error="Whisper does not know the language"),
        Case("language", "unknown choice", "French", error="understands English only", label="english-only"),
        Case("language", "wrong type", 42, error="spoken language must be a name or code"),
        Case("task", "unknown choice", "bogus", error="not in the list of choices"),
        Case("task", "unknown choice", "translate", error="understands English only", label="translate"),
        Case("timestamps", "wrong type", "abc", error="must be true or false"),
        *model_cases(),
    ],
    "/speak": [
        *text_cases("text", "Enter some text to speak", "Enter some text to speak", "1,000,000 characters long"),
        Case("text", "unspeakable text", "日本語", error="cannot speak this text"),
        *model_cases(),
    ],
    "/classify_audio": [
        *audio_cases(
            "audio",
            Case("audio", "silence", Upload("silence.wav"), check=label_scores),
        ),
        *text_cases("labels", "at least two labels", "at least two labels", "keep each under 100"),
        Case("labels", "one label", "rain", error="at least two different labels"),
        Case("labels", "one label", "rain,,wind", error="Label 2 is empty", label="blank"),
        *model_cases(),
    ],
    "/speech_translate": [
        *audio_cases("audio", Case("audio", "silence", Upload("silence.wav"), error="recording is silent")),
        Case("source_language", "unknown choice", "Klingon", error="does not offer “Klingon” as the spoken"),
        Case("target_language", "unknown choice", "Klingon", error="does not offer “Klingon” as the target"),
        Case(
            "target_language",
            "unknown choice",
            "English",
            also={"source_language": "English"},
            error="are the same",
            label="same",
        ),
        Case("source_language", "wrong type", 42, error="languages must be names from the list"),
        *model_cases("asr_model"),
    ],
    "/narrate": [
        *image_cases("image", check_narration, variants=True),
        *slider_cases("threshold", 0.05, 0.99, "Score threshold"),
        Case("speak", "wrong type", "abc", error="must be true or false"),
        *model_cases(),
    ],
    "/segment": [
        *image_cases("image", check_mask, {"points": [[HUGE[0] - 1, HUGE[1] - 1, 1]]}),
        Case(
            "points",
            "out of range",
            [[320, 5, 1]],
            also={"image": upload(APPLE)},
            error=r"outside the image, which is 320×320 pixels",
        ),
        Case("points", "wrong type", "abc", error="Points must be a JSON list"),
        Case("points", "empty", [], error="Add at least one point"),
        Case("points", "out of range", [[5, 5, 7]], error="has label 7", label="label"),
        Case("points", "out of range", [[5, 5, 0]], error="All points are background", label="no object"),
        Case("mask_index", "unknown choice", 9, error="not in the list of choices"),
        *model_cases(),
    ],
    "/depth": [*image_cases("image", check_depth), *model_cases()],
    "/answer": [
        *image_cases("image", is_text),
        *text_cases("question", "Type a question", "Type a question", "ask in at most 500"),
        *model_cases(),
    ],
    "/caption": [
        *image_cases("image", is_text),
        *text_cases("prefix", None, None, "keep it under 200", accept=is_text),  # no prefix is fine
        *model_cases(),
    ],
    "/match": [
        *image_cases("image", check_match),
        *text_cases("texts", "at least one description", "at least one description", "keep each under 300"),
        Case("texts", "too many lines", "\n".join(["a text"] * 21), error="21 descriptions is too many"),
        *model_cases(),
    ],
    "/image_search": [
        *text_cases("query", "Type what you are looking for", "Type what you are looking for", "keep it under 300"),
        Case(
            "images",
            "corrupt file",
            [Upload("corrupt.png")],
            also={"include_examples": False},  # the upload is then image 1
            error=r"Image 1 \(corrupt.png\): .*damaged",
        ),
        Case("images", "corrupt file", [Upload("silence.wav")], error="Invalid file type", label="audio"),
        Case("images", "wrong type", 42, error="must be a list of files"),
        Case("images", "empty", [], also={"include_examples": False}, error="gallery is empty"),
        Case("images", "huge image", [Upload("huge.png")], check=check_gallery),
        Case("include_examples", "wrong type", "abc", error="must be true or false"),
        *model_cases(),
    ],
    "/classify_image": [
        *image_cases("image", label_scores),
        *text_cases("labels", "at least two labels", "at least two labels", "keep each under 100"),
        Case("labels", "one label", "apple", error="at least two different labels"),
        Case("labels", "one label", "apple, Apple", error="at least two different labels", label="repeated"),
        *text_cases("template", None, None, "keep it under 200", accept=label_scores),  # empty: the default
        Case("template", "wrong type", "no braces", error="must contain {} exactly once"),
        *model_cases(),
    ],
    "/run_pipeline": [
        *text_cases("spec", "Write the pipeline as JSON", "Write the pipeline as JSON", "the limit is 100,000"),
        Case("spec", "not JSON", "{steps: [captioning]}", error="not valid JSON \\(line 1, column 2"),
        Case("spec", "empty pipeline", pipeline_spec(), error="has no steps"),
        Case("spec", "unknown task", pipeline_spec({"task": "teleport"}), error="unknown task `teleport`"),
        Case(
            "spec",
            "type mismatch",
            pipeline_spec(*CAPTION_STEPS, {"task": "captioning"}),
            error=r"Step 3 \(captioning\) needs an image, step 2 gives text",
        ),
        Case(
            "spec",
            "missing setting",
            pipeline_spec({"task": "captioning"}, {"task": "translation"}),
            error=r"Step 2 \(translation\) needs the setting `target_language`",
        ),
        Case("spec", "too many steps", pipeline_spec(*[{"task": "narration"}] * 51), error="51 steps; the limit is 50"),
        Case(
            "spec",
            "cycle",
            pipeline_spec({"task": "captioning", "from": 2}, {"task": "tts"}),
            error="cannot loop back \\(no cycles\\)",
        ),
        Case(
            "spec",
            "step failing mid-run",
            pipeline_spec(*CAPTION_STEPS, {"task": "tts", "model": UNCACHED_ID}),
            error=r"Step 3 \(tts\) failed: .*not in the local Hugging Face cache.*before it: step 1 \(captioning\)",
        ),
        *with_spec(
            text_cases("text", "starts from text: type some text", "starts from text", "1,000,000 characters long"),
            TEXT_PIPELINE,
        ),
        *with_spec(
            audio_cases("audio", Case("audio", "silence", Upload("silence.wav"), check=check_pipeline), variants=False),
            AUDIO_PIPELINE,
        ),
        *image_cases("image", check_pipeline),
    ],
    "/find_models": [
        Case("task", "unknown choice", "Klingon task", error="is not a Hub task"),
        Case("task", "wrong type", 42, error="task must be text"),
        *text_cases("query", None, None, "search text is too long", accept=check_found),
        Case("sort", "unknown choice", "bogus", error="not in the list of choices"),
        *text_cases("max_memory", None, None, "Cannot read .* as a memory size", accept=check_found),
        Case("max_memory", "unreadable size", "lots", error="Cannot read `lots` as a memory size"),
        Case("precision", "unknown choice", "float8", error="not in the list of choices"),
        Case("licence", "unknown choice", "weird licence!!", error="is not a licence id"),
        Case("library", "unknown choice", "bogus lib", error="is not a library id"),
        *slider_cases("limit", 1, 100, "Results"),
    ],
    "/estimate_memory": [
        *text_cases("model", "Enter a Hub model id", "Enter a Hub model id", "1,000,000 characters long"),
        Case("model", "invalid model id", INVALID_ID, error="is not a valid model id"),
        Case("model", "uncached model id", UNCACHED_ID, error="not in the local cache"),
        Case("model", "invalid model id", "/etc", error="is not allowed here", label="outside folder"),
        *slider_cases("context_length", 1, 131_072, "Context length"),
        *slider_cases("batch_size", 1, 1024, "Batch size"),
    ],
    "/evaluate": [
        Case("task", "unknown choice", "bogus", error="not in the list of choices"),
        Case("dataset", "corrupt file", Upload("binary.txt"), error="Invalid file type"),
        Case("dataset", "wrong type", 42, error="must be a file"),
        *text_cases("models", None, None, "model list is 1,000,000 characters long", accept=ANSWERS["/evaluate"]),
        *slider_cases("limit", 1, 10_000, "Rows (limit)"),
    ],
    "/compare": [
        Case("task", "unknown choice", "bogus", error="not in the list of choices"),
        *text_cases("models", "Compare two to 4 different models", "Compare two to 4", "1,000,000 characters long"),
        Case("models", "one model", "default", error=r"one per line \(got 1\)"),
        Case("models", "too many models", "default\na/b\nc/d\ne/f\ng/h", error=r"\(got 5\)"),
        Case("models", "same model twice", "default\n" + str(KIT_DIR / "similarity"), error="are the same one"),
        Case("models", "invalid model id", "default\n" + INVALID_ID, error="is not a valid model id"),
        *text_cases("text", "needs type", "needs type", "The text is 1,000,000 characters"),
        *sent_with(
            audio_cases("audio", Case("audio", "silence", Upload("silence.wav"), check=ANSWERS["/compare"])),
            task="asr",
        ),
        Case("audio", "missing", None, error="Comparing asr needs upload or record audio", also={"task": "asr"}),
        *sent_with(image_cases("image", ANSWERS["/compare"]), task="captioning"),
        Case("image", "missing", None, error="Comparing captioning needs an image", also={"task": "captioning"}),
    ],
    "/arena_battle": [
        *text_cases("prompt", "Type a prompt", "Type a prompt", "1,000,000 characters long; the limit is 50,000"),
        # "" = the Chat tab's model and its curated alternatives: offline, the tiny app can load only its own.
        *text_cases("models", "at least two chat models it can load", "at least two chat models", "1,000,000 char"),
        Case("models", "one model", str(KIT_DIR / "chat"), error="at least two different chat models"),
        Case("models", "invalid model id", f"{KIT_DIR / 'chat'}\n{INVALID_ID}", error="is not a valid model id"),
        Case(
            "models",
            "uncached model id",
            f"{KIT_DIR / 'chat'}\n{UNCACHED_ID}",
            error="Model [AB] could not answer: .*not in the local Hugging Face cache",
        ),
        *slider_cases("max_new_tokens", 16, 1024, "Max new tokens"),
    ],
    "/arena_vote": [
        *text_cases("battle", "Say which battle", "Say which battle", "is not a battle id"),
        Case("battle", "unknown battle", "0" * 32, error="There is no finished battle"),
        Case("battle", "not an id", "../../etc/passwd", error="is not a battle id"),
        *text_cases("choice", "one of A, B, tie or both bad", "one of A, B, tie or both bad", "one of A, B, tie"),
        Case("choice", "unknown choice", "C", error="Vote with one of A, B, tie or both bad"),
        Case("choice", "other case", " BOTH bad ", check=ANSWERS["/arena_vote"]),
    ],
    "/arena_board": [],  # no parameters: an empty board is a table with the columns, not an error
    "/code": [
        Case("task", "unknown choice", "Klingon task", error="There is no task"),
        Case("task", "wrong type", 42, error="There is no task"),
        Case("task", "empty", "", error="There is no task"),
    ],
    "/status": [],  # no parameters: nothing can be sent wrong (it is part of the load test's mix)
}


# -- the tests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_bad_files(tmp_path_factory.mktemp("bad-inputs"))


def resolve(value: Any, files: dict[str, Path]) -> Any:
    """Case values with their `Upload`s as local paths (the bad-files folder's, or as given)."""
    if isinstance(value, Upload):
        return files.get(value.name, Path(value.name))
    if isinstance(value, list):
        return [resolve(item, files) for item in value]
    return value


def call(client: Client, api_name: str, sent: dict[str, Any]) -> Any:
    return client.predict(**{name: client_value(value) for name, value in sent.items()}, api_name=api_name)


@dataclass
class Outcome:
    """What one case got: what it sent, the answer or the error, then the good request's answer or error."""

    sent: dict[str, Any] = field(default_factory=dict)
    answer: Any = None
    error: BaseException | None = None
    good: Any = None
    good_error: BaseException | None = None


def sent_values(params: dict[str, Any], files: dict[str, Path]) -> dict[str, Any]:
    """What a call sends, by name: files (Assets and Uploads) as local paths."""
    return {name: resolve(local_value(value), files) for name, value in params.items()}


# What an endpoint's good request needs stored first (the endpoints run side by side, so nothing else may
# provide it): /rag_ask asks its own collection, filled once before its cases.
PREPARE: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "/rag_ask": [
        ("/rag_add", {"files": [Asset("rag_handbook.md")], "text": "", "collection": "handbook"}),
    ],
}


def run_endpoint(client: Client, api_name: str, files: dict[str, Path]) -> dict[str, Outcome]:
    """Send an endpoint its bad inputs in order, each refused one followed by the good request.

    A value the request takes from an earlier answer (an `Answer`: /arena_vote's battle id) comes from a fresh
    call of that endpoint's good request before each call.
    """
    for other, values in PREPARE.get(api_name, []):
        call(client, other, sent_values(values, files))

    def ask(other: str) -> Any:
        return call(client, other, sent_values(good_request(other), files))

    good = sent_values(good_request(api_name), files)
    outcomes = {}
    for case in CASES[api_name]:
        sent = with_answers(sent_values({**good, case.param: case.value, **case.also}, files), ask)
        outcome = outcomes[case.id] = Outcome(sent)
        try:
            outcome.answer = call(client, api_name, sent)
        except Exception as exc:
            outcome.error = exc
        if outcome.error is None:
            continue  # an answer is itself a good request answered
        try:
            outcome.good = call(client, api_name, with_answers(good, ask))
        except Exception as exc:
            outcome.good_error = exc
    return outcomes


@pytest.fixture(scope="module")
def outcomes(tiny_app: tuple[str, Any], bad_files: dict[str, Path]) -> dict[tuple[str, str], Outcome]:
    """Every case's outcome. Endpoints run side by side (each has its own queue), each one's cases in order."""
    # One client per endpoint, made a few at a time: each reads the app's whole API description, and some
    # fifty of them at once kept a loaded machine's server busier than a client waits for.
    with ThreadPoolExecutor(max_workers=4) as pool:
        # plain http: no CA bundle to load per request
        clients = dict(
            zip(CASES, pool.map(lambda _: Client(tiny_app[0], verbose=False, ssl_verify=False), CASES), strict=True)
        )
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        futures = {api_name: pool.submit(run_endpoint, clients[api_name], api_name, bad_files) for api_name in CASES}
    return {
        (api_name, case_id): outcome
        for api_name, future in futures.items()
        for case_id, outcome in future.result().items()
    }


def assert_clear(message: str, pattern: str) -> None:
    """A message for a person: a sentence that says what is wrong, not gradio's generic text or a Python error."""
    assert GENERIC not in message and "Traceback" not in message, message
    assert not LEAKED_EXCEPTION.search(message), f"a Python exception leaked: {message}"
    assert 15 <= len(message) <= 1000 and len(message.split()) >= 4, f"not a readable sentence: {message[:300]!r}"
    assert re.search(pattern, message, re.IGNORECASE), f"{message!r} does not match {pattern!r}"


MATRIX = [(api_name, case) for api_name, cases in CASES.items() for case in cases]


@pytest.mark.parametrize(("api_name", "case"), MATRIX, ids=[f"{api}:{case.id}" for api, case in MATRIX])
def test_bad_input(outcomes: dict[tuple[str, str], Outcome], api_name: str, case: Case) -> None:
    outcome = outcomes[(api_name, case.id)]
    if case.error is None:  # accepted: the answer has the right shape
        assert outcome.error is None, f"refused: {outcome.error!r}"
        case.check(outcome.answer, outcome.sent)
        return
    assert isinstance(outcome.error, AppError), f"not refused by the app: {outcome.error!r} / {outcome.answer!r}"
    assert_clear(str(outcome.error), case.error)
    assert outcome.good_error is None, f"the good request after it failed: {outcome.good_error!r}"
    ANSWERS[api_name](outcome.good, sent_values(good_request(api_name), {}))  # ...the endpoint still answers


def test_every_endpoint_and_parameter_has_bad_inputs(client: Client) -> None:
    """The matrix covers the registry's and the live API's endpoints, and each parameter's bad inputs."""
    registry = {name for spec in TASKS for name in spec.api_names}
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(CASES) == registry == set(api), "add the new endpoint's bad inputs to CASES"
    assert set(ANSWERS) == set(CASES), "add the new endpoint's answer check to reference_requests.ANSWERS"
    for api_name, endpoint in api.items():
        names = [parameter["parameter_name"] for parameter in endpoint["parameters"]]
        # (test_registry checks that the reference request names every parameter, in order)
        assert list(good_request(api_name)) == names, f"{api_name}: the good request must name every parameter"
        needed = {
            (parameter["parameter_name"], kind)
            for parameter in endpoint["parameters"]
            for kind in needed_kinds(parameter)
        }
        needed |= EXTRA_NEEDED.get(api_name, set())
        covered = {(case.param, case.kind) for case in CASES[api_name]}
        assert not needed - covered, f"{api_name} lacks bad inputs: {sorted(needed - covered)}"
        assert {case.param for case in CASES[api_name]} <= set(names), f"{api_name}: a case names an unknown parameter"
    ids = [f"{api}:{case.id}" for api, case in MATRIX]
    assert len(ids) == len(set(ids)), "two cases share an id: give one a label"
