"""Saved pipelines: the shipped examples (assets/pipelines/) and the visitors' own (SHOWCASE_DATA_DIR/pipelines/).

A visitor's pipeline is saved as `<name>.json` (the name checked by `storage.check_name`, written atomically);
examples are read-only and may be JSON or YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from apps.core import storage
from apps.core.errors import InputError
from apps.core.settings import Settings
from apps.core.spec import ASSETS, TaskSpec
from apps.pipelines.spec import Pipeline, parse, read_file

EXAMPLES_DIR = ASSETS / "pipelines"
SUFFIXES = (".json", ".yaml", ".yml")
EXAMPLE_PREFIX = "example: "  # how the load menu tells a shipped example from a saved pipeline


def example_files() -> dict[str, Path]:
    """Shipped example name (file stem) → its file, sorted by name."""
    return {path.stem: path for path in sorted(EXAMPLES_DIR.iterdir()) if path.suffix in SUFFIXES}


def folder(settings: Settings) -> Path:
    return storage.folder(settings.data_path, "pipelines")


def saved_names(settings: Settings) -> list[str]:
    """The visitors' saved pipelines, by name."""
    return sorted(path.stem for path in folder(settings).glob("*.json"))


def save(settings: Settings, name: str, spec_text: str, specs: Mapping[str, TaskSpec]) -> Pipeline:
    """Check the pipeline and save it under `name` (replacing one of that name); returns it."""
    name = storage.check_name(name, "pipeline")
    pipeline = parse(spec_text, specs)
    pipeline = Pipeline(name, pipeline.input, pipeline.steps, pipeline.description)
    storage.write_text(folder(settings) / f"{name}.json", pipeline.dumps() + "\n")
    return pipeline


def load(settings: Settings, choice: str, specs: Mapping[str, TaskSpec]) -> Pipeline:
    """A shipped example (`example: NAME`) or a saved pipeline (`NAME`), checked."""
    if not isinstance(choice, str) or not choice.strip():
        raise InputError("Choose a pipeline to load.")
    if choice.startswith(EXAMPLE_PREFIX):
        examples = example_files()
        name = choice.removeprefix(EXAMPLE_PREFIX)
        if name not in examples:
            raise InputError(f"There is no example pipeline “{name[:60]}”.")
        return read_file(examples[name], specs)
    path = folder(settings) / f"{storage.check_name(choice, 'pipeline')}.json"
    if not path.is_file():
        raise InputError(f"There is no saved pipeline “{choice[:60]}”: save one first, or pick an example.")
    return read_file(path, specs)


def choices(settings: Settings) -> list[str]:
    """What the load menu offers: the saved pipelines, then the examples."""
    return saved_names(settings) + [EXAMPLE_PREFIX + name for name in example_files()]
