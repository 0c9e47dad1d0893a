"""Editing a pipeline spec step by step (what the tab's builder buttons do), on the JSON text itself.

The spec text stays the one source of truth: the builder reads it, changes one thing, writes it back.
Adding a step checks the pipeline it makes (so an unfit step is refused with the reason); removing or
moving a step may leave a pipeline that does not fit together, which `describe` then says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from apps.core.errors import InputError
from apps.core.spec import Kind, TaskSpec
from apps.pipelines.spec import INPUT_KINDS, MAX_STEPS, can_follow, check, kind_phrase, load_text, step_tasks

EMPTY = {"name": "my-pipeline", "input": "text", "steps": []}


def read(spec_text: Any) -> dict[str, Any]:
    """The spec as a dict with a steps list (a new one when the text is empty); InputError if unreadable."""
    if not isinstance(spec_text, str) or not spec_text.strip():
        return json.loads(json.dumps(EMPTY))
    value = load_text(spec_text)
    if not isinstance(value, dict) or not isinstance(value.get("steps", []), list):
        raise InputError('The pipeline spec must be a JSON object with a "steps" list.')
    value.setdefault("steps", [])
    return value


def write(value: dict[str, Any]) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def last_kind(value: dict[str, Any], specs: Mapping[str, TaskSpec]) -> Kind | None:
    """What the last step gives (the pipeline's input when there is no step); None when unknown."""
    steps = value.get("steps") or []
    if not steps:
        given = value.get("input", "text")
        return Kind(given) if given in [str(kind) for kind in INPUT_KINDS] else None
    task = steps[-1].get("task") if isinstance(steps[-1], dict) else None
    spec = step_tasks(specs).get(task) if isinstance(task, str) else None
    return spec.gives if spec else None


def options(spec_text: Any, specs: Mapping[str, TaskSpec]) -> tuple[list[tuple[str, str]], str]:
    """The steps that can come next ((title, key) choices) and a note on those that cannot, and why."""
    try:
        value = read(spec_text)
    except InputError as exc:
        return [], f"Fix the spec first: {exc}"
    given = last_kind(value, specs)
    fits = can_follow(specs, given)
    choices = [(specs[key].title, key) for key, why in fits.items() if why is None]
    others = [f"- **{specs[key].title}**: {why}" for key, why in fits.items() if why is not None]
    head = f"The next step reads {kind_phrase(given)}." if given else "The last step's output is unknown."
    return choices, head + (" These cannot follow:\n" + "\n".join(others) if others else "")


def describe(spec_text: Any, specs: Mapping[str, TaskSpec]) -> str:
    """One line: the pipeline's chain of kinds when it fits together, else what is wrong."""
    try:
        pipeline = check(read(spec_text), specs)
    except InputError as exc:
        return f"⚠ {exc}"
    chain = [str(pipeline.input)] + [f"{step.task} → {specs[step.task].gives}" for step in pipeline.steps]
    return f"✓ {len(pipeline.steps)} step(s): " + " → ".join(chain)


def add_step(spec_text: Any, task: Any, settings_text: Any, model: Any, specs: Mapping[str, TaskSpec]) -> str:
    """The spec with one more step at the end; InputError (the check's reason) if that step cannot follow."""
    value = read(spec_text)
    if not isinstance(task, str) or not task:
        raise InputError("Choose the task of the step to add.")
    settings: Any = {}
    if isinstance(settings_text, str) and settings_text.strip():
        try:
            settings = json.loads(settings_text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f'The step\'s settings are not valid JSON ({exc.msg}): write e.g. {{"target_language": "French"}}.'
            ) from None
    if not isinstance(settings, dict):
        raise InputError('The step\'s settings must be a JSON object, e.g. {"target_language": "French"}.')
    if len(value["steps"]) >= MAX_STEPS:
        raise InputError(f"The pipeline already has {MAX_STEPS} steps, the limit.")
    step = {"task": task, **{k: v for k, v in settings.items() if k != "task"}}
    if isinstance(model, str) and model.strip():
        step["model"] = model.strip()
    value["steps"].append(step)
    check(value, specs)  # refuses an unfit step with the reason, before the spec changes
    return write(value)


def step_index(value: dict[str, Any], number: Any) -> int:
    count = len(value["steps"])
    try:
        index = int(number) - 1
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < count:
        raise InputError(f"There is no step {number}: the pipeline has {count} step(s).")
    return index


def remove_step(spec_text: Any, number: Any) -> str:
    value = read(spec_text)
    del value["steps"][step_index(value, number)]
    return write(value)


def move_step(spec_text: Any, number: Any, offset: int) -> str:
    """The spec with step `number` moved `offset` places (-1 up, +1 down), kept within the list."""
    value = read(spec_text)
    index = step_index(value, number)
    target = min(max(index + offset, 0), len(value["steps"]) - 1)
    steps = value["steps"]
    steps.insert(target, steps.pop(index))
    return write(value)


def set_input(spec_text: Any, kind: Any) -> str:
    value = read(spec_text)
    if kind not in [str(k) for k in INPUT_KINDS]:
        raise InputError("A pipeline starts from text, audio or an image.")
    value["input"] = kind
    return write(value)
