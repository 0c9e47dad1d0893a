"""Compare: one input, 2–4 models of one task, run in turn; their outputs side by side with the load time, the
run time, the memory each took and, for text generation, tokens per second.

Each model runs through the model manager (so within its memory budget: the one before is evicted when the
next does not fit) and the task's own function (`ctx.run_task`), so a comparison shows exactly what the tab
and the API serve. How a task reads the one input (text, audio, image) is its `CompareTask` row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from apps.core.audio import read_audio
from apps.core.errors import InputError, ShowcaseError, readable
from apps.core.images import open_image
from apps.core.manager import ProgressFn
from apps.core.spec import Kind, TaskContext
from apps.core.weights import format_bytes
from apps.evals.evaluate import MAX_MODELS, MAX_MODELS_CHARS
from apps.shared.results import audio_of, image_of, summary_of, text_of

MIN_MODELS = 2
CONFIGURED = "default"  # a models line naming the task's configured model (no Hub id is just "default")
CHAT_MAX_NEW_TOKENS = 256
TRANSLATION_LANGUAGES = ("English", "French")
SAMPLE_SECONDS = 0.02  # how often the memory sampler reads the process's resident memory
COLUMNS = ["model", "output", "seconds", "memory", "load_seconds", "peak_memory", "tokens_per_second", "error"]

Inputs = dict[Kind, Any]  # the one input, by kind: text, audio, image
Call = Callable[[TaskContext, Inputs, str], Any]  # (ctx, inputs, model) → the task's own result


def _lines(text: str) -> tuple[str, str]:
    """(first line, the rest): the query and the passages of search and rerank."""
    first, _, rest = text.strip().partition("\n")
    if not rest.strip():
        raise InputError("Give the query on the first line and the passages to rank on the lines after it.")
    return first.strip(), rest.strip()


def _centre(image: Any) -> list[list[float]]:
    """One positive point at the image's centre: what segmentation segments when it is compared."""
    picture = open_image(image)
    return [[picture.width / 2, picture.height / 2, 1]]


def _quote(text: str, width: int = 80) -> str:
    text = " ".join(str(text).split())
    return f"“{text if len(text) <= width else text[: width - 1] + '…'}”"


def _ranked(pairs: list[tuple[str, float]], top: int = 3) -> str:
    """The best few of (text, score) pairs, one per line: what a ranking task's column shows."""
    return "\n".join(f"{rank}. {_quote(text)} ({score:.3f})" for rank, (text, score) in enumerate(pairs[:top], 1))


def _most_similar(result: Any) -> str:
    i, j, score = result.most_similar
    return f"Most similar: {_quote(result.sentences[i])} and {_quote(result.sentences[j])} ({score:.3f})"


def _matches(result: Any) -> str:
    ordered = sorted(result.matches, key=lambda match: -match.probability)
    return _ranked([(match.text, match.probability) for match in ordered])


def _segment(result: Any) -> str:
    width, height = result.size
    return f"Mask {result.chosen} of {len(result.scores)}: {result.area:.0%} of the {width}×{height} image"


@dataclass(frozen=True)
class CompareTask:
    """How Compare calls one task: the inputs it needs, the call, what the text box means for it, and the
    line its column shows (else the result's text, or its one-line summary)."""

    needs: tuple[Kind, ...]
    call: Call
    text_means: str = ""
    shows: Callable[[Any], str] | None = None


COMPARE_TASKS: dict[str, CompareTask] = {
    "chat": CompareTask(
        (Kind.TEXT,),
        lambda ctx, i, m: ctx.run_task(
            "chat", i[Kind.TEXT], max_new_tokens=CHAT_MAX_NEW_TOKENS, temperature=0.0, model=m
        ),
        "the message",
    ),
    "translation": CompareTask(
        (Kind.TEXT,),
        lambda ctx, i, m: ctx.run_task("translation", i[Kind.TEXT], *TRANSLATION_LANGUAGES, model=m),
        "English text, translated to French",
    ),
    "summarization": CompareTask(
        (Kind.TEXT,), lambda ctx, i, m: ctx.run_task("summarization", i[Kind.TEXT], model=m), "the text"
    ),
    "similarity": CompareTask(
        (Kind.TEXT,),
        lambda ctx, i, m: ctx.run_task("similarity", i[Kind.TEXT], model=m),
        "sentences, one per line",
        _most_similar,
    ),
    "search": CompareTask(
        (Kind.TEXT,),
        lambda ctx, i, m: ctx.run_task("search", _lines(i[Kind.TEXT])[0], corpus=_lines(i[Kind.TEXT])[1], model=m),
        "the query, then one passage per line",
        lambda result: _ranked([(hit.passage, hit.score) for hit in result.hits]),
    ),
    "rerank": CompareTask(
        (Kind.TEXT,),
        lambda ctx, i, m: ctx.run_task("rerank", *_lines(i[Kind.TEXT]), model=m),
        "the query, then one passage per line",
        lambda result: _ranked(list(zip(result.passages, result.scores, strict=True))),
    ),
    "asr": CompareTask((Kind.AUDIO,), lambda ctx, i, m: ctx.run_task("asr", i[Kind.AUDIO], model=m)),
    "tts": CompareTask((Kind.TEXT,), lambda ctx, i, m: ctx.run_task("tts", i[Kind.TEXT], model=m), "the text to say"),
    "audio_classification": CompareTask(
        (Kind.AUDIO, Kind.TEXT),
        lambda ctx, i, m: ctx.run_task("audio_classification", i[Kind.AUDIO], i[Kind.TEXT], model=m),
        "the candidate labels, comma-separated",
    ),
    "narration": CompareTask(
        (Kind.IMAGE,), lambda ctx, i, m: ctx.run_task("narration", i[Kind.IMAGE], speak=False, model=m)
    ),
    "segmentation": CompareTask(
        (Kind.IMAGE,),
        lambda ctx, i, m: ctx.run_task("segmentation", i[Kind.IMAGE], _centre(i[Kind.IMAGE]), model=m),
        "",
        _segment,
    ),
    "depth": CompareTask((Kind.IMAGE,), lambda ctx, i, m: ctx.run_task("depth", i[Kind.IMAGE], model=m)),
    "vqa": CompareTask(
        (Kind.IMAGE, Kind.TEXT),
        lambda ctx, i, m: ctx.run_task("vqa", i[Kind.IMAGE], i[Kind.TEXT], model=m),
        "the question",
    ),
    "captioning": CompareTask(
        (Kind.IMAGE,),
        lambda ctx, i, m: ctx.run_task("captioning", i[Kind.IMAGE], i.get(Kind.TEXT) or None, model=m),
        "an optional start of the caption",
    ),
    "matching": CompareTask(
        (Kind.IMAGE, Kind.TEXT),
        lambda ctx, i, m: ctx.run_task("matching", i[Kind.IMAGE], i[Kind.TEXT], model=m),
        "descriptions, one per line",
        _matches,
    ),
    "image_search": CompareTask(
        (Kind.TEXT,),
        lambda ctx, i, m: ctx.run_task("image_search", i[Kind.TEXT], model=m),
        "the query (searches the example images)",
        lambda result: _ranked([(image.name, image.score) for image in result.images]),
    ),
    "image_classification": CompareTask(
        (Kind.IMAGE, Kind.TEXT),
        lambda ctx, i, m: ctx.run_task("image_classification", i[Kind.IMAGE], i[Kind.TEXT], model=m),
        "the candidate labels, comma-separated",
    ),
}


@dataclass
class ModelRun:
    """One model's turn: its output (as text, and audio or image when the task gives one) and its costs."""

    model: str
    output: str = ""
    audio: tuple[int, np.ndarray] | None = None
    image: Image.Image | None = None
    seconds: float = 0.0  # running the task (the model already loaded)
    load_seconds: float = 0.0  # 0 when it was loaded already
    memory: int = 0  # the loaded model's bytes, as the model manager counts them
    peak_memory: int = 0  # the most the process's resident memory grew while loading and running
    tokens_per_second: float | None = None  # text generation: generated tokens ÷ run seconds
    error: str = ""
    result: Any = None  # the task's own typed result

    def row(self) -> list[Any]:
        return [
            self.model,
            self.output,
            round(self.seconds, 3),
            format_bytes(self.memory) if self.memory else "",
            round(self.load_seconds, 3),
            format_bytes(self.peak_memory) if self.peak_memory else "",
            round(self.tokens_per_second, 1) if self.tokens_per_second is not None else None,
            self.error,
        ]


@dataclass
class Comparison:
    """The comparison so far: the runs finished (one per model, in the order given)."""

    task: str
    runs: list[ModelRun] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame([run.row() for run in self.runs], columns=COLUMNS)


def check_task(ctx: TaskContext, task: Any) -> str:
    if not isinstance(task, str) or task.strip() not in COMPARE_TASKS or task.strip() not in ctx.specs:
        names = ", ".join(key for key in COMPARE_TASKS if key in ctx.specs)
        raise InputError(f"Pick a task to compare models on: one of {names}.")
    return task.strip()


def parse_models(models: Any) -> list[str]:
    """Newline-separated model refs → 2–4 distinct refs in order (blank lines ignored; `default` is the task's
    configured model)."""
    if isinstance(models, list | tuple):
        models = "\n".join(str(item) for item in models)
    if models is None or not isinstance(models, str):
        raise InputError("Models must be text: one model reference per line, two to four of them.")
    if len(models) > MAX_MODELS_CHARS:
        raise InputError(f"The model list is {len(models):,} characters long; give two to {MAX_MODELS} model ids.")
    refs = list(dict.fromkeys(line.strip() for line in models.splitlines() if line.strip()))
    if not MIN_MODELS <= len(refs) <= MAX_MODELS:
        raise InputError(f"Compare two to {MAX_MODELS} different models, one per line (got {len(refs)}).")
    return refs


def check_inputs(ctx: TaskContext, task: str, text: Any, audio: Any, image: Any) -> Inputs:
    """The inputs the task needs, all present and within the limits, before any model loads."""
    if text is not None and not isinstance(text, str):
        raise InputError("The text must be a string.")
    if text is not None and len(text) > ctx.settings.max_text_chars:
        raise InputError(f"The text is {len(text):,} characters; the limit is {ctx.settings.max_text_chars:,}.")
    given = {
        Kind.TEXT: text if text and text.strip() else None,
        Kind.AUDIO: None if audio is None or (isinstance(audio, str) and not audio.strip()) else audio,
        Kind.IMAGE: None if image is None or (isinstance(image, str) and not image.strip()) else image,
    }
    spec = COMPARE_TASKS[task]
    how = {Kind.TEXT: f"type {spec.text_means or 'some text'}", Kind.AUDIO: "upload or record audio"}
    for kind in spec.needs:
        if given[kind] is None:
            raise InputError(f"Comparing {task} needs {how.get(kind, 'an image')}.")
    # Read once, checked once, before any model loads: every model gets the same input, and a bad file is
    # refused up front instead of failing each model's row in turn.
    if Kind.IMAGE in spec.needs:
        given[Kind.IMAGE] = open_image(given[Kind.IMAGE])
    if Kind.AUDIO in spec.needs:
        samples, rate = read_audio(given[Kind.AUDIO], ctx.settings.max_audio_seconds)
        given[Kind.AUDIO] = (rate, samples)
    if task in ("search", "rerank"):
        _lines(text)
    return {kind: value for kind, value in given.items() if value is not None}


class PeakMemory:
    """The most the process's resident memory grew above where it was at the start, sampled in a thread."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self._start = self._process.memory_info().rss
        self._peak = self._start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="compare-memory")

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._process.memory_info().rss)

    @property
    def grown(self) -> int:
        return self._peak - self._start


def tokens_per_second(result: Any, seconds: float) -> float | None:
    stats = getattr(result, "stats", None)
    tokens = getattr(stats, "completion_tokens", 0)
    return tokens / seconds if tokens and seconds > 0 else None


def run_one(ctx: TaskContext, task: str, inputs: Inputs, model: str, progress: ProgressFn | None) -> ModelRun:
    """Load one model (timed), run the task on it (timed), and read its output; its failure is its row's error."""
    own = ctx.for_task(task)
    model = "" if model == CONFIGURED else model
    ref = own.resolve_model(model)
    run = ModelRun(str(ref))
    try:
        with PeakMemory() as peak:
            loaded = (own.manager.state_of(task, ref) or {}).get("state") == "loaded"
            started = time.perf_counter()
            own.manager.load(task, ref, progress)
            run.load_seconds = 0.0 if loaded else time.perf_counter() - started
            run.memory = (own.manager.state_of(task, ref) or {}).get("bytes", 0)
            started = time.perf_counter()
            result = COMPARE_TASKS[task].call(ctx, inputs, model)
            run.seconds = time.perf_counter() - started
        run.peak_memory = max(peak.grown, 0)
    except Exception as exc:  # one model's failure is its own row; the others still run
        run.error = readable(str(exc)) if isinstance(exc, ShowcaseError) else f"{type(exc).__name__}: {exc}"
        return run
    run.result = result
    run.tokens_per_second = tokens_per_second(result, run.seconds)
    gives = ctx.specs[task].gives
    run.audio = audio_of(result) if gives == Kind.AUDIO else None
    run.image = image_of(result)
    shows = COMPARE_TASKS[task].shows
    if shows is not None:
        run.output = shows(result)
    elif gives == Kind.TEXT:
        run.output = text_of(result)
    else:
        run.output = summary_of(run.audio or run.image or result, gives)
    if not run.output.strip():  # say so: an empty cell reads as "not run yet"
        silent = getattr(result, "silent", False)
        run.output = "(the recording is silent: nothing to transcribe)" if silent else "(the model gave no text)"
    return run


def compare(
    ctx: TaskContext,
    task: str,
    models: str,
    text: str | None = None,
    audio: Any = None,
    image: Any = None,
    progress: ProgressFn | None = None,
) -> Iterator[Comparison]:
    """Run the task on each model in turn; yields the comparison after each model (a failed one has its error)."""
    key = check_task(ctx, task)
    refs = parse_models(models)
    own = ctx.for_task(key)
    resolved = [str(own.resolve_model("" if ref == CONFIGURED else ref)) for ref in refs]
    if len(set(resolved)) < len(resolved):  # every ref allowed and well formed before the first one loads
        raise InputError(f"Some of the models are the same one ({', '.join(resolved)}): compare different models.")
    inputs = check_inputs(ctx, key, text, audio, image)
    comparison = Comparison(key)
    for number, ref in enumerate(refs, start=1):
        if progress is not None:
            progress((number - 1, len(refs)), desc=f"Model {number} of {len(refs)}: {ref}")
        comparison.runs.append(run_one(ctx, key, inputs, ref, progress))
        yield Comparison(key, list(comparison.runs))  # a copy: what was shown stays as it was
    if all(run.error for run in comparison.runs):
        raise InputError(f"None of the models ran: {comparison.runs[0].model}: {comparison.runs[0].error}")
