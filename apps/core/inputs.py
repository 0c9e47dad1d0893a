"""The one check for a text input (a message, a document, the text to speak): every task calls it."""

from __future__ import annotations

from typing import Any

from apps.core.errors import InputError


def require_text(value: Any, max_chars: int, *, what: str, empty: str, strip: str | None = None) -> str:
    """`value` as text, stripped of `strip` (default: whitespace) at both ends.

    InputError when it is not a string ("The {what} must be text."), blank (`empty`, a sentence that says
    what to do) or longer than `max_chars` ("The {what} is N characters long; the limit is M.").
    """
    if not isinstance(value, str):
        raise InputError(f"The {what} must be text.")
    if not value.strip():
        raise InputError(empty)
    if len(value) > max_chars:
        raise InputError(f"The {what} is {len(value):,} characters long; the limit is {max_chars:,}.")
    return value.strip(strip)
