"""Labels for zero-shot classifiers (audio with CLAP, images with CLIP): one set of rules, one result type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.core.errors import InputError

MAX_LABELS = 50
MAX_LABEL_CHARS = 100


def parse_labels(text: Any, *, example: str, why_two: str) -> list[str]:
    """Comma-separated labels → distinct labels in order (inner spaces collapsed, case-blind duplicates
    dropped); InputError for no text, an empty label, a too-long label, fewer than two or too many.

    `example` shows a valid list in the message; `why_two` says why the model needs two labels.
    """
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"Enter at least two labels, separated by commas (e.g. “{example}”).")
    labels = [" ".join(part.split()) for part in text.split(",")]
    for number, label in enumerate(labels, start=1):
        if not label:
            raise InputError(f"Label {number} is empty: remove the extra comma, or write a label between the commas.")
        if len(label) > MAX_LABEL_CHARS:
            raise InputError(f"Label {number} is {len(label)} characters long; keep each under {MAX_LABEL_CHARS}.")
    seen: dict[str, str] = {}
    for label in labels:
        seen.setdefault(label.casefold(), label)  # "Dog" and "dog" are one label
    distinct = list(seen.values())
    if len(distinct) < 2:
        raise InputError(f"Enter at least two different labels, separated by commas: {why_two}")
    if len(distinct) > MAX_LABELS:
        raise InputError(f"{len(distinct)} labels is too many; use at most {MAX_LABELS}.")
    return distinct


@dataclass(frozen=True)
class LabelScores:
    """A classifier's answer (Kind.LABELS): each label's score, best first."""

    scores: dict[str, float]  # label → score, highest first (ties keep the labels' order)

    @property
    def labels(self) -> list[str]:
        """The labels, best first."""
        return list(self.scores)

    @property
    def best(self) -> str:
        """The label that scored highest."""
        return next(iter(self.scores))
