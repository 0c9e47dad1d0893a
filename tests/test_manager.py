"""Model manager: one load under concurrency, LRU eviction, ref counting, failures, unload, offline."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from pathlib import Path

import pytest
import torch
from safetensors.numpy import save_file

from apps.core.errors import MemoryBudgetError, ModelUnavailable
from apps.core.manager import LoadRequest, ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection


class Blob(torch.nn.Module):
    """A stand-in model whose size is exactly `4 * floats` bytes."""

    def __init__(self, floats: int) -> None:
        super().__init__()
        self.register_buffer("weights", torch.zeros(floats))


def make_folder(root: Path, name: str, floats: int = 25) -> ModelRef:
    """A local 'model' folder whose safetensors header says `floats` float32 parameters."""
    import numpy as np

    folder = root / name
    folder.mkdir()
    save_file({"w": np.zeros(floats, dtype=np.float32)}, str(folder / "model.safetensors"))
    return ModelRef(str(folder))


def make_manager(loader, budget: int | None = None, wait: float = 5.0, tasks=("a",)) -> ModelManager:
    refs = {task: ModelRef("org/unused") for task in tasks}
    return ModelManager(
        loaders=dict.fromkeys(tasks, loader),
        selection=ModelSelection(refs),
        budget=budget,
        device="cpu",
        wait_seconds=wait,
    )


def blob_loader(calls: list[str], delay: float = 0.0):
    def load(request: LoadRequest) -> Blob:
        calls.append(request.ref.source)
        time.sleep(delay)
        return Blob(25)

    return load


def test_concurrent_first_requests_load_once(tmp_path: Path) -> None:
    calls: list[str] = []
    manager = make_manager(blob_loader(calls, delay=0.3))
    ref = make_folder(tmp_path, "m")
    seen: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with manager.use("a", ref) as model:
                seen.append(id(model))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert calls == [ref.source]
    assert len(set(seen)) == 1 and len(seen) == 8
    assert manager.state_of("a", ref)["in_use"] == 0


def test_lru_eviction_order(tmp_path: Path) -> None:
    calls: list[str] = []
    manager = make_manager(blob_loader(calls), budget=250)  # room for two 100-byte models
    a, b, c, d = (make_folder(tmp_path, name) for name in "abcd")
    for ref in (a, b, a, c):  # a is used again, so b is the least recently used
        with manager.use("a", ref):
            pass
    loaded = {row["model"] for row in manager.snapshot()}
    assert loaded == {a.source, c.source}
    with manager.use("a", d):
        pass
    assert {row["model"] for row in manager.snapshot()} == {c.source, d.source}
    assert [event["model"] for event in manager.events if event["action"] == "evict"] == [b.source, a.source]
    assert manager.used_bytes() <= 250


def test_model_in_use_is_never_evicted(tmp_path: Path) -> None:
    manager = make_manager(blob_loader([]), budget=150, wait=0.5)  # room for one model
    a, b = make_folder(tmp_path, "a"), make_folder(tmp_path, "b")
    with manager.use("a", a):
        with pytest.raises(MemoryBudgetError, match="in use by a"), manager.use("a", b):
            pass
        assert manager.state_of("a", a)["state"] == "loaded"
        with pytest.raises(Exception, match="in use"):
            manager.unload("a", a)
    # Once released, the same request succeeds by evicting the idle model.
    with manager.use("a", b):
        pass
    assert manager.state_of("a", a) is None


def test_waits_for_a_busy_model_then_loads(tmp_path: Path) -> None:
    manager = make_manager(blob_loader([]), budget=150, wait=10)
    a, b = make_folder(tmp_path, "a"), make_folder(tmp_path, "b")
    release = threading.Event()
    holding = threading.Event()

    def hold_a() -> None:
        with manager.use("a", a):
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=hold_a)
    thread.start()
    holding.wait(5)
    threading.Timer(0.3, release.set).start()
    with manager.use("a", b):
        assert manager.state_of("a", a) is None
    thread.join()


def test_model_that_can_never_fit_is_refused_before_loading(tmp_path: Path) -> None:
    calls: list[str] = []
    manager = make_manager(blob_loader(calls), budget=1000)
    big = make_folder(tmp_path, "big", floats=1000)  # 4000 bytes
    with pytest.raises(MemoryBudgetError, match="more than the whole memory budget"), manager.use("a", big):
        pass
    assert calls == []


def test_gguf_load_reserves_room_for_its_dequantization_peak(tmp_path: Path, monkeypatch) -> None:
    # A GGUF load holds the de-quantized tensors and the model at once: room for twice its size is made
    # before it loads, and the measured size replaces that reservation afterwards.
    import apps.core.manager as manager_module

    monkeypatch.setattr(manager_module, "estimate_load_bytes", lambda folder, gguf, dtype: 100)
    seen_while_loading: list[set[str]] = []
    manager = None

    def load(request: LoadRequest) -> Blob:
        seen_while_loading.append({row["model"] for row in manager.snapshot() if row["state"] == "loaded"})
        return Blob(25)  # 100 bytes

    manager = make_manager(load, budget=250)
    a = make_folder(tmp_path, "a")
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"")  # the size estimate is patched above
    gguf = ModelRef(str(folder), gguf_file="model.gguf")
    with manager.use("a", a):
        pass
    with manager.use("a", gguf):
        pass
    assert seen_while_loading == [set(), set()]  # `a` (100) + a 200-byte peak would not fit in 250
    assert [event["model"] for event in manager.events if event["action"] == "evict"] == [a.source]
    assert manager.used_bytes() == 100
    with manager.use("a", a):  # afterwards the two fit together again
        pass
    assert manager.used_bytes() == 200


def test_gguf_peak_above_the_budget_still_loads_what_fits(tmp_path: Path, monkeypatch) -> None:
    import apps.core.manager as manager_module

    monkeypatch.setattr(manager_module, "estimate_load_bytes", lambda folder, gguf, dtype: 100)
    manager = make_manager(blob_loader([]), budget=150)  # the model fits, its 200-byte peak does not
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"")
    with manager.use("a", ModelRef(str(folder), gguf_file="model.gguf")) as model:
        assert isinstance(model, Blob)
    assert manager.used_bytes() == 100


def test_failed_load_fails_that_request_then_retries(tmp_path: Path) -> None:
    attempts: list[int] = []

    def flaky(request: LoadRequest) -> Blob:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("disk on fire")
        return Blob(5)

    manager = make_manager(flaky)
    ref = make_folder(tmp_path, "m")
    with pytest.raises(ModelUnavailable, match="disk on fire"), manager.use("a", ref):
        pass
    assert manager.state_of("a", ref)["state"] == "failed"
    with manager.use("a", ref) as model:
        assert isinstance(model, Blob)
    assert len(attempts) == 2
    assert manager.state_of("a", ref)["state"] == "loaded"


def test_unload_frees_the_model(tmp_path: Path) -> None:
    manager = make_manager(blob_loader([]))
    ref = make_folder(tmp_path, "m")
    with manager.use("a", ref) as model:
        alive = weakref.ref(model)
    del model
    assert manager.unload("a", ref) is True
    gc.collect()
    assert alive() is None
    assert manager.state_of("a", ref) is None
    assert manager.used_bytes() == 0
    assert manager.unload("a", ref) is False


def test_shared_loader_shares_one_loaded_model(tmp_path: Path) -> None:
    calls: list[str] = []
    manager = make_manager(blob_loader(calls), tasks=("a", "b"))
    ref = make_folder(tmp_path, "m")
    with manager.use("a", ref) as first, manager.use("b", ref) as second:
        assert first is second
    assert len(calls) == 1


def shared_manager(tmp_path: Path, budget: int | None = None) -> tuple[ModelManager, ModelRef]:
    """Tasks a and b configured with one model and one loader (like similarity and search); c another model."""
    shared, other = make_folder(tmp_path, "shared"), make_folder(tmp_path, "other")
    manager = ModelManager(
        loaders=dict.fromkeys(("a", "b", "c"), blob_loader([])),
        selection=ModelSelection({"a": shared, "b": shared, "c": other}),
        budget=budget,
        device="cpu",
        wait_seconds=0.3,
    )
    return manager, shared


def test_two_tasks_on_one_model_load_it_once_and_count_it_once(tmp_path: Path) -> None:
    manager, shared = shared_manager(tmp_path)
    assert manager.model_key("a") == manager.model_key("b") != manager.model_key("c")
    with manager.use("a"):
        pass
    with manager.use("b"):
        pass
    assert list(manager.load_counts.values()) == [1]
    (row,) = manager.snapshot()
    assert row["model"] == str(shared) and row["tasks"] == ["a", "b"] and row["bytes"] == 100
    assert manager.used_bytes() == 100  # 25 float32s, once
    assert manager.state_of("a") == manager.state_of("b") == row


def test_a_task_configured_with_a_loaded_model_is_one_of_its_users(tmp_path: Path) -> None:
    manager, _ = shared_manager(tmp_path)
    with manager.use("a"):
        pass
    assert manager.snapshot()[0]["tasks"] == ["a", "b"]  # b has not run yet, but would use this copy


def test_a_shared_copy_is_evicted_only_when_neither_task_uses_it(tmp_path: Path) -> None:
    manager, _ = shared_manager(tmp_path, budget=150)  # room for one 100-byte model
    for holder in ("a", "b"):
        refused = pytest.raises(MemoryBudgetError, match="in use by shared")
        with manager.use(holder), refused, manager.use("c"):
            pass
        assert manager.state_of("a")["state"] == "loaded"
    with manager.use("a"), manager.use("b"):  # both at once: still one copy, counted once
        assert manager.used_bytes() == 100 and manager.snapshot()[0]["in_use"] == 2
    with manager.use("c"):  # neither uses it now: evicted for c
        pass
    assert manager.state_of("a") is None and manager.evictions() == 1
    assert [row["tasks"] for row in manager.snapshot()] == [["c"]]


def test_other_dtypes_and_loaders_keep_copies_of_their_own(tmp_path: Path) -> None:
    calls: list[str] = []
    ref = make_folder(tmp_path, "m")
    other_loader = blob_loader(calls)
    other_loader.__qualname__ = "another_loader"  # a different kind of loader for the same model
    manager = ModelManager(
        loaders={"a": blob_loader(calls), "b": blob_loader(calls), "c": other_loader},
        selection=ModelSelection({"a": ref, "b": ref.with_dtype("bfloat16"), "c": ref}),
        budget=None,
        device="cpu",
    )
    for task in ("a", "b", "c"):
        with manager.use(task):
            pass
    assert len(calls) == 3 and len(manager.snapshot()) == 3
    assert sorted(row["dtype"] for row in manager.snapshot()) == ["bfloat16", "float32", "float32"]
    assert [row["tasks"] for row in manager.snapshot()] == [["a"], ["b"], ["c"]]


@pytest.mark.parametrize("offline", [True, False])
def test_uncached_model_without_hub_fails_fast_with_advice(offline: bool) -> None:
    # HF_HUB_OFFLINE=1 in tests: with offline=False the Hub call itself is refused, as when unreachable.
    manager = ModelManager(
        loaders={"similarity": blob_loader([])},
        selection=ModelSelection({"similarity": ModelRef("nobody-here/not-a-cached-model")}),
        budget=None,
        device="cpu",
        offline=offline,
    )
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as info, manager.use("similarity"):
        pass
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "nobody-here/not-a-cached-model" in message
    assert "python app.py download similarity" in message
