"""OpenTelemetry traces: off and not imported by default; spans for requests (with their queue wait), model
loads and chat (GenAI attributes, preprocess/forward/postprocess) in an in-memory exporter; OTLP/HTTP to a
loopback receiver when OTEL_EXPORTER_OTLP_ENDPOINT is set."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from conftest import ROOT, free_port

from apps.monitoring import tracing


@pytest.fixture
def spans() -> Iterator[object]:
    """Tracing on for the test, into memory; off again afterwards."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracing.configure(exporter)
    yield exporter
    tracing.reset()


def by_name(exporter, name: str) -> list:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def test_importing_the_app_imports_no_opentelemetry_sdk_unless_asked() -> None:
    code = (
        "import sys, app; from apps.monitoring import tracing; assert not tracing.enabled(); "
        "found = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))]; "
        "assert not found, found"
    )  # the API package alone is already imported by FastAPI; the SDK and exporter cost the import time
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_off_every_helper_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    tracing.reset()
    assert tracing.start_request("/similarity", "id", 0.1) is None
    with tracing.span("preprocess") as made, tracing.current(None):
        assert made is None
    tracing.end(None)
    tracing.on_model_event({"action": "load", "task": "chat", "time": 1.0, "load_seconds": 0.5})


def test_a_request_with_its_queue_wait_and_an_error(spans) -> None:
    request = tracing.start_request("/similarity", "req-7", queue_wait=0.25)
    with tracing.current(request), tracing.span("inner"):
        pass
    tracing.end(request, ValueError("Enter at least two sentences."))
    (made,) = by_name(spans, "/similarity")
    (queue,) = by_name(spans, "queue")
    (inner,) = by_name(spans, "inner")
    assert made.attributes["showcase.request_id"] == "req-7"
    assert queue.parent.span_id == inner.parent.span_id == made.context.span_id
    assert queue.start_time == made.start_time and queue.end_time - queue.start_time == pytest.approx(0.25e9, rel=0.05)
    assert made.status.status_code.name == "ERROR" and made.events[0].name == "exception"


def test_a_model_load_is_a_span_of_the_request_that_caused_it(spans, tiny_models_file) -> None:
    from apps.core.manager import ModelManager
    from apps.core.settings import ModelSelection, read_models_file

    refs = read_models_file(tiny_models_file)
    manager = ModelManager(
        loaders={"similarity": lambda request: object()},
        selection=ModelSelection({"similarity": refs["similarity"]}),
        budget=None,
        offline=True,
        fetch=lambda ref, **kwargs: __import__("pathlib").Path(ref.source),
    )
    tracing.watch_manager(manager)
    tracing.watch_manager(manager)  # once per manager
    request = tracing.start_request("/similarity")
    with tracing.current(request):
        manager.load("similarity")
    tracing.end(request)
    (load,) = by_name(spans, "model load")
    assert load.parent.span_id == by_name(spans, "/similarity")[0].context.span_id
    assert load.attributes["showcase.task"] == "similarity"
    assert load.end_time >= load.start_time


def test_chat_spans_carry_genai_attributes_through_the_api(spans, tiny_app) -> None:
    """A streamed /chat through gradio_client: request → chat → preprocess, forward, postprocess."""
    from gradio_client import Client

    client = Client(tiny_app[0], verbose=False, ssl_verify=False)
    client.predict(
        "Hello there", [], "", 16, 0, 0.9, 1.0, "", "", api_name="/chat"
    )  # message, history, system prompt, max_new_tokens, temperature, top_p, repetition_penalty, model, json_schema
    (chat,) = [span for span in spans.get_finished_spans() if span.name.startswith("chat ")]
    attributes = chat.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == chat.name.removeprefix("chat ")
    assert attributes["gen_ai.request.max_tokens"] == 16 and attributes["gen_ai.request.temperature"] == 0
    assert attributes["gen_ai.usage.input_tokens"] > 0 and 0 < attributes["gen_ai.usage.output_tokens"] <= 16
    assert attributes["gen_ai.response.finish_reasons"]
    children = {
        span.name for span in spans.get_finished_spans() if span.parent and span.parent.span_id == chat.context.span_id
    }
    assert children == {"preprocess", "forward", "postprocess"}
    (request,) = by_name(spans, "/chat")
    assert chat.parent.span_id == request.context.span_id
    assert request.start_time <= chat.start_time and chat.end_time <= request.end_time


class Receiver(BaseHTTPRequestHandler):
    """A loopback OTLP/HTTP collector: keeps each export's path, content type and body."""

    received: list[tuple[str, str, bytes]] = []  # noqa: RUF012  # shared by the handler's instances

    def do_POST(self) -> None:  # http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_otlp_http_export_to_a_loopback_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    port = free_port()
    server = HTTPServer(("127.0.0.1", port), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "showcase-test")
    Receiver.received.clear()
    tracing.reset()
    try:
        assert tracing.enabled()  # read from the environment, like the app at its first request
        tracing.end(tracing.start_request("/similarity", "req-9", 0.01))
        tracing.reset()  # shuts the provider down: what was batched is sent
    finally:
        server.shutdown()
        server.server_close()
    ((path, content_type, body),) = Receiver.received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    export = ExportTraceServiceRequest.FromString(body)
    (resource,) = export.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    names = sorted(span.name for scope in resource.scope_spans for span in scope.spans)
    assert service == "showcase-test" and names == ["/similarity", "queue"]


def test_traces_without_metrics_and_v1_requests(spans, tiny_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an OTLP endpoint set and SHOWCASE_METRICS=false, Gradio and /v1 requests are still traced."""
    import json
    import urllib.request

    from gradio_client import Client

    from app import build_demo, launch

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # asks for traces; spans go to memory
    settings = tiny_settings.model_copy(update={"port": free_port(), "metrics": False})
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{settings.port}"
    try:
        Client(url + "/", verbose=False, ssl_verify=False).predict("A cat.\nA dog.", "", api_name="/similarity")
        body = json.dumps({"input": ["a cat", "a dog"]}).encode()
        request = urllib.request.Request(url + "/v1/embeddings", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
    finally:
        demo.close()
    (similarity,) = by_name(spans, "/similarity")
    assert similarity.status.status_code.name == "UNSET"
    (v1,) = by_name(spans, "POST /v1/embeddings")
    assert v1.attributes["http.response.status_code"] == 200 and v1.attributes["http.route"] == "/v1/embeddings"
