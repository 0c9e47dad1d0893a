"""The one place that turns failures into `gr.Error` messages for the page and the Gradio API."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from apps.core.errors import ShowcaseError, readable

log = logging.getLogger("showcase")

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(task_title: str) -> Callable[[F], F]:
    """Decorate an event handler so every failure reaches the user as a clear `gr.Error`.

    Our own errors keep their message; anything unexpected is logged with its traceback and
    reported as a sentence naming the task, so one bad request never takes the app down.
    """

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
    return inspect.isgeneratorfunction(fn)
