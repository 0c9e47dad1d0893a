"""What a task is (TaskSpec) and what a tab gets to build itself (TabContext)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core.errors import InputError
from apps.core.manager import Loader, ModelManager, ProgressFn
from apps.core.refs import ModelRef
from apps.core.settings import Settings

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


@dataclass(frozen=True)
class TaskSpec:
    """One task = one tab. The registry in `apps/__init__.py` is a tuple of these."""

    key: str
    title: str
    api_names: tuple[str, ...]
    build: Callable[[TabContext], None]
    group: str = ""  # top-level tab (Language, Audio, …); tasks of a group are its sub-tabs
    description: str = ""
    default: ModelCard | None = None
    alternatives: tuple[ModelCard, ...] = ()
    load: Loader | None = None
    examples: tuple[str, ...] = ()  # file names under assets/
    pipeline_tag: str | None = None  # the Hub's pipeline tag, for the model finder
    uses: tuple[str, ...] = ()  # other tasks whose models this one calls (narration → tts)

    @property
    def cards(self) -> tuple[ModelCard, ...]:
        return ((self.default,) if self.default else ()) + self.alternatives

    def card_for(self, ref: ModelRef) -> ModelCard | None:
        return next((card for card in self.cards if card.id == ref.source), None)


@dataclass
class TabContext:
    """The dependencies a tab module receives: its spec, the settings and the model manager."""

    spec: TaskSpec
    settings: Settings
    manager: ModelManager
    specs: Mapping[str, TaskSpec]
    page_load: list[tuple[Callable[[], Any], list[Any]]] = field(default_factory=list)

    def for_task(self, key: str) -> TabContext:
        """The context of another task, to call its functions (e.g. narration → text-to-speech)."""
        return TabContext(self.specs[key], self.settings, self.manager, self.specs, self.page_load)

    def configured_model(self) -> ModelRef:
        return self.manager.selection.get(self.spec.key)

    def resolve_model(self, text: str | None) -> ModelRef:
        """The model a request asks for: the configured one, a curated one, or (if allowed) any."""
        if text is not None and not isinstance(text, str):
            raise InputError("The model must be text: a Hub id such as `org/name`, or empty for the tab's model.")
        configured = self.configured_model()
        text = (text or "").strip()
        if not text or text == str(configured):
            return configured
        for card in self.spec.cards:
            if text in (card.id, str(card.ref)):
                return card.ref
        if not self.settings.allow_custom_models:
            names = ", ".join(card.id for card in self.spec.cards)
            raise InputError(f"This app runs only its listed models for {self.spec.title}: {names}.")
        return ModelRef.parse(text, local_roots=tuple(self.settings.local_model_dirs))

    @contextmanager
    def use(self, model: str | None = None, progress: ProgressFn | None = None) -> Iterator[Any]:
        """`with ctx.use(model_text, progress) as model:` the task's loaded model."""
        with self.manager.use(self.spec.key, self.resolve_model(model), progress) as value:
            yield value

    def on_page_load(self, fn: Callable[[], Any], outputs: list[Any]) -> None:
        """Refresh these components whenever a page opens (e.g. after the configured model changed)."""
        self.page_load.append((fn, outputs))

    def asset(self, name: str) -> str:
        return str(ASSETS / name)
