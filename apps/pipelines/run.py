"""Running a checked pipeline: each step through `ctx.run_task`, its typed result turned into the next input.

A step's output is read from its task's result by apps/shared/results.py (the same adapters Compare uses).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from apps.core.errors import InputError, ShowcaseError, readable
from apps.core.manager import ProgressFn
from apps.core.spec import Kind, TaskContext
from apps.pipelines.spec import Pipeline, input_parameter
from apps.shared.results import audio_of, image_of, summary_of, value_of


@dataclass
class StepRun:
    """One finished step: what ran, on which model, how long it took, and its output."""

    number: int
    task: str
    model: str
    seconds: float
    kind: Kind | None
    value: Any  # the output of kind `kind`, as the next step reads it
    result: Any  # the task's own typed result
    summary: str

    def row(self) -> list[Any]:
        return [self.number, self.task, self.model, round(self.seconds, 3), self.summary]


@dataclass
class PipelineRun:
    """A run so far: the finished steps and the latest text, audio and image any of them produced."""

    steps: list[StepRun] = field(default_factory=list)
    text: str | None = None
    audio: tuple[int, np.ndarray] | None = None
    image: Image.Image | None = None

    def rows(self) -> list[list[Any]]:
        return [step.row() for step in self.steps]


COLUMNS = ["step", "task", "model", "seconds", "output"]


class StepFailed(ShowcaseError):
    """A step failed: the message names it; `run` holds the steps that finished before it."""

    def __init__(self, message: str, run: PipelineRun) -> None:
        super().__init__(message)
        self.run = run


def finished_note(state: PipelineRun) -> str:
    """What the steps before a failed one gave, for its error message (the tab also keeps showing them)."""
    if not state.steps:
        return ""
    done = "; ".join(f"step {step.number} ({step.task}): {step.summary[:80]}" for step in state.steps)
    return f" Finished before it: {done}."


def run_pipeline(
    ctx: TaskContext,
    spec: Any,
    text: Any = None,
    audio: Any = None,
    image: Any = None,
    progress: ProgressFn | None = None,
) -> Iterator[PipelineRun]:
    """Check the pipeline `spec` (JSON text) and run it on its input; yields the run after each step."""
    from apps.pipelines.spec import parse

    yield from run(ctx, parse(spec, ctx.specs), text, audio, image, progress)


def model_name(ctx: TaskContext, task: str, model: str) -> str:
    """The model a step runs: its own, else its task's configured one ("" for tasks without a model)."""
    if model:
        return model
    try:
        return str(ctx.for_task(task).configured_model())
    except (KeyError, ShowcaseError):
        return ""


def pipeline_inputs(pipeline: Pipeline, text: Any, audio: Any, image: Any) -> Any:
    """The pipeline's input of its kind; InputError when the input it starts from is missing."""
    value = {Kind.TEXT: text, Kind.AUDIO: audio, Kind.IMAGE: image}[pipeline.input]
    if value is None or (isinstance(value, str) and not value.strip()):
        how = {Kind.TEXT: "type some text", Kind.AUDIO: "upload or record audio", Kind.IMAGE: "upload an image"}
        raise InputError(f"This pipeline starts from {pipeline.input}: {how[pipeline.input]} to run it on.")
    return value


def run_step(ctx: TaskContext, task: str, value: Any, settings: dict[str, Any], model: str, progress: Any) -> Any:
    """Call the step's task function with its input, settings and model; a streaming one is read to its end."""
    spec = ctx.specs[task]
    kwargs = {input_parameter(spec): value, **settings}
    if model:
        kwargs["model"] = model
    if spec.run is not None and "progress" in inspect.signature(spec.run).parameters:
        kwargs["progress"] = progress
    result = ctx.run_task(task, **kwargs)
    if isinstance(result, Iterator):  # e.g. speech translation yields each stage: the last one is complete
        last = None
        for last in result:  # noqa: B007
            pass
        result = last
    return result


def run(
    ctx: TaskContext,
    pipeline: Pipeline,
    text: Any = None,
    audio: Any = None,
    image: Any = None,
    progress: ProgressFn | None = None,
) -> Iterator[PipelineRun]:
    """Run the steps in order; yields the run after each finished step. A failing step raises StepFailed
    naming it (its `.run` keeps the finished steps' outputs)."""
    outputs: list[Any] = [pipeline_inputs(pipeline, text, audio, image)]  # outputs[n] = step n's value
    state = PipelineRun()
    for number, step in enumerate(pipeline.steps, start=1):
        spec = ctx.specs[step.task]
        start = time.perf_counter()
        try:
            result = run_step(ctx, step.task, outputs[step.source], step.settings, step.model, progress)
            value = value_of(result, spec.gives)
        except Exception as exc:
            reason = readable(str(exc)) if isinstance(exc, ShowcaseError) else f"{type(exc).__name__}: {exc}"
            raise StepFailed(f"Step {number} ({step.task}) failed: {reason}{finished_note(state)}", state) from exc
        seconds = time.perf_counter() - start
        outputs.append(value)
        state.steps.append(
            StepRun(
                number,
                step.task,
                model_name(ctx, step.task, step.model),
                seconds,
                spec.gives,
                value,
                result,
                summary_of(value, spec.gives),
            )
        )
        if spec.gives == Kind.TEXT:
            state.text = value
        # Side outputs count too: narration's boxed picture is the image of a pipeline that narrates.
        state.audio = audio_of(result) if spec.gives == Kind.AUDIO else (audio_of(result) or state.audio)
        state.image = image_of(result) or state.image
        yield state
