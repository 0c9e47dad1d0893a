"""Errors a user sees: each message is written for the person using the app (apps/ui/errors.py shows them)."""

from __future__ import annotations

import logging
import re

log = logging.getLogger("showcase")

MAX_WORD_CHARS = 120  # a longer "word" in a message is an echo of the input (1 MB of text, a path)
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD_CHARS + 1},}}")


def readable(message: str) -> str:
    """The message with every overlong word cut short, so an echoed input cannot flood the page."""
    return _LONG_WORD.sub(lambda match: match.group()[: MAX_WORD_CHARS - 20] + "…" + match.group()[-10:], message)


class ShowcaseError(Exception):
    """An error whose message is written for the person using the app."""


class InputError(ShowcaseError):
    """The request itself is wrong (empty, too long, wrong kind of file...)."""


class ModelUnavailable(ShowcaseError):
    """A model could not be fetched or loaded."""


class MemoryBudgetError(ModelUnavailable):
    """A model does not fit in the memory budget."""


class TransientLoadError(ModelUnavailable):
    """A model failed to load for a reason that is probably not its own (worth retrying)."""
