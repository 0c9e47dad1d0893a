"""The tiny-model kit's registry: one builder per task, grouped in modules of this package.

Each module here registers builders with `@builder("task")`; `tests/tiny_models.py` imports them all.
A builder writes a tiny random checkpoint into the folder it is given and returns the task's entry
for models.toml (at least `{"model": str(folder)}`).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

BUILDERS: dict[str, Callable[[Path], dict[str, Any]]] = {}


def builder(task: str) -> Callable[[Callable[[Path], dict[str, Any]]], Callable[[Path], dict[str, Any]]]:
    def register(fn: Callable[[Path], dict[str, Any]]) -> Callable[[Path], dict[str, Any]]:
        BUILDERS[task] = fn
        return fn

    return register


# -- shared pieces ------------------------------------------------------------------------------

WORDS = (
    "a the is are on in of and to cat cats kitten dog sits sitting mat rug stock markets fell today "
    "shares dropped hello world what capital france paris i you it this that image photo"
).split()


def wordpiece_vocab() -> dict[str, int]:
    """BERT-style vocab: specials, characters, '##' continuations and a few words (any text tokenizes)."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    tokens += chars + [f"##{c}" for c in chars] + WORDS
    return {token: index for index, token in enumerate(dict.fromkeys(tokens))}
