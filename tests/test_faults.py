"""Faults: a load that raises, a model evicted while another loads, loads at the same moment, a client that
goes away in the middle of a streamed reply. Each must cost only the request it hits.
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import KIT_DIR, free_port
from gradio_client import Client
from gradio_client.exceptions import AppError

from app import build_demo, build_manager, launch
from apps import SPECS
from apps.core.manager import LoadRequest, ModelManager
from apps.core.settings import ModelSelection, Settings, read_models_file
from apps.core.weights import estimate_load_bytes
from apps.shared.chat_engine import active_generations

GENERIC = "upstream Gradio app has raised an exception"


class Flaky:
    """A loader that raises on its next call when armed, like a disk or a network that fails once."""

    def __init__(self, loader: Callable[[LoadRequest], Any]) -> None:
        self.loader, self.fail_next, self.calls = loader, False, 0
        functools.update_wrapper(self, loader)  # same __module__/__qualname__: same manager keys

    def __call__(self, request: LoadRequest) -> Any:
        self.calls += 1
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("simulated failure: the disk holding the weights went away")
        return self.loader(request)


class Gated:
    """A loader that, when armed, waits for `release` before loading: a load caught half-way."""

    def __init__(self, loader: Callable[[LoadRequest], Any]) -> None:
        self.loader, self.armed = loader, False
        self.started, self.release = threading.Event(), threading.Event()
        functools.update_wrapper(self, loader)

    def __call__(self, request: LoadRequest) -> Any:
        if self.armed:
            self.started.set()
            assert self.release.wait(60), "the test never released the load"
        return self.loader(request)


@pytest.fixture(scope="module")
def fault_app(
    tiny_models_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Client, ModelManager, Flaky, Gated, int]]:
    """The tiny-model app with a flaky similarity loader, a gated search loader, and a budget for one of them.

    Both tabs get a copy of the same sentence-embedding model, so each weighs the same to the budget.
    """
    source = Path(read_models_file(tiny_models_file)["similarity"].source)
    folder = tmp_path_factory.mktemp("faults")
    copies = {task: shutil.copytree(source, folder / task) for task in ("similarity", "search")}
    budget = int(estimate_load_bytes(copies["search"], None, "float32") * 1.5)  # either model, never both
    settings = Settings(
        host="127.0.0.1",
        port=free_port(),
        models_file=tiny_models_file,
        models={task: str(path) for task, path in copies.items()},
        offline=True,
        memory_budget=str(budget),
        local_model_dirs=(KIT_DIR,),
        load_wait_seconds=60,
    )
    manager = build_manager(settings)
    flaky, gated = Flaky(manager.loaders["similarity"]), Gated(manager.loaders["search"])
    manager.loaders.update(similarity=flaky, search=gated)
    manager.events = deque()  # every event, for the order checks
    demo = build_demo(settings, manager=manager)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    yield Client(f"http://127.0.0.1:{settings.port}/", verbose=False, ssl_verify=False), manager, flaky, gated, budget
    demo.close()


def similar(client: Client) -> Any:
    return client.predict("A cat sits.\nA kitten sits.", "", api_name="/similarity")


def search(client: Client) -> Any:
    return client.predict("pets", "a cat\nthe market", None, 1, "", api_name="/search")


def model_events(manager: ModelManager, *names: str) -> list[tuple[str, str]]:
    """(action, model folder name) of the manager's events about these models, in order."""
    return [(e["action"], Path(e["model"]).name) for e in manager.events if Path(e["model"]).name in names]


def test_a_failing_load_errors_that_request_only_and_the_next_request_retries(fault_app) -> None:
    client, manager, flaky, _, _ = fault_app
    flaky.fail_next = True
    calls = flaky.calls
    with pytest.raises(AppError) as info:
        similar(client)
    message = str(info.value)
    assert "Could not load `similarity` for similarity" in message and "the disk holding the weights" in message
    assert GENERIC not in message and "Traceback" not in message
    status = client.predict(api_name="/status")["tasks"]["similarity"]
    assert status["state"] == "failed" and "disk holding the weights" in status["error"]
    # Other tabs keep working...
    assert client.predict("Still here.", "", api_name="/speak")[1].endswith("Hz.")
    assert search(client)["data"][0][2] == "a cat" or len(search(client)["data"]) == 1
    # ...and the next request of the failed tab loads the model again.
    table, _ = similar(client)
    assert len(table["data"]) == 2 and flaky.calls == calls + 2
    assert model_events(manager, "similarity")[:2] == [("fail", "similarity"), ("load", "similarity")]
    assert manager.state_of("similarity")["state"] == "loaded"


def test_a_model_evicted_while_another_loads(fault_app) -> None:
    client, manager, _, gated, budget = fault_app
    manager.unload_all()
    similar(client)  # similarity loaded and idle
    manager.events.clear()
    gated.armed, peaks = True, []
    with ThreadPoolExecutor(max_workers=2) as pool:
        searching = pool.submit(search, Client(client.src, verbose=False, ssl_verify=False))
        assert gated.started.wait(30), "the search model never started loading"
        # Making room for search evicted the idle similarity model while search is still loading.
        assert manager.state_of("search")["state"] == "loading"
        assert model_events(manager, "similarity", "search") == [("evict", "similarity")]
        # Similarity is asked for again: no room while search loads, so it waits (it does not fail)...
        again = pool.submit(similar, Client(client.src, verbose=False, ssl_verify=False))
        time.sleep(1.0)
        assert not again.done() and manager.state_of("similarity")["state"] == "loading"
        peaks.append(manager.used_bytes())
        assert client.predict(api_name="/status")["process"]["models_bytes"] <= budget  # other tabs answer
        gated.release.set()
        # ...and both finish once the search load does: search is evicted in turn for similarity.
        assert len(searching.result(timeout=60)["data"]) == 1
        assert len(again.result(timeout=60)[0]["data"]) == 2
    gated.armed = False
    assert max(peaks) <= budget and manager.used_bytes() <= budget
    assert model_events(manager, "similarity", "search") == [
        ("evict", "similarity"),
        ("load", "search"),
        ("evict", "search"),
        ("load", "similarity"),
    ]


def test_loads_at_the_same_moment_run_one_at_a_time_and_leave_working_models(tiny_models_file: Path) -> None:
    """transformers' from_pretrained swaps process-wide state; two at once left untied weights on `meta`."""
    from transformers import PreTrainedModel

    tie_weights = PreTrainedModel.tie_weights
    refs = read_models_file(tiny_models_file)
    tasks = ("translation", "summarization", "chat", "similarity")
    running, most = [0], [0]
    lock = threading.Lock()

    def watched(loader: Callable[[LoadRequest], Any]) -> Callable[[LoadRequest], Any]:
        def load(request: LoadRequest) -> Any:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                time.sleep(0.1)
                return loader(request)
            finally:
                with lock:
                    running[0] -= 1

        return load

    manager = ModelManager(
        loaders={task: watched(SPECS[task].load) for task in tasks},
        selection=ModelSelection({task: refs[task] for task in tasks}),
        budget=None,
        device="cpu",
    )
    barrier = threading.Barrier(len(tasks))

    def load(task: str) -> None:
        barrier.wait(timeout=30)
        manager.load(task)

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        list(pool.map(load, tasks))
    assert most[0] == 1
    assert PreTrainedModel.tie_weights is tie_weights  # not left patched by an interleaved load
    for task in ("translation", "summarization"):
        with manager.use(task) as pipe:
            assert not [name for name, p in pipe.model.named_parameters() if p.is_meta], task
    with manager.use("translation") as pipe:
        assert isinstance(pipe("hello world", src_lang="eng_Latn", tgt_lang="fra_Latn", max_new_tokens=4), dict)


def test_a_client_that_disconnects_mid_stream_stops_generation(tiny_app: tuple[str, Any]) -> None:
    url, demo = tiny_app
    config = httpx.get(f"{url}config", timeout=30).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
    session = uuid.uuid4().hex
    # /chat's parameters in order (message, history, system prompt, max new tokens, temperature, top-p,
    # repetition penalty, model, JSON schema), with a reply long enough to be cut.
    data = ["Write a very long story.", [], "", 4096, 0, 0.9, 1.0, "", ""]
    joined = httpx.post(
        f"{url}gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None},
        timeout=30,
    )
    assert joined.status_code == 200, joined.text
    partials = 0
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=60) as stream:
        for line in stream.iter_lines():
            if '"process_generating"' in line:
                partials += 1
                if partials == 3:
                    break  # leaving the block closes the connection: the browser tab was closed
    assert partials == 3 and active_generations() == 1
    deadline = time.monotonic() + 5  # the whole reply (~450 tokens) would take far longer
    while active_generations() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert active_generations() == 0, "generation kept running after its client went away"
    deadline = time.monotonic() + 5
    while demo.manager.state_of("chat")["in_use"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert demo.manager.state_of("chat")["in_use"] == 0  # the model is free to be unloaded again
