"""The app's Prometheus metrics (prefix `showcase_`) and the one seam that counts requests.

Other code calls:

- `with track("/v1/chat/completions") as call:` around a request's work: counts it, times it and sets its
  outcome from the exception that leaves the block (InputError → user_error, a model that cannot load →
  model_error, a full memory budget or queue → rejected); `call.outcome = "rejected"` overrides it.
- `observe_chat(model, prompt_tokens, completion_tokens, first_token_seconds, tokens_per_second)` once per
  chat reply (tab, `/v1`, RAG, arena).
- `watch_manager(manager)`: model loads, evictions and bytes, through the manager's `listeners` seam.

Label values are bounded: `endpoint` is an api_name or a `/v1` route, `model` one of the configured or
curated ids (`known_models`), anything else `custom`. No user text reaches a label or the error history.
No gradio here (the tab and the Gradio hook live in apps/monitoring/tab.py and gradio_hook.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from apps.core.errors import InputError, MemoryBudgetError, ModelUnavailable, readable

OUTCOMES = ("ok", "user_error", "model_error", "rejected")
CUSTOM = "custom"
HISTORY_SECONDS = 3600  # the tab's plots keep the last hour, one sample per finished request at most
MAX_SAMPLES = 20_000
MAX_ERRORS = 50

# Seconds buckets: from an echo (milliseconds) to a long generation (minutes).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
SPEED_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def outcome_of(exc: BaseException | None) -> str:
    """The outcome a request that raised `exc` (None: it did not) is counted under.

    A `gr.Error` made by apps/ui/errors.user_errors carries the original error as its cause.
    """
    if exc is None:
        return "ok"
    cause = exc
    while cause.__cause__ is not None and not isinstance(cause, InputError | ModelUnavailable):
        cause = cause.__cause__
    if isinstance(cause, MemoryBudgetError) or type(cause).__name__ in REJECTED_NAMES:
        return "rejected"
    if isinstance(cause, InputError):
        return "user_error"
    return "model_error"


# Errors that refuse a request for want of room rather than fail it (gradio's full queue, an engine's busy
# reply): named, not imported, so this module needs none of their packages.
REJECTED_NAMES = {"QueueFull", "QueueFullError", "Rejected", "TooManyRequests"}


@dataclass
class Call:
    """One tracked request; set `outcome` to count it under another outcome than its exception's."""

    endpoint: str
    request_id: str = ""
    outcome: str | None = None


class Metrics:
    """Every `showcase_` metric in its own registry, plus a bounded in-memory history for the dashboard."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "showcase_requests", "Requests by endpoint and outcome.", ["endpoint", "outcome"], registry=r
        )
        self.request_seconds = Histogram(
            "showcase_request_seconds",
            "Time in the endpoint's function.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait_seconds = Histogram(
            "showcase_queue_wait_seconds",
            "Time waiting in the queue before the function ran.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("showcase_in_flight", "Requests running now.", ["endpoint"], registry=r)
        self.model_loads = Counter("showcase_model_loads", "Models loaded.", ["task"], registry=r)
        self.model_evictions = Counter(
            "showcase_model_evictions", "Models unloaded to make room in the budget.", ["task"], registry=r
        )
        self.model_load_seconds = Histogram(
            "showcase_model_load_seconds", "Time to load a model.", ["task"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.model_bytes = Gauge(
            "showcase_model_bytes", "Bytes of the loaded model, by the task that loaded it.", ["task"], registry=r
        )
        self.budget_bytes = Gauge("showcase_budget_bytes", "The models' memory budget (0: no limit).", registry=r)
        self.process_rss_bytes = Gauge(
            "showcase_process_rss_bytes", "The server process's resident memory.", registry=r
        )
        self.chat_tokens = Counter(
            "showcase_chat_tokens", "Chat tokens, prompt and completion.", ["direction", "model"], registry=r
        )
        self.chat_first_token_seconds = Histogram(
            "showcase_chat_first_token_seconds",
            "Time to a chat reply's first token.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.chat_tokens_per_second = Histogram(
            "showcase_chat_tokens_per_second",
            "Completion tokens per second of a chat reply.",
            buckets=SPEED_BUCKETS,
            registry=r,
        )
        self.known_models: set[str] = set()
        self.managers: list[Any] = []
        self._lock = threading.Lock()
        # (time, endpoint, outcome, seconds) per finished request, and the last errors without inputs.
        self.samples: deque[tuple[float, str, str, float]] = deque(maxlen=MAX_SAMPLES)
        self.errors: deque[dict[str, Any]] = deque(maxlen=MAX_ERRORS)
        self.model_events: deque[tuple[float, str, str]] = deque(maxlen=MAX_SAMPLES)  # (time, action, task)
        self.memory: deque[tuple[float, int, int | None, int]] = deque(maxlen=MAX_SAMPLES)

    # -- requests -------------------------------------------------------------------------------

    @contextmanager
    def track(self, endpoint: str, request_id: str = "", queue_wait: float | None = None) -> Iterator[Call]:
        """Count and time the block as one request to `endpoint` (an api_name such as `/similarity`)."""
        call = Call(endpoint, request_id)
        if queue_wait is not None:
            self.queue_wait_seconds.labels(endpoint).observe(max(queue_wait, 0.0))
        gauge = self.in_flight.labels(endpoint)
        gauge.inc()
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            yield call
        except BaseException as exc:
            failure = exc
            raise
        finally:
            seconds = time.perf_counter() - started
            gauge.dec()
            if isinstance(failure, GeneratorExit):  # a client went away or pressed Stop: not a failure
                failure = None
            self.finish(call, failure, seconds)

    def finish(self, call: Call, failure: BaseException | None, seconds: float) -> None:
        outcome = call.outcome or outcome_of(failure)
        self.requests.labels(call.endpoint, outcome).inc()
        self.request_seconds.labels(call.endpoint).observe(seconds)
        now = time.time()
        self.samples.append((now, call.endpoint, outcome, seconds))
        if failure is not None:
            # gr.Error's str() is its message's repr (quoted): its `message` is the sentence the user saw.
            text = getattr(failure, "message", None)
            text = text if isinstance(text, str) else str(failure)
            message = readable(text)[:300]  # our messages name the problem, never the whole input
            self.errors.append(
                {
                    "time": now,
                    "endpoint": call.endpoint,
                    "outcome": outcome,
                    "message": message,
                    "request_id": call.request_id,
                }
            )

    # -- chat -----------------------------------------------------------------------------------

    def model_label(self, model: str) -> str:
        return model if model in self.known_models else CUSTOM

    def observe_chat(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        first_token_seconds: float | None = None,
        tokens_per_second: float | None = None,
    ) -> None:
        """One chat reply's token counts and speed (`model`: its id, counted as `custom` unless known)."""
        label = self.model_label(model)
        self.chat_tokens.labels("prompt", label).inc(prompt_tokens)
        self.chat_tokens.labels("completion", label).inc(completion_tokens)
        if first_token_seconds is not None:
            self.chat_first_token_seconds.observe(first_token_seconds)
        if tokens_per_second is not None:
            self.chat_tokens_per_second.observe(tokens_per_second)

    # -- models ---------------------------------------------------------------------------------

    def watch_manager(self, manager: Any, known_models: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Count the manager's loads and evictions; its bytes and budget are read at each scrape."""
        self.known_models |= set(known_models)
        if manager not in self.managers:
            self.managers.append(manager)
            manager.listeners.append(self.on_model_event)

    def on_model_event(self, event: dict[str, Any]) -> None:
        task, action = event["task"], event["action"]
        if action == "load":
            self.model_loads.labels(task).inc()
            self.model_load_seconds.labels(task).observe(event["load_seconds"])
        elif action == "evict":
            self.model_evictions.labels(task).inc()
        if action in ("load", "evict"):
            self.model_events.append((event["time"], action, task))

    def refresh(self) -> None:
        """Read the gauges that are states, not events: models' bytes, budget, process memory."""
        rss = process_rss()
        self.process_rss_bytes.set(rss)
        used, budget = 0, None
        for manager in self.managers:
            by_task: dict[str, int] = {}
            for row in manager.snapshot():
                by_task[row["task"]] = by_task.get(row["task"], 0) + row["bytes"]
            for task in manager.loaders:
                self.model_bytes.labels(task).set(by_task.get(task, 0))
            used += sum(by_task.values())
            budget = manager.budget if budget is None else budget
        self.budget_bytes.set(budget or 0)
        self.memory.append((time.time(), used, budget, rss))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric, gauges read now."""
        self.refresh()
        return generate_latest(self.registry)


def process_rss() -> int:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


METRICS = Metrics()  # the process's metrics, like prometheus_client's default registry


def track(endpoint: str, request_id: str = "", queue_wait: float | None = None) -> Any:
    """`with track("/v1/chat/completions"):` on the process's metrics (see Metrics.track)."""
    return METRICS.track(endpoint, request_id, queue_wait)


def observe_chat(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    first_token_seconds: float | None = None,
    tokens_per_second: float | None = None,
) -> None:
    """Count one chat reply on the process's metrics (see Metrics.observe_chat)."""
    METRICS.observe_chat(model, prompt_tokens, completion_tokens, first_token_seconds, tokens_per_second)
