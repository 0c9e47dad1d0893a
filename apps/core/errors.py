"""Errors a user sees, and the one place that turns them into `gr.Error` messages."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("showcase")

F = TypeVar("F", bound=Callable[..., Any])

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


def user_errors(task_title: str) -> Callable[[F], F]:
    """Decorate an event handler so every failure reaches the user as a clear `gr.Error`.

    Our own errors keep their message; anything unexpected is logged with its traceback and
    reported as a sentence naming the task, so one bad request never takes the app down.
    """
    import gradio as gr

    def decorate(fn: F) -> F:
        def convert(exc: Exception) -> gr.Error:
            if isinstance(exc, gr.Error):
                return exc
            if isinstance(exc, ShowcaseError):
                return gr.Error(readable(str(exc)), print_exception=False)
            log.exception("%s failed", task_title)
            return gr.Error(
                f"{task_title} failed: {type(exc).__name__}: {readable(str(exc))}. "
                "Try other input or another model; the details are in the server log.",
                print_exception=False,
            )

        if _is_generator(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    yield from fn(*args, **kwargs)
                except Exception as exc:
                    raise convert(exc) from exc

            return gen_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                raise convert(exc) from exc

        return wrapper  # type: ignore[return-value]

    return decorate


def _is_generator(fn: Callable[..., Any]) -> bool:
    import inspect

    return inspect.isgeneratorfunction(fn)
