"""What a task is (TaskSpec), what its task function runs with (TaskContext), and the kinds of data tasks pass.

No gradio here: the API, pipelines and evals call task functions through a TaskContext; tabs get the
richer `apps.ui.context.TabContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from apps.core.errors import InputError
from apps.core.manager import Loader, ModelManager, ProgressFn
from apps.core.refs import ADAPTER_MARK, ModelRef
from apps.core.settings import Settings
from apps.core.storage import check_name

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"


@dataclass(frozen=True)
class ModelCard:
    """A curated model: what the tab shows about it before anyone downloads it."""

    id: str
    params: str
    size: str
    licence: str
    note: str = ""
    gguf_file: str | None = None
    revision: str | None = None  # a branch or tag, when the default branch is not the one to use

    @property
    def ref(self) -> ModelRef:
        return ModelRef(self.id, revision=self.revision, gguf_file=self.gguf_file)

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.id}"


class Kind(StrEnum):
    """The kinds of data a task takes and gives, so that a pipeline can check that two steps fit together."""

    TEXT = "text"
    AUDIO = "audio"  # a sound: a file path, or (sample rate, samples)
    IMAGE = "image"  # a picture: a file path or a PIL image
    LABELS = "labels"  # scores per label (classification)
    TABLE = "table"  # rows of values (detections, matches, search results)


@dataclass(frozen=True)
class Asset:
    """An example file in assets/, named in a request or an example row (sent as a file, shown as one)."""

    name: str

    @property
    def path(self) -> Path:
        return ASSETS / self.name


@dataclass(frozen=True)
class Answer:
    """A request value that only an earlier call can give: output `index` of `api_name`'s reference request
    (the battle id /arena_vote votes on comes from /arena_battle). Whoever sends the request makes that call
    first and sends its answer in this place."""

    api_name: str
    index: int = 0


@dataclass(frozen=True)
class Request:
    """An endpoint's reference request: one good call with every parameter named (files as `Asset`s).

    The one such call per endpoint: the bad-input matrix starts from it, the load test and the bench send
    it, and the README check compares the README's example with it.
    """

    api_name: str
    inputs: Mapping[str, Any]


@dataclass(frozen=True)
class CodeRecipe:
    """How to reproduce a task's result in Python, for its "Use it in code" section (apps/shared/code.py).

    The snippets are `string.Template`s: `$model` is the model id (a Python literal), `$device` the device
    line's variable, and `$<parameter>` each public parameter's value as a Python literal (a file as its
    file name). `fields(values)` adds computed fields (e.g. a language's code) from the values by name.
    """

    direct: str  # loads the model classes (AutoProcessor / AutoModel… / generate) and prints the result
    pipeline: str | None = None  # the same with `transformers.pipeline(...)`; None where transformers has none
    no_pipeline: str = ""  # why there is no pipeline snippet (shown instead of it)
    packages: tuple[str, ...] = ("transformers", "torch")  # what the snippets import, as pip names
    fields: Callable[[Mapping[str, Any]], Mapping[str, str]] | None = None
    assets: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None  # example files it reads besides inputs


@dataclass(frozen=True)
class TaskSpec:
    """One task = one tab. The registry in `apps/__init__.py` is a tuple of these."""

    key: str
    title: str
    api_names: tuple[str, ...]
    build: Callable[[Any], None]  # build_tab(ctx: apps.ui.context.TabContext): the task's tab
    group: str = ""  # top-level tab (Language, Audio, …); tasks of a group are its sub-tabs
    description: str = ""
    default: ModelCard | None = None
    alternatives: tuple[ModelCard, ...] = ()
    load: Loader | None = None
    examples: tuple[str, ...] = ()  # file names under assets/
    pipeline_tag: str | None = None  # the Hub's pipeline tag, for the model finder
    uses: tuple[str, ...] = ()  # other tasks whose models this one calls (narration → tts)
    run: Callable[..., Any] | None = None  # the task function: run(ctx: TaskContext, ...) -> a typed result
    stream: Callable[..., Any] | None = None  # the same task streamed: stream(ctx, ...) -> an iterator of updates
    takes: tuple[Kind, ...] = ()  # the kinds of its main inputs, in order
    gives: Kind | None = None  # the kind of its main output
    requests: tuple[Request, ...] = ()  # one reference request per public endpoint (api_names)
    code: CodeRecipe | None = None  # its model's Python for "Use it in code" (the gradio_client way needs none)

    @property
    def cards(self) -> tuple[ModelCard, ...]:
        return ((self.default,) if self.default else ()) + self.alternatives

    def card_for(self, ref: ModelRef) -> ModelCard | None:
        return next((card for card in self.cards if card.id == ref.source), None)


def default_models(specs: Mapping[str, TaskSpec]) -> dict[str, ModelRef]:
    """Task key → its registry default model, for the tasks that have one."""
    return {key: spec.default.ref for key, spec in specs.items() if spec.default is not None}


@dataclass
class TaskContext:
    """What a task function runs with: its spec, the settings, the model manager and the other tasks' specs."""

    spec: TaskSpec
    settings: Settings
    manager: ModelManager
    specs: Mapping[str, TaskSpec]

    def for_task(self, key: str) -> TaskContext:
        """The context of another task, to call its task function (e.g. narration → text to speech)."""
        return TaskContext(self.specs[key], self.settings, self.manager, self.specs)

    def run_task(self, key: str, *args: Any, **kwargs: Any) -> Any:
        """Call another task's task function (from the registry: no task imports another task's module)."""
        spec = self.specs[key]
        if spec.run is None:
            raise InputError(f"Task `{key}` has no task function.")
        return spec.run(self.for_task(key), *args, **kwargs)

    def stream_task(self, key: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Stream another task's result (its `stream` function in the registry, e.g. the chat reply so far)."""
        spec = self.specs[key]
        if spec.stream is None:
            raise InputError(f"Task `{key}` has no streaming function.")
        return spec.stream(self.for_task(key), *args, **kwargs)

    def configured_model(self) -> ModelRef:
        return self.manager.selection.get(self.spec.key)

    def resolve_model(self, text: str | None) -> ModelRef:
        """The model a request asks for: the configured one, a curated one, or (if allowed) any."""
        if text is not None and not isinstance(text, str):
            raise InputError("The model must be text: a Hub id such as `org/name`, or empty for the tab's model.")
        configured = self.configured_model()
        text = (text or "").strip()
        if ADAPTER_MARK in text:  # `BASE+adapter:NAME`: the base is resolved (and allowed) as any model
            base_text, _, name = text.rpartition(ADAPTER_MARK)
            return self.with_adapter(self.resolve_model(base_text), name)
        if not text or text == str(configured):
            return configured
        for card in self.spec.cards:
            if text in (card.id, str(card.ref)):
                return card.ref
        if not self.settings.allow_custom_models:
            names = ", ".join(card.id for card in self.spec.cards)
            raise InputError(f"This app runs only its listed models for {self.spec.title}: {names}.")
        return ModelRef.parse(text, local_roots=tuple(self.settings.local_model_dirs))

    def with_adapter(self, base: ModelRef, name: str) -> ModelRef:
        """`base` with the fine-tuned adapter NAME from SHOWCASE_DATA_DIR/adapters (InputError if there is none)."""
        name = check_name(name, "adapter")
        folder = self.settings.data_path / "adapters" / name
        if not (folder / "adapter_config.json").is_file():
            raise InputError(
                f"There is no adapter `{name}`: train one in the Fine-tune tab (or `python app.py finetune`), "
                "then choose it as `BASE+adapter:NAME`."
            )
        return base.with_adapter(name, str(folder))

    @contextmanager
    def use(self, model: str | None = None, progress: ProgressFn | None = None) -> Iterator[Any]:
        """`with ctx.use(model_text, progress) as model:` the task's loaded model."""
        with self.manager.use(self.spec.key, self.resolve_model(model), progress) as value:
            yield value

    def asset(self, name: str) -> str:
        """The path of an example file in assets/."""
        return str(ASSETS / name)
