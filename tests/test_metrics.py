"""GET /metrics: requests counted by endpoint and outcome from concurrent clients, model loads and evictions,
the API key; parsed with prometheus_client's own parser."""

from __future__ import annotations

import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import free_port
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from apps.core.errors import InputError, MemoryBudgetError, ModelUnavailable
from apps.monitoring.metrics import Metrics, outcome_of


def scrape(url: str, key: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    request = urllib.request.Request(url.rstrip("/") + "/metrics")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_outcomes_follow_the_exception() -> None:
    assert outcome_of(None) == "ok"
    assert outcome_of(InputError("x")) == "user_error"
    assert outcome_of(ModelUnavailable("x")) == "model_error"
    assert outcome_of(MemoryBudgetError("x")) == "rejected"
    wrapped = RuntimeError("shown")
    wrapped.__cause__ = InputError("x")
    assert outcome_of(wrapped) == "user_error"


def test_concurrent_good_and_bad_requests_are_counted_exactly(tiny_app) -> None:
    from gradio_client import Client

    url = tiny_app[0]
    good, bad = 6, 4
    before = scrape(url)
    clients = [Client(url, verbose=False, ssl_verify=False) for _ in range(3)]

    def call(n: int) -> bool:
        text = "A cat.\nA dog." if n < good else ""
        try:
            clients[n % len(clients)].predict(text, "", api_name="/similarity")
            return True
        except Exception:
            return False

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(call, range(good + bad)))
    assert results.count(True) == good
    after = scrape(url)
    ep = {"endpoint": "/similarity"}
    ok = value(after, "showcase_requests_total", outcome="ok", **ep) - value(
        before, "showcase_requests_total", outcome="ok", **ep
    )
    user = value(after, "showcase_requests_total", outcome="user_error", **ep) - value(
        before, "showcase_requests_total", outcome="user_error", **ep
    )
    assert (ok, user) == (good, bad)
    count = value(after, "showcase_request_seconds_count", **ep) - value(before, "showcase_request_seconds_count", **ep)
    assert count == good + bad
    waits = value(after, "showcase_queue_wait_seconds_count", **ep) - value(
        before, "showcase_queue_wait_seconds_count", **ep
    )
    assert waits == good + bad
    assert value(after, "showcase_in_flight", **ep) == 0
    assert value(after, "showcase_process_rss_bytes") > 0


def test_a_load_and_an_eviction_are_counted(tiny_models_file) -> None:
    from apps.core.manager import ModelManager
    from apps.core.settings import ModelSelection, read_models_file

    refs = read_models_file(tiny_models_file)

    class Big:
        pass

    def loader(request):  # sized by the estimate of the tiny folder; one fits the budget at a time
        return Big()

    def other_loader(request):  # another loader: the same folder is another copy
        return Big()

    manager = ModelManager(
        loaders={"similarity": loader, "search": other_loader},
        selection=ModelSelection({"similarity": refs["similarity"], "search": refs["similarity"]}),
        budget=1 << 40,
        offline=True,
        fetch=lambda ref, **kwargs: __import__("pathlib").Path(ref.source),
    )
    metrics = Metrics()
    metrics.watch_manager(manager)
    manager.load("similarity")
    manager.budget = manager.used_bytes() + 1  # room for one model: the next load evicts the first
    manager.load("search")
    text = metrics.render().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert value(samples, "showcase_model_loads_total", task="similarity") == 1
    assert value(samples, "showcase_model_loads_total", task="search") == 1
    assert value(samples, "showcase_model_evictions_total", task="similarity") == 1
    assert value(samples, "showcase_model_load_seconds_count", task="search") == 1
    assert value(samples, "showcase_budget_bytes") == manager.budget


def test_metrics_behind_the_api_key(tiny_settings) -> None:
    from app import build_demo, launch

    settings = tiny_settings.model_copy(update={"port": free_port(), "api_key": SecretStr("s3cret")})
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{settings.port}/"
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(url)
        assert refused.value.code == 401
        with pytest.raises(urllib.error.HTTPError):
            scrape(url, "wrong")
        assert value(scrape(url, "s3cret"), "showcase_process_rss_bytes") > 0
    finally:
        demo.close()


def test_v1_requests_are_counted(tiny_app) -> None:
    import json

    url = tiny_app[0].rstrip("/")
    before = scrape(url)

    def post(path: str, body: dict) -> int:
        request = urllib.request.Request(
            url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    with urllib.request.urlopen(url + "/v1/models", timeout=60) as response:
        assert response.status == 200
    assert post("/v1/embeddings", {"input": ["a cat", "a dog"]}) == 200
    assert post("/v1/embeddings", {"input": [""]}) == 400
    assert post("/v1/nothing-here", {}) == 404
    after = scrape(url)

    def grew(endpoint: str, outcome: str) -> float:
        return value(after, "showcase_requests_total", endpoint=endpoint, outcome=outcome) - value(
            before, "showcase_requests_total", endpoint=endpoint, outcome=outcome
        )

    assert grew("/v1/models", "ok") == 1
    assert grew("/v1/embeddings", "ok") == 1
    assert grew("/v1/embeddings", "user_error") == 1
    assert grew("/v1/other", "user_error") == 1


def test_counting_v1_leaves_every_other_request_alone(tiny_app) -> None:
    """The /v1 counting is plain ASGI: Starlette's BaseHTTPMiddleware would run every request of the app
    (Gradio's queue and its event stream too) through a task and body streams of its own (~1.4 ms a call)."""
    from starlette.middleware.base import BaseHTTPMiddleware

    from apps.serving.openai_api import V1Observer

    outer = tiny_app[1].server.config.app  # the port's FastAPI app: /v1, /metrics, then Gradio at /
    stack = [middleware.cls for middleware in outer.user_middleware]
    assert V1Observer in stack
    assert not [cls for cls in stack if isinstance(cls, type) and issubclass(cls, BaseHTTPMiddleware)], stack
