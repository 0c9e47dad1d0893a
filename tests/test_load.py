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
from pathlib import Path
from typing import Any

import psutil
import pytest
from conftest import KIT_DIR, ROOT, free_port
from gradio_client import Client, handle_file

from app import build_demo, build_manager, launch
from apps.core.manager import LoadRequest, ModelManager
from apps.core.settings import Settings, read_models_file
from apps.core.weights import estimate_load_bytes

CLIENTS = 8
REQUESTS_PER_CLIENT = 25
# Process memory may grow past "after warm-up" by the budget plus this. Measured: 55-70 MiB, from the
# clients (they run in this process) and gradio's per-session state; a server reusing its clients stays
# flat (+1 MiB per 400 requests). A leak of models or of per-request state breaks it.
RSS_SLACK = 150 * 2**20
APPLE = str(ROOT / "assets" / "mm-apple.png")
SPEECH = str(ROOT / "assets" / "audio-speech-en.wav")


def _label_sum(out: Any) -> bool:
    return abs(sum(row["confidence"] for row in out["confidences"]) - 1) < 1e-3


# (api_name, task whose model it uses or None, arguments, check of the answer)
HOT: list[tuple[str, str | None, Callable[[], tuple], Callable[[Any], bool]]] = [
    (
        "/similarity",
        "similarity",
        lambda: ("A cat sits.\nA kitten sits.\nStocks fell.", ""),
        lambda o: len(o[0]["data"]) == 3,
    ),
    ("/search", "search", lambda: ("pets", "a cat\nthe market\na dog", None, 2, ""), lambda o: len(o["data"]) == 2),
    ("/speak", "tts", lambda: ("Hello there.", ""), lambda o: Path(o[0]).is_file()),
    (
        "/segment",
        "segmentation",
        lambda: (handle_file(APPLE), [[100, 100, 1]], 0, ""),
        lambda o: len(o[1]["scores"]) == 3,
    ),
    ("/status", None, lambda: (), lambda o: "tasks" in o),
]
COLD = [
    ("/classify_image", "image_classification", lambda: (handle_file(APPLE), "apple, car", "", ""), _label_sum),
    ("/match", "matching", lambda: (handle_file(APPLE), "an apple\na car", ""), lambda o: len(o[0]["data"]) == 2),
    ("/depth", "depth", lambda: (handle_file(APPLE), ""), lambda o: Path(o[0]).is_file()),
]
# Mostly requests whose models fit together, one in four for models that then have to take turns: with
# every model in constant use, a budget of "half of them" would reload on nearly every request.
MIX = [*HOT, COLD[0], *HOT[:2], COLD[1], HOT[2], HOT[3], COLD[2]]
MODEL_TASKS = [task for _, task, _, _ in [*HOT, *COLD] if task]


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


def mix_budget(models_file: Path) -> tuple[int, int]:
    """(budget, the mix's models together): room for the hot models and the largest cold one, not two cold ones."""
    refs = read_models_file(models_file)

    def size(task: str | None) -> int:
        return estimate_load_bytes(Path(refs[task].source), None, "float32") if task else 0

    cold = sorted(size(task) for _, task, _, _ in COLD)
    budget = sum(size(task) for _, task, _, _ in HOT) + cold[-1] + cold[0] // 2
    return budget, sum(size(task) for task in MODEL_TASKS)


@pytest.fixture(scope="module")
def budget_app(tiny_models_file: Path) -> Iterator[tuple[str, ModelManager, LoadWatch, int]]:
    """The tiny-model app with a memory budget of half the mix's models: (url, manager, load watch, budget)."""
    budget, together = mix_budget(tiny_models_file)
    assert budget < together  # not all of them fit: models are evicted
    settings = Settings(
        host="127.0.0.1",
        port=free_port(),
        models_file=tiny_models_file,
        offline=True,
        memory_budget=str(budget),
        local_model_dirs=(KIT_DIR,),
        load_wait_seconds=60,
    )
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
        api_name, _, arguments, check = MIX[(number + step) % len(MIX)]
        try:
            if not check(client.predict(*arguments(), api_name=api_name)):
                failures.append(f"client {number} request {step} {api_name}: wrong answer")
        except Exception as exc:
            failures.append(f"client {number} request {step} {api_name}: {type(exc).__name__}: {exc}")
    return failures


def test_eight_clients_mixed_endpoints_within_the_budget(budget_app: tuple[str, ModelManager, LoadWatch, int]) -> None:
    url, manager, watch, budget = budget_app
    # Warm up: imports and first loads, then a short burst so that the clients' threads (and the memory
    # arenas of the threads that serve them) exist before memory is measured.
    warm = Client(url, verbose=False, ssl_verify=False)
    for api_name, _, arguments, check in [*HOT, *COLD]:
        assert check(warm.predict(*arguments(), api_name=api_name)), api_name
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
                mask, _ = client.predict(handle_file(APPLE), [[100, 100, 1]], 0, "", api_name="/segment")
                with Image.open(mask) as image:
                    image.load()
                wav, _ = client.predict("Everyone says the same thing.", "", api_name="/speak")
                assert len(sf.read(wav)[0]) > 0
            except Exception as exc:
                failures.append(f"client {number}: {type(exc).__name__}: {exc}")
        return failures

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        failures = [failure for result in pool.map(burst, range(CLIENTS)) for failure in result]
    assert not failures, "\n".join(failures)
