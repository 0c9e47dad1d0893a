"""The pipeline format: parse a spec (JSON, or YAML in files), check it step by step, and say what is wrong.

A pipeline is `{"name": ..., "input": "image", "steps": [{"task": "captioning"}, {"task": "translation",
"target_language": "French"}, {"task": "tts"}]}`. Each step names a registry task with a task function;
every other key of a step is a setting of that function (its keyword arguments), except:

- `model`: the step's model (a Hub id or a listed model; empty or absent: the task's configured one);
- `from`: where its input comes from, `"input"` or the number of an earlier step (default: the step
  before it, the pipeline's input for step 1). A step can only read an earlier one: no loops.

A step's input kind (text, audio, image, …) is its task's `takes[0]`, its output kind `gives`
(`apps.core.spec.Kind`); a pipeline whose step gets the wrong kind is refused before anything runs.
No gradio here: the tab, the API and `python app.py pipeline FILE` all read pipelines through this module.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core.errors import InputError
from apps.core.spec import Kind, TaskSpec

MAX_STEPS = 50  # a longer chain is almost surely a mistake (a loop in a generator), and each step loads a model
MAX_SPEC_CHARS = 100_000
INPUT_KINDS = (Kind.TEXT, Kind.AUDIO, Kind.IMAGE)  # what a pipeline can start from: the API's three inputs
RESERVED = ("task", "model", "from")  # step keys that are not the task function's settings
# Parameters a task function has that a pipeline step never sets: the step's input arrives as the first
# parameter after `ctx`, and progress is the pipeline's own.
NOT_SETTINGS = ("ctx", "progress")

# Settings a step gets unless it sets them: what makes a task fit inside a pipeline. Translation needs a
# source language (English, as the examples); narration's own speech would duplicate a text-to-speech step.
STEP_DEFAULTS: dict[str, dict[str, Any]] = {
    "translation": {"source_language": "English"},
    "narration": {"speak": False},
}

ARTICLE = {Kind.TEXT: "text", Kind.AUDIO: "audio", Kind.IMAGE: "an image", Kind.LABELS: "labels", Kind.TABLE: "a table"}


@dataclass(frozen=True)
class Step:
    """One checked step: its task, settings (keyword arguments), model, and where its input comes from."""

    task: str
    settings: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    source: int = -1  # 0 = the pipeline's input, n = step n's output (1-based); -1 = the step before

    def to_json(self, number: int) -> dict[str, Any]:
        """The step as the spec writes it (only what differs from the defaults)."""
        value: dict[str, Any] = {"task": self.task, **self.settings}
        if self.model:
            value["model"] = self.model
        if self.source != number - 1:
            value["from"] = "input" if self.source == 0 else self.source
        return value


@dataclass(frozen=True)
class Pipeline:
    """A checked pipeline: what it starts from and its steps, each fed by the pipeline's input or an earlier step."""

    name: str
    input: Kind
    steps: tuple[Step, ...]
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {"name": self.name, "input": str(self.input)}
        if self.description:
            value["description"] = self.description
        value["steps"] = [step.to_json(number) for number, step in enumerate(self.steps, start=1)]
        return value

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


def step_tasks(specs: Mapping[str, TaskSpec]) -> dict[str, TaskSpec]:
    """The tasks a step can run: those with a task function that takes an input (not the pipelines' own)."""
    return {key: spec for key, spec in specs.items() if spec.run is not None and spec.takes and key != "pipelines"}


def parameters(spec: TaskSpec) -> list[inspect.Parameter]:
    """The task function's parameters after `ctx`: the first is the step's input."""
    assert spec.run is not None
    return [p for p in inspect.signature(spec.run).parameters.values() if p.name not in NOT_SETTINGS]


def input_parameter(spec: TaskSpec) -> str:
    return parameters(spec)[0].name


def setting_names(spec: TaskSpec) -> list[str]:
    """The settings a step of this task can have (its function's parameters after its input; `model` apart)."""
    return [p.name for p in parameters(spec)[1:] if p.name != "model"]


def required_settings(spec: TaskSpec) -> list[str]:
    """Settings with no default in the task function nor in STEP_DEFAULTS: a step must set them."""
    defaults = STEP_DEFAULTS.get(spec.key, {})
    return [
        p.name
        for p in parameters(spec)[1:]
        if p.default is inspect.Parameter.empty and p.name != "model" and p.name not in defaults
    ]


def takes_model(spec: TaskSpec) -> bool:
    return any(p.name == "model" for p in parameters(spec))


def kind_phrase(kind: Kind | None) -> str:
    return ARTICLE.get(kind, "nothing") if kind is not None else "nothing"


def fit_problem(spec: TaskSpec, given: Kind | None, number: int, source: int) -> str | None:
    """Why the task of step `number` cannot read what its source gives (None when it can)."""
    needs = spec.takes[0]
    if given == needs:
        return None
    origin = "the pipeline's input is" if source == 0 else f"step {source} gives"
    return f"step {number} ({spec.key}) needs {kind_phrase(needs)}, {origin} {kind_phrase(given)}"


def can_follow(specs: Mapping[str, TaskSpec], given: Kind | None) -> dict[str, str | None]:
    """Every step task → None if it can read `given`, else why not (for the builder's list)."""
    answers: dict[str, str | None] = {}
    for key, spec in step_tasks(specs).items():
        needs = spec.takes[0]
        answers[key] = None if needs == given else f"{spec.title} needs {kind_phrase(needs)}, not {kind_phrase(given)}"
    return answers


def load_text(text: Any, yaml_allowed: bool = False) -> Any:
    """The spec's value: JSON (YAML too, for files); InputError that says where the text went wrong."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(
            'Write the pipeline as JSON, e.g. {"input": "image", "steps": [{"task": "captioning"}, {"task": "tts"}]}.'
        )
    if len(text) > MAX_SPEC_CHARS:
        raise InputError(f"The pipeline spec is {len(text):,} characters long; the limit is {MAX_SPEC_CHARS:,}.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not yaml_allowed:
            raise InputError(
                f"The pipeline spec is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
                'Write it as {"input": "text", "steps": [{"task": "..."}]}.'
            ) from None
    import yaml  # only for files: the API and the tab take JSON

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"The pipeline file is neither valid JSON nor valid YAML: {str(exc)[:300]}") from None


def parse(text: Any, specs: Mapping[str, TaskSpec], yaml_allowed: bool = False) -> Pipeline:
    """Read and check a pipeline spec; InputError naming the first problem (and its step)."""
    return check(load_text(text, yaml_allowed), specs)


def _source(value: Any, number: int) -> int:
    if value is None:
        return number - 1
    if value == "input":
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f'Step {number}: `from` must be "input" or the number of an earlier step, not {value!r:.60}.')
    if value >= number:
        raise InputError(
            f"Step {number} takes its input from step {value}, which does not come before it: a pipeline "
            'cannot loop back (no cycles). Use the output of an earlier step, or "input".'
        )
    if value < 1:
        raise InputError(f'Step {number}: `from` is {value}; steps are numbered from 1 (or use "input").')
    return value


def check(value: Any, specs: Mapping[str, TaskSpec]) -> Pipeline:
    """A pipeline from its parsed spec, every step checked against its task's function and kinds."""
    if not isinstance(value, dict):
        raise InputError(
            'The pipeline spec must be a JSON object with a "steps" list, e.g. {"steps": [{"task": "tts"}]}.'
        )
    unknown = set(value) - {"name", "input", "steps", "description"}
    if unknown:
        raise InputError(
            f"The pipeline has unknown keys {', '.join(sorted(map(str, unknown)))}: "
            "it takes name, description, input and steps."
        )
    name, description = value.get("name") or "pipeline", value.get("description") or ""
    if not isinstance(name, str) or not isinstance(description, str):
        raise InputError("The pipeline's name and description must be text.")
    steps = value.get("steps")
    if steps is None or steps == []:
        raise InputError('The pipeline has no steps: add at least one step, e.g. {"task": "captioning"}.')
    if not isinstance(steps, list):
        raise InputError('The pipeline\'s "steps" must be a list of steps, e.g. [{"task": "tts"}].')
    if len(steps) > MAX_STEPS:
        raise InputError(f"The pipeline has {len(steps)} steps; the limit is {MAX_STEPS}.")
    tasks = step_tasks(specs)
    checked: list[Step] = []
    kinds: list[Kind | None] = []  # kinds[0] = the input; kinds[n] = step n's output
    for number, raw in enumerate(steps, start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("task"), str):
            raise InputError(f'Step {number} must be an object naming its task, e.g. {{"task": "translation"}}.')
        key = raw["task"].strip()
        if key not in tasks:
            raise InputError(f"Step {number}: unknown task `{key[:60]}`. Tasks a step can run: {', '.join(tasks)}.")
        spec = tasks[key]
        source = _source(raw.get("from"), number)
        if number == 1 and not kinds:
            kinds.append(_input_kind(value.get("input"), spec))
        problem = fit_problem(spec, kinds[source], number, source)
        if problem:
            raise InputError(
                problem[0].upper() + problem[1:] + f": put a step that gives {kind_phrase(spec.takes[0])} before it."
            )
        settings = {k: v for k, v in raw.items() if k not in RESERVED}
        allowed = setting_names(spec)
        for setting in settings:
            if setting not in allowed:
                listed = ", ".join(allowed) or "none"
                raise InputError(f"Step {number} ({key}) has no setting `{setting[:60]}`; its settings are: {listed}.")
        for setting in required_settings(spec):
            if setting not in settings:
                raise InputError(f'Step {number} ({key}) needs the setting `{setting}`: add "{setting}": … to it.')
        model = raw.get("model") or ""
        if not isinstance(model, str):
            raise InputError(f"Step {number} ({key}): the model must be text, a Hub id such as `org/name`.")
        if model and not takes_model(spec):
            raise InputError(f"Step {number} ({key}) has no model of its own to choose; remove its `model`.")
        checked.append(Step(key, {**STEP_DEFAULTS.get(key, {}), **settings}, model.strip(), source))
        kinds.append(spec.gives)
    return Pipeline(name, kinds[0], tuple(checked), description)  # type: ignore[arg-type]


def _input_kind(value: Any, first: TaskSpec) -> Kind:
    if value is None:
        return first.takes[0] if first.takes[0] in INPUT_KINDS else Kind.TEXT
    if value not in [str(kind) for kind in INPUT_KINDS]:
        raise InputError(f"The pipeline's input must be text, audio or image, not {str(value)[:60]!r}.")
    return Kind(value)


def read_file(path: str | Path, specs: Mapping[str, TaskSpec]) -> Pipeline:
    """A pipeline from a .json or .yaml file (YAML is read only from files)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read the pipeline file {path.name}: {exc.__class__.__name__}.") from None
    return parse(text, specs, yaml_allowed=path.suffix.lower() in (".yaml", ".yml"))
