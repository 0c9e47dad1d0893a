"""Load: 8 gradio_client clients × 25 requests over mixed endpoints, on an app whose memory budget holds only
about half of the models they use, so models are evicted and reloaded while requests are in flight.

Every request must succeed; the models' memory must stay inside the budget and the process's memory
bounded by it; no model may be loaded twice at once (every reload of a model follows its eviction).
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import KIT_DIR, free_port
from gradio_client import Client
from reference_requests import check_answer, client_args, request_for, sent_inputs, task_of

from app import build_demo, build_manager, launch
from apps.core.manager import LoadRequest, ModelManager
from apps.core.settings import Settings
from apps.core.spec import Request
from apps.core.weights import estimate_load_bytes

CLIENTS = 8
REQUESTS_PER_CLIENT = 25
# Process memory may grow past "after warm-up" by the budget plus this. Measured: 55-70 MiB, from the
# clients (they run in this process) and gradio's per-session state; a server reusing its clients stays
# flat (+1 MiB per 400 requests). A leak of models or of per-request state breaks it.
RSS_SLACK = 150 * 2**20


@dataclass(frozen=True)
class Call:
    """One endpoint of the mix: its reference request (from the registry) and the task whose model it uses."""

    request: Request
    task: str | None  # None: no model (/status)

    @property
    def api_name(self) -> str:
        return self.request.api_name

    def send(self, client: Client) -> str:
        """Send the request and check the answer: "" when right, else what was wrong."""
        answer = client.predict(*client_args(self.request), api_name=self.api_name)
        try:
            check_answer(self.api_name, answer, sent_inputs(self.request))
        except AssertionError as exc:
            return f"wrong answer: {exc}"
        return ""


def call(api_name: str) -> Call:
    spec = task_of(api_name)
    return Call(request_for(api_name), spec.key if spec.load is not None else None)


HOT = [call(name) for name in ("/similarity", "/search", "/speak", "/segment", "/status")]
COLD = [call(name) for name in ("/classify_image", "/match", "/depth")]
# Mostly requests whose models fit together, one in four for models that then have to take turns: with
# every model in constant use, a budget of "half of them" would reload on nearly every request.
MIX = [*HOT, COLD[0], *HOT[:2], COLD[1], HOT[2], HOT[3], COLD[2]]


class LoadWatch:
    """Wraps loaders to count, per model, the loads running at the same moment (must never exceed one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.most_at_once: dict[str, int] = {}

    def wrap(self, loader: Callable[[LoadRequest], Any]) -> Callable[[LoadRequest], Any]:
        @functools.wraps(loader)  # same __module__/__qualname__: the manager's keys stay the same
        def watched(request: LoadRequest) -> Any:
            key = str(request.path)
            with self._lock:
                self.running[key] = self.running.get(key, 0) + 1
                self.most_at_once[key] = max(self.most_at_once.get(key, 0), self.running[key])
            try:
                return loader(request)
            finally:
                with self._lock:
                    self.running[key] -= 1

        return watched


def mix_budget(manager: ModelManager) -> tuple[int, int]:
    """(budget, the mix's models together): room for the hot models and the largest cold one, not two cold ones.

    Sizes per loaded copy, as the manager keeps them: tasks that share a model (same loader and model)
    count it once.
    """

    def sizes(calls: list[Call]) -> dict[tuple[str, ...], int]:
        copies = {manager.model_key(item.task): manager.selection.get(item.task) for item in calls if item.task}
        return {key: estimate_load_bytes(Path(ref.source), None, "float32") for key, ref in copies.items()}

    hot, cold = sizes(HOT), sizes(COLD)
    smallest, largest = min(cold.values()), max(cold.values())
    budget = sum(hot.values()) + largest + smallest // 2
    return budget, sum({**hot, **cold}.values())


@pytest.fixture(scope="module")
def budget_app(tiny_models_file: Path) -> Iterator[tuple[str, ModelManager, LoadWatch, int]]:
    """The tiny-model app with a memory budget of half the mix's models: (url, manager, load watch, budget)."""
    settings = Settings(
        host="127.0.0.1",
        port=free_port(),
        models_file=tiny_models_file,
        offline=True,
        local_model_dirs=(KIT_DIR,),
        load_wait_seconds=60,
    )
    budget, together = mix_budget(build_manager(settings))
    assert budget < together  # not all of them fit: models are evicted
    settings = settings.model_copy(update={"memory_budget": str(budget)})
    manager = build_manager(settings)
    watch = LoadWatch()
    manager.loaders = {task: watch.wrap(loader) for task, loader in manager.loaders.items()}
    manager.events = deque()  # keep every event, not the last 200
    demo = build_demo(settings, manager=manager)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{settings.port}/", manager, watch, budget
    demo.close()


def client_run(url: str, number: int, requests: int = REQUESTS_PER_CLIENT) -> list[str]:
    """One client's requests, cycling through the mix from its own starting point: the failures."""
    client = Client(url, verbose=False, ssl_verify=False)
    failures = []
    for step in range(requests):
        item = MIX[(number + step) % len(MIX)]
        try:
            wrong = item.send(client)
            if wrong:
                failures.append(f"client {number} request {step} {item.api_name}: {wrong}")
        except Exception as exc:
            failures.append(f"client {number} request {step} {item.api_name}: {type(exc).__name__}: {exc}")
    return failures


def test_eight_clients_mixed_endpoints_within_the_budget(budget_app: tuple[str, ModelManager, LoadWatch, int]) -> None:
    url, manager, watch, budget = budget_app
    # Warm up: imports and first loads, then a short burst so that the clients' threads (and the memory
    # arenas of the threads that serve them) exist before memory is measured.
    warm = Client(url, verbose=False, ssl_verify=False)
    for item in [*HOT, *COLD]:
        assert not item.send(warm), item.api_name
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        assert not [
            f for result in pool.map(client_run, [url] * CLIENTS, range(CLIENTS), [1] * CLIENTS) for f in result
        ]
    gc.collect()
    process = psutil.Process()
    rss_warm = process.memory_info().rss
    peaks = {"rss": rss_warm, "models": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peaks["rss"] = max(peaks["rss"], process.memory_info().rss)
            peaks["models"] = max(peaks["models"], manager.used_bytes())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        failures = [failure for result in pool.map(client_run, [url] * CLIENTS, range(CLIENTS)) for failure in result]
    seconds = time.monotonic() - started
    done.set()
    sampler.join()

    assert not failures, f"{len(failures)} of {CLIENTS * REQUESTS_PER_CLIENT} requests failed:\n" + "\n".join(
        failures[:10]
    )
    assert peaks["models"] <= budget, f"models took {peaks['models']:,} bytes, over the budget of {budget:,}"
    growth = peaks["rss"] - rss_warm
    assert growth <= budget + RSS_SLACK, f"RSS grew by {growth / 2**20:.0f} MiB in {seconds:.0f} s"

    events = list(manager.events)
    evictions = [event for event in events if event["action"] == "evict"]
    assert evictions, "the budget was meant to force evictions"
    assert not [event for event in events if event["action"] == "fail"]
    assert max(watch.most_at_once.values()) == 1, f"a model was loaded twice at once: {watch.most_at_once}"
    loaded: set[str] = set()
    for event in events:  # per model: load, evict/unload, load, … never two loads in a row
        if event["action"] == "load":
            assert event["model"] not in loaded, f"{event['model']} loaded again without being unloaded first"
            loaded.add(event["model"])
        elif event["action"] in ("evict", "unload"):
            assert event["model"] in loaded, f"{event['model']} unloaded while not loaded"
            loaded.discard(event["model"])
    reloads = sum(count - 1 for count in manager.load_counts.values())
    print(
        f"\n{CLIENTS * REQUESTS_PER_CLIENT} requests in {seconds:.1f} s; {len(evictions)} evictions, {reloads} "
        f"reloads; models peak {peaks['models']:,} of {budget:,} bytes; RSS +{growth / 2**20:.1f} MiB"
    )


def test_identical_requests_at_once_all_get_whole_files(tiny_app: tuple[str, Any]) -> None:
    """Everyone clicking the same example at once: each client downloads a whole mask and a whole WAV.

    (Gradio rewrote a cached result in place for every request with the same content, so a client
    still downloading it got a truncated file; results are now cached once, atomically.)
    """
    import soundfile as sf
    from PIL import Image

    barrier = threading.Barrier(CLIENTS)

    def burst(number: int) -> list[str]:
        client = Client(tiny_app[0], verbose=False, ssl_verify=False)
        failures = []
        for _ in range(2):
            barrier.wait(timeout=60)
            try:
                mask, _ = client.predict(*client_args(request_for("/segment")), api_name="/segment")
                with Image.open(mask) as image:
                    image.load()
                wav, _ = client.predict(*client_args(request_for("/speak")), api_name="/speak")
                assert len(sf.read(wav)[0]) > 0
            except Exception as exc:
                failures.append(f"client {number}: {type(exc).__name__}: {exc}")
        return failures

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        failures = [failure for result in pool.map(burst, range(CLIENTS)) for failure in result]
    assert not failures, "\n".join(failures)
