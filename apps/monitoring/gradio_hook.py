"""Count (and trace) every public Gradio endpoint (the page and gradio_client alike); serve `GET /metrics`.

Every event of the app runs its `BlockFunction.fn`; `instrument` wraps each public one (those with an
api_name) once, keeping its signature (gradio reads it for `gr.Progress` and `gr.Request`), so no tab needs
to know about metrics.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from apps.core.auth import authorized
from apps.core.settings import Settings
from apps.monitoring import tracing
from apps.monitoring.metrics import METRICS, Metrics


def _event() -> tuple[str, float | None]:
    """The running event's id and how long it waited in gradio's queue (None: not known)."""
    try:
        from gradio.context import LocalContext

        event_id = LocalContext.event_id.get(None) or ""
        blocks = LocalContext.blocks.get(None)
        queue = getattr(blocks, "_queue", None)
        event = queue.event_ids_to_events.get(event_id) if queue is not None else None
        wait = time.monotonic() - event.enqueue_time if event is not None else None
        return event_id, wait
    except (LookupError, AttributeError):
        return "", None


def _track(metrics: Metrics | None, endpoint: str, request_id: str, wait: float | None) -> Any:
    """Count the request on `metrics`, or nothing when metrics are off (traces only)."""
    return metrics.track(endpoint, request_id, wait) if metrics is not None else contextlib.nullcontext()


def _wrap(fn: Callable[..., Any], endpoint: str, metrics: Metrics | None) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            request_id, wait = _event()
            with _track(metrics, endpoint, request_id, wait):
                span = tracing.start_request(endpoint, request_id, wait)
                if span is None:
                    yield from fn(*args, **kwargs)
                    return
                # The request's span is current only while the generator runs a step: gradio may run each
                # step in another thread, and a context attached in one cannot be detached in another.
                steps, failure = fn(*args, **kwargs), None
                try:
                    while True:
                        with tracing.current(span):
                            try:
                                item = next(steps)
                            except StopIteration:
                                return
                        yield item
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    steps.close()
                    tracing.end(span, failure)

        return gen_wrapper
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            request_id, wait = _event()
            with _track(metrics, endpoint, request_id, wait):
                span, failure = tracing.start_request(endpoint, request_id, wait), None
                try:
                    with tracing.current(span):
                        return await fn(*args, **kwargs)
                except BaseException as exc:
                    failure = exc
                    raise
                finally:
                    tracing.end(span, failure)

        return async_wrapper
    if inspect.isasyncgenfunction(fn):
        return fn  # none of ours; left uncounted rather than wrapped wrongly

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request_id, wait = _event()
        with _track(metrics, endpoint, request_id, wait):
            span, failure = tracing.start_request(endpoint, request_id, wait), None
            try:
                with tracing.current(span):
                    return fn(*args, **kwargs)
            except BaseException as exc:
                failure = exc
                raise
            finally:
                tracing.end(span, failure)

    return wrapper


def instrument(demo: Any, metrics: Metrics | None = METRICS, known_models: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Count every public endpoint of `demo` and its manager's model loads on `metrics` (None: metrics are
    off) and trace them when tracing is on (apps/monitoring/tracing.py, decided at each request)."""
    for block_fn in demo.fns.values():
        if block_fn.fn is None or not block_fn.api_name or getattr(block_fn.fn, "_showcase_counted", False):
            continue
        if block_fn.api_visibility == "private":
            continue
        wrapped = _wrap(block_fn.fn, f"/{block_fn.api_name}", metrics)
        wrapped._showcase_counted = True  # type: ignore[attr-defined]
        block_fn.fn = wrapped
    manager = getattr(demo, "manager", None)
    if manager is not None:
        if metrics is not None:
            metrics.watch_manager(manager, known_models)
        tracing.watch_manager(manager)


def add_metrics_route(app: FastAPI, demo: Any, settings: Settings) -> None:
    """`GET /metrics` (Prometheus text format) unless SHOWCASE_METRICS=false; behind the API key if set."""
    if not settings.metrics:
        return

    @app.get("/metrics", include_in_schema=False)
    def metrics_endpoint(request: Request) -> Response:
        if not authorized(settings, request.headers.get("authorization")):
            return Response(
                "Missing or wrong API key: send `Authorization: Bearer <SHOWCASE_API_KEY>`.",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
                media_type="text/plain",
            )
        return Response(METRICS.render(), media_type=CONTENT_TYPE_LATEST)
