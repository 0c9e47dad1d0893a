"""Which languages a translation model offers, by name: from its loaded tokenizer, else from its files.

Translation fills its language pickers and speech translation checks its languages with these, before
(or without) loading the model: the lists come from the cached config files or the model's name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apps.core import hub
from apps.core.refs import ModelRef
from apps.core.spec import TaskContext
from apps.shared.languages import FLORES_NAMES, ISO_NAMES, marian_pair_from_name, name_for_iso

Languages = tuple[dict[str, str], dict[str, str]]  # ({name: code} sources, {name: code} targets)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def family_from_files(ref: ModelRef, folder: Path | None) -> tuple[str, dict[str, Any]]:
    """Guess a model's family ("nllb", "m2m100", "marian", "") from its config files, else from its name."""
    config = _read_json(folder / "config.json") if folder else {}
    tokenizer_config = _read_json(folder / "tokenizer_config.json") if folder else {}
    model_type = config.get("model_type", "")
    tokenizer_class = str(tokenizer_config.get("tokenizer_class", "")).lower()
    name = ref.source.lower()
    if model_type == "marian" or "opus-mt" in name:
        return "marian", tokenizer_config
    if "nllb" in tokenizer_class or "nllb" in name:
        return "nllb", tokenizer_config
    if "m2m" in tokenizer_class or "m2m100" in name:
        return "m2m100", tokenizer_config
    return "", tokenizer_config


def languages_without_loading(ref: ModelRef) -> Languages:
    """The languages a model offers, read from its files (if cached) or its name: no weights are loaded."""
    family, tokenizer_config = family_from_files(ref, hub.cached_path(ref))
    if family == "nllb":
        table = {name: code for code, name in FLORES_NAMES.items()}
        return table, table
    if family == "marian":
        source = tokenizer_config.get("source_lang")
        target = tokenizer_config.get("target_lang")
        if not (source and target):
            source, target = marian_pair_from_name(ref.source)
        return (
            {name_for_iso(source): source} if source else {},
            {name_for_iso(target): target} if target else {},
        )
    table = {name: code for code, name in ISO_NAMES.items()}  # M2M100, and the best guess for unknown models
    return table, table


def model_languages(ctx: TaskContext, model: str | None = None) -> Languages:
    """The translation model's ({name: code} sources, targets): exact once it is loaded, else from its files.

    `ctx` is the translation task's context (another task gets it with `ctx.for_task("translation")`).
    """
    ref = ctx.resolve_model(model)
    # The snapshot, not `state_of`: that works out the device, which imports torch (seconds) while the
    # page is being built, before any model was asked for.
    loaded = any(
        row["task"] == ctx.spec.key and row["model"] == str(ref) and row["state"] == "loaded"
        for row in ctx.manager.snapshot()
    )
    if loaded:
        with ctx.use(model) as pipe:
            return pipe.sources, pipe.targets
    return languages_without_loading(ref)


def language_names(ctx: TaskContext, model: str | None = None) -> list[str]:
    """Names of every language the translation task's model translates from or into, sorted."""
    sources, targets = model_languages(ctx, model)
    return sorted(set(sources) | set(targets))
