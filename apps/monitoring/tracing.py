"""Optional OpenTelemetry traces, exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Off (the default) every function here is a no-op that imports nothing: opentelemetry is imported the
first time a span is asked for with the variable set (or after `configure(exporter)`, which tests use
with an in-memory exporter), so importing the app stays as fast as before.

Spans, where the code has the seams:

- one per request to a public Gradio endpoint, named after it (`/similarity`), started when the request
  entered gradio's queue, with a `queue` child for the wait (apps/monitoring/gradio_hook.py);
- `model load` (task, model, bytes), a child of the request that loaded it, through the manager's listeners;
- chat: `chat MODEL` with the GenAI semantic-convention attributes (`gen_ai.operation.name`,
  `gen_ai.request.model`, `gen_ai.request.max_tokens` / `temperature` / `top_p`, `gen_ai.usage.input_tokens`
  / `output_tokens`, `gen_ai.response.finish_reasons`), and its `preprocess` (chat template, fitting the
  context), `forward` (generation) and `postprocess` (checking a JSON reply) children (apps/tasks/chat.py).

The standard OTEL_* variables apply (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, …). The app keeps its
own tracer provider rather than the process's global one, so a library's tracing is left as it was.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
SERVICE_NAME = "open-model-showcase"
Attributes = Mapping[str, str | int | float | bool | list[str]]

_lock = threading.Lock()
_decided = False
_provider: Any = None
_tracer: Any = None


def requested() -> bool:
    """Whether the environment asks for traces (an OTLP endpoint is set)."""
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def configure(exporter: Any = None) -> Any:
    """Start tracing: to `exporter` span by span (tests), else in batches to the OTLP/HTTP endpoint the
    OTEL_* variables name. Returns the tracer provider (its `force_flush()` sends what is pending)."""
    global _decided, _provider, _tracer
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    with _lock:
        previous = _provider
        _provider, _tracer, _decided = provider, provider.get_tracer("showcase"), True
    if previous is not None:
        previous.shutdown()
    return provider


def reset() -> None:
    """Stop tracing (what is pending is sent first); the environment is read again on the next span."""
    global _decided, _provider, _tracer
    with _lock:
        provider, _provider, _tracer, _decided = _provider, None, None, False
    if provider is not None:
        provider.shutdown()


def tracer() -> Any:
    """The app's tracer, or None when tracing is off (decided once, from the environment)."""
    global _decided
    if not _decided:
        with _lock:
            wanted, _decided = not _decided and requested(), True
        if wanted:
            configure()
    return _tracer


def enabled() -> bool:
    return tracer() is not None


def _context(parent: Any) -> Any:
    from opentelemetry import trace

    return trace.set_span_in_context(parent) if parent is not None else None


def start(
    name: str, attributes: Attributes | None = None, *, parent: Any = None, start_time: float | None = None
) -> Any:
    """A span begun now (or at `start_time`, seconds since the epoch), a child of `parent` or of the current
    span, not made current: end it with `end()`. Use it for work that spans a generator's yields."""
    found = tracer()
    if found is None:
        return None
    return found.start_span(
        name,
        context=_context(parent),
        attributes=dict(attributes or {}),
        start_time=None if start_time is None else int(start_time * 1e9),
    )


def end(span: Any, failure: BaseException | None = None, end_time: float | None = None) -> None:
    """End `span` (None: nothing), marked as an error when `failure` is an exception that is one."""
    if span is None:
        return
    if failure is not None and not isinstance(failure, GeneratorExit | StopIteration):
        from opentelemetry.trace import Status, StatusCode

        span.record_exception(failure)
        span.set_status(Status(StatusCode.ERROR, type(failure).__name__))
    span.end(end_time=None if end_time is None else int(end_time * 1e9))


@contextmanager
def span(name: str, attributes: Attributes | None = None, *, parent: Any = None) -> Iterator[Any]:
    """`with span("preprocess", parent=chat):` a span made current for a block that does not yield."""
    found = tracer()
    if found is None:
        yield None
        return
    with found.start_as_current_span(name, context=_context(parent), attributes=dict(attributes or {})) as made:
        yield made


@contextmanager
def current(made: Any) -> Iterator[None]:
    """Make `made` the current span for the block (one step of a generator: attach and detach in one go)."""
    if made is None:
        yield
        return
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(made))
    try:
        yield
    finally:
        context.detach(token)


def set_attributes(made: Any, attributes: Attributes) -> None:
    if made is not None:
        made.set_attributes(dict(attributes))


def start_request(endpoint: str, request_id: str = "", queue_wait: float | None = None) -> Any:
    """The span of one request to `endpoint`, begun when it was queued, with its `queue` child already done."""
    if tracer() is None:
        return None
    now = time.time()
    queued = now - max(queue_wait or 0.0, 0.0)
    attributes = {"showcase.endpoint": endpoint, "showcase.request_id": request_id}
    request = start(endpoint, attributes, start_time=queued if queue_wait is not None else None)
    if queue_wait is not None:
        end(start("queue", {"showcase.endpoint": endpoint}, parent=request, start_time=queued), end_time=now)
    return request


def on_model_event(event: dict[str, Any]) -> None:
    """A model manager listener: each load as a `model load` span, under the request that caused it."""
    if event.get("action") != "load" or tracer() is None:
        return
    finished = float(event["time"])
    attributes = {
        "showcase.task": event["task"],
        "showcase.model": event.get("model", ""),
        "showcase.model_bytes": int(event.get("bytes") or 0),
    }
    end(start("model load", attributes, start_time=finished - float(event["load_seconds"] or 0.0)), end_time=finished)


def watch_manager(manager: Any) -> None:
    """Trace the manager's model loads (each listener once per manager)."""
    if on_model_event not in manager.listeners:
        manager.listeners.append(on_model_event)
