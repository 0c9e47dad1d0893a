"""Figures measured on an app served in this process: API overhead, chat streaming, throughput, segmentation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.cases import CHAT_TOKENS, Case, Inputs, chat_args, chat_options, chat_prompt
from bench.server import ECHO_API, Served, mirror_api
from bench.stats import Stat, interleaved


@dataclass
class Overhead:
    """One endpoint: API, bare model call, transport-only mirror and echo, timed in the same rounds."""

    case: Case
    kit: str
    api: Stat
    bare: Stat
    fixed: Stat  # the endpoint's transport alone (its mirror), or the echo round trip for streams
    echo: Stat
    error: str = ""

    @property
    def fixed_ms(self) -> float:
        return self.fixed.median * 1000

    @property
    def ratio(self) -> float:
        """(API − fixed cost) ÷ bare: what the app adds to the model beyond moving the data, relative to it."""
        return (self.api.median - self.fixed.median) / self.bare.median

    @property
    def raw_ratio(self) -> float:
        return self.api.median / self.bare.median


def api_overhead(
    served: Served, cases: list[Case], kit: str, repeats: int, warmup: int = 1, echo: bool = True
) -> list[Overhead]:
    """Each case's API call, bare call, mirror and echo, interleaved round by round on the same model."""
    client, results = served.client, []
    mirrors = {endpoint["api_name"] for endpoint in served.endpoints()}
    for case in cases:
        if case.bare is None:
            continue
        mirror = mirror_api(case.api_name)
        try:
            with served.context(case.task).use() as model:
                client.predict(*case.api_args(-1), api_name=case.api_name)  # the mirror replays this
                calls = {
                    "api": lambda n, case=case: client.predict(*case.api_args(n), api_name=case.api_name),
                    "bare": lambda n, case=case, model=model: case.bare(model, case.inputs(n)),
                }
                if echo or mirror not in mirrors:
                    calls["echo"] = lambda n: client.predict("ping", api_name=ECHO_API)
                if mirror in mirrors:
                    calls["mirror"] = lambda n, case=case, mirror=mirror: client.predict(
                        *case.api_args(n), api_name=mirror
                    )
                stats = interleaved(calls, repeats, warmup)
        except Exception as exc:  # one broken endpoint must not hide the others' numbers
            results.append(Overhead(case, kit, Stat(), Stat(), Stat(), Stat(), f"{type(exc).__name__}: {exc}"[:300]))
            continue
        fixed = stats.get("mirror") or stats["echo"]
        results.append(Overhead(case, kit, stats["api"], stats["bare"], fixed, stats.get("echo", Stat())))
    return results


@dataclass
class FirstToken:
    kit: str
    api: Stat  # through gradio_client
    bare: Stat
    http: Stat  # through Gradio's HTTP API (server-sent events), as a browser or curl receives it

    @property
    def ratio(self) -> float:
        return self.api.median / self.bare.median

    @property
    def http_ratio(self) -> float:
        return self.http.median / self.bare.median


def first_token_api(served: Served, max_new_tokens: int) -> float:
    """Seconds from `client.submit` on /chat to the first piece of the reply at the client; waits for the end."""
    started = time.perf_counter()
    job = served.client.submit(*chat_args(max_new_tokens), api_name="/chat")
    first = None
    for reply in job:  # blocks until the next update reaches the client
        if reply:
            first = time.perf_counter() - started
            break
    job.result()
    if first is None:
        raise RuntimeError("/chat streamed nothing")
    return first


def first_token_http(served: Served, max_new_tokens: int, session: str = "bench-first-token") -> float:
    """Seconds from joining Gradio's queue for /chat (`POST /gradio_api/queue/join`) to the first
    non-empty `process_generating` message on the session's event stream (`/gradio_api/queue/data`), the
    protocol the browser speaks; reads the stream to the end.

    Without gradio_client in the way: its reader thread hands messages over through a deque it polls every
    50 ms (`gradio_client.utils.stream_sse_v1plus`), a wait a browser does not have. One session for every
    round, as a browser tab keeps one: Gradio builds a new session's state from the config of every block of
    the page (~30 ms for this app's ~400 blocks), a cost paid once per page load, not per message.
    """
    import json

    import httpx

    fn_index = next(fn._id for fn in served.demo.fns.values() if fn.api_name == "chat")
    body = {
        "data": list(chat_args(max_new_tokens)),
        "fn_index": fn_index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    with httpx.Client(base_url=served.url, timeout=120) as http:
        started = time.perf_counter()
        http.post("gradio_api/queue/join", json=body).raise_for_status()
        first = None
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as response:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line.removeprefix("data:"))
                kind = message.get("msg")
                if kind == "process_generating" and first is None:
                    output = message.get("output") or {}
                    if not message.get("success", True):
                        raise RuntimeError(f"/chat failed: {output}")
                    if any(output.get("data") or []):
                        first = time.perf_counter() - started
                elif kind == "process_completed":
                    if not message.get("success", True):
                        raise RuntimeError(f"/chat failed: {message.get('output')}")
                    break
                elif kind in ("close_stream", "unexpected_error"):
                    break
    if first is None:
        raise RuntimeError("/chat streamed nothing")
    return first


def first_token_bare(chat_model: Any, max_new_tokens: int) -> float:
    """Seconds from calling `generate` (in a thread, with a TextIteratorStreamer) to its first piece of text."""
    import torch
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(chat_model.tokenizer, skip_prompt=True, skip_special_tokens=True)
    started = time.perf_counter()
    ids = chat_prompt(chat_model)

    def run() -> None:
        with torch.inference_mode():
            chat_model.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                streamer=streamer,
                **chat_options(chat_model, max_new_tokens),
            )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    first = None
    for piece in streamer:
        if piece and first is None:
            first = time.perf_counter() - started
    thread.join()
    if first is None:
        raise RuntimeError("generate streamed nothing")
    return first


def chat_first_token(
    served: Served, kit: str, repeats: int, max_new_tokens: int = CHAT_TOKENS, warmup: int = 1
) -> FirstToken:
    """First token through the API ÷ first token of a bare streamed `generate`, same prompt, same model."""
    with served.context("chat").use() as chat_model:
        stats = interleaved(
            {
                "api": lambda n: first_token_api(served, max_new_tokens),
                "bare": lambda n: first_token_bare(chat_model, max_new_tokens),
                "http": lambda n: first_token_http(served, max_new_tokens),
            },
            repeats,
            warmup,
            self_timed=True,  # each returns its time to the first piece, not to the end of the reply
        )
    return FirstToken(kit, stats["api"], stats["bare"], stats["http"])


@dataclass
class Throughput:
    api_name: str
    kit: str
    clients: int
    requests: int
    sequential: Stat  # seconds for all requests one by one
    concurrent: Stat  # seconds for the same number of requests from `clients` clients at once

    @property
    def ratio(self) -> float:
        """Requests per second with concurrent clients ÷ one by one."""
        return self.sequential.median / self.concurrent.median


# In the clients' process: connected clients per server URL, kept from round to round. A client's first
# request also opens its session on the server (Gradio builds the session's state from every block's
# config, ~30 ms here), a cost paid once per client; the warm-up pays it, not the timed rounds.
_CLIENTS: dict[str, list[Any]] = {}


def send_requests(url: str, api_name: str, batches: list[list[tuple[Any, ...]]]) -> float:
    """Run in the clients' process: client i sends batch i, all batches at once, each batch's requests in
    order; seconds from the first request to the last answer."""
    from bench.server import new_client

    clients = _CLIENTS.setdefault(url, [])
    while len(clients) < len(batches):
        clients.append(new_client(url))
    clients = clients[: len(batches)]
    errors: list[BaseException] = []

    def worker(client: Any, requests: list[tuple[Any, ...]]) -> None:
        try:
            for args in requests:
                client.predict(*args, api_name=api_name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=pair) for pair in zip(clients, batches, strict=True)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def throughput(
    served: Served,
    api_name: str,
    make_args: Callable[[int], tuple[Any, ...]],
    kit: str,
    clients: int = 8,
    per_client: int = 3,
    repeats: int = 3,
) -> Throughput:
    """`clients` × `per_client` requests one by one from one client, then from `clients` clients at once.

    The clients run in a process of their own, as real clients would: in the server's process their Python
    would take turns with the server's under one GIL. Every request has its own input (request n of round
    r), so caches do not make later rounds free.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    total = clients * per_client
    sequential, concurrent = Stat(), Stat()
    spawn = multiprocessing.get_context("spawn")  # a clean interpreter: no copy of the server's threads
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as process:
        # Warm-up: the clients' imports and sessions, and the model's load in the server.
        warm_up = [[make_args(10**6 + index)] for index in range(clients)]
        process.submit(send_requests, served.url, api_name, warm_up).result()
        for round_number in range(repeats):
            base = 2 * round_number * total
            one_by_one = [[make_args(base + n) for n in range(total)]]
            at_once = [
                [make_args(base + total + index * per_client + k) for k in range(per_client)]
                for index in range(clients)
            ]
            runs = [(sequential, one_by_one), (concurrent, at_once)]
            for stat, batches in runs if round_number % 2 == 0 else runs[::-1]:
                stat.add(process.submit(send_requests, served.url, api_name, batches).result())
    return Throughput(api_name, kit, clients, total, sequential, concurrent)


@dataclass
class Clicks:
    model: str
    params: float  # millions
    first: Stat
    second: Stat

    @property
    def ratio(self) -> float:
        return self.second.median / self.first.median


def segmentation_clicks(segmenters: dict[str, Any], repeats: int) -> list[Clicks]:
    """First click (encoder + decoder) vs second click on the same image (decoder only), with the
    timing code of scripts/time_segmentation_clicks.py."""
    from scripts.time_segmentation_clicks import click_times

    results = []
    for name, segmenter in segmenters.items():
        first, second = click_times(segmenter, repeats)
        params = sum(p.numel() for p in segmenter.model.parameters()) / 1e6
        results.append(Clicks(name, params, Stat(first), Stat(second)))
    return results


def inputs_for_throughput(inputs: Inputs) -> dict[str, Callable[[int], tuple[Any, ...]]]:
    """Request n's arguments for the two batched endpoints (their reference requests): each a different input."""
    from bench.cases import IMAGE_LABELS, client_args, request_for

    def similarity(n: int) -> tuple[Any, ...]:
        sentences = f"Request {n}: a cat sits on the mat.\nA kitten is on a rug.\nMarkets fell {n} points."
        return client_args(request_for("/similarity"), sentences=sentences)

    def classify(n: int) -> tuple[Any, ...]:
        image = inputs.image_path("mm-apple.png", n)
        return client_args(request_for("/classify_image"), image=image, labels=", ".join(IMAGE_LABELS), template="")

    return {"/similarity": similarity, "/classify_image": classify}
