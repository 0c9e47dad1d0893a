"""The model manager: every tab reaches its model through `with manager.use(task) as model:`.

Loads lazily and once, counts references, keeps all loaded models inside a memory budget by
unloading idle ones (least recently used first), and turns every failure into a clear error for
the one request that hit it.
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from apps.core import hub, libraries
from apps.core.errors import InputError, MemoryBudgetError, ModelUnavailable, ShowcaseError, TransientLoadError
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, auto_budget, resolve_device, resolve_dtype
from apps.core.weights import bytes_for, estimate_load_bytes, format_bytes

log = logging.getLogger("showcase.manager")

# One loader runs at a time in the whole process (every manager), holding the library lock
# (apps/core/libraries.py). transformers' `from_pretrained` swaps process-wide state while it builds a
# model (`PreTrainedModel.tie_weights`, `torch.nn.init`, torch's default dtype) and imports lazily: two
# loads at once, or a load beside another thread's first import of transformers, leave models with untied
# weights on the meta device, or fail with "cannot import name ...". Downloads (`fetch`) still run side by side.

# Failures that are not the model's fault: a library that failed to import (a race with another import,
# or a broken install), a cache file being written by another process. Retried once in the same request.
TRANSIENT_ERRORS = (ImportError, OSError)

ProgressFn = Callable[..., Any]


@dataclass(frozen=True)
class LoadRequest:
    """Everything a loader needs: the files are already local when it is called."""

    task: str
    ref: ModelRef
    path: Path
    device: str
    dtype: str
    trust_remote_code: bool
    # Settings some loaders read (e.g. the chat loader's `gguf_engine`, `gguf_context`), from the manager.
    options: Mapping[str, Any] = field(default_factory=dict)


Loader = Callable[[LoadRequest], Any]


class State(StrEnum):
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


@dataclass
class Entry:
    """One loaded copy of a model, under its key (loader, model, revision, GGUF file, device, dtype)."""

    key: tuple[str, ...]
    task: str  # the task that loaded it
    ref: ModelRef
    device: str
    dtype: str
    state: State = State.LOADING
    value: Any = None
    size: int = 0
    refs: int = 0
    last_used: float = field(default_factory=time.monotonic)
    error: str = ""
    loaded_in: float = 0.0
    # Every task that has used this copy, in order of first use: tasks whose loader and model agree share it.
    tasks: dict[str, None] = field(default_factory=dict)


class EvictionPolicy(Protocol):
    def order(self, idle: list[Entry]) -> list[Entry]:
        """Idle loaded entries in the order they should be unloaded."""


class LeastRecentlyUsed:
    def order(self, idle: list[Entry]) -> list[Entry]:
        return sorted(idle, key=lambda entry: entry.last_used)


class ModelManager:
    """Thread-safe, ref-counted, memory-budgeted cache of loaded models."""

    def __init__(
        self,
        *,
        loaders: Mapping[str, Loader],
        selection: ModelSelection,
        budget: int | str | None = "auto",
        device: str = "auto",
        dtype: str = "auto",
        offline: bool = False,
        trust_remote_code: bool = False,
        wait_seconds: float = 120.0,
        fetch: Callable[..., Path] = hub.fetch,
        policy: EvictionPolicy | None = None,
        loader_options: Mapping[str, Any] | None = None,
        remote_loaders: Mapping[str, Loader] | None = None,
    ) -> None:
        self.loaders = dict(loaders)
        self.loader_options = dict(loader_options or {})
        # Tasks that can run on an OpenAI-compatible server (`openai+http://…#MODEL` refs): their loaders make
        # a client, fetch nothing and take no memory budget.
        self.remote_loaders = dict(remote_loaders or {})
        self.selection = selection
        # "auto" device and budget are resolved on first use: working them out imports torch,
        # which would slow down start-up for a page that may never load a model.
        self._budget_setting = budget
        self._device_setting = device
        self.dtype = dtype
        self.offline = offline
        self.trust_remote_code = trust_remote_code
        self.wait_seconds = wait_seconds
        self._fetch = fetch
        self._policy = policy or LeastRecentlyUsed()
        self._cond = threading.Condition()
        self._entries: dict[tuple[str, ...], Entry] = {}
        self.load_counts: dict[tuple[str, ...], int] = {}
        self.events: deque[dict[str, Any]] = deque(maxlen=200)
        # Called with every event (load, evict, unload, fail) plus its task, bytes and load seconds, under the
        # manager's lock: monitoring counts through this seam, so the manager imports nothing above core.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    @functools.cached_property
    def device(self) -> str:
        return resolve_device(self._device_setting)

    @functools.cached_property
    def budget(self) -> int | None:
        if self._budget_setting != "auto":
            return self._budget_setting  # type: ignore[return-value]
        return auto_budget(self.device)

    # -- public API ---------------------------------------------------------------------------

    @contextmanager
    def use(self, task: str, ref: ModelRef | None = None, progress: ProgressFn | None = None) -> Iterator[Any]:
        """Yield the loaded model of `task` (its configured model unless `ref` is given).

        The model cannot be unloaded while the block runs.
        """
        entry = self._acquire(task, ref or self.selection.get(task), progress)
        try:
            yield entry.value
        finally:
            self._release(entry)

    def load(self, task: str, ref: ModelRef | None = None, progress: ProgressFn | None = None) -> None:
        """Load a model ahead of use (System tab)."""
        with self.use(task, ref, progress):
            pass

    def unload(self, task: str, ref: ModelRef | None = None) -> bool:
        """Unload the task's model now. Refuses while it is in use; False if it was not loaded."""
        key = self._key(task, ref or self.selection.get(task))
        with self._cond:
            entry = self._entries.get(key)
            if entry is None or entry.state is State.FAILED:
                self._entries.pop(key, None)
                return False
            if entry.refs or entry.state is State.LOADING:
                raise InputError(f"`{entry.ref.name}` is in use; try again when its request has finished.")
            freed = self._drop(entry, f"unloaded on request ({task})")
        _free([freed])
        return True

    def unload_all(self) -> int:
        """Unload every idle model; returns how many were unloaded."""
        with self._cond:
            idle = [e for e in self._entries.values() if e.state is State.LOADED and not e.refs]
            freed = [self._drop(entry, "unloaded on request (all)") for entry in idle]
        _free(freed)
        return len(freed)

    def make_room(self, needed: int) -> int:
        """Unload idle models (policy order) until `needed` more bytes fit the budget (memory a model uses
        beyond its weights, e.g. a training run). Returns the bytes free afterwards (the budget may be None:
        then there is no limit and this returns `needed`)."""
        if self.budget is None:
            return needed
        with self._cond:
            idle = [e for e in self._entries.values() if e.state is State.LOADED and not e.refs]
            freed = []
            for victim in self._policy.order(idle):
                if self._used() + needed <= self.budget:
                    break
                freed.append(self._drop(victim, f"evicted to make room ({format_bytes(needed)})", action="evict"))
            free = self.budget - self._used()
        _free(freed)
        return free

    def used_bytes(self) -> int:
        with self._cond:
            return self._used()

    def snapshot(self) -> list[dict[str, Any]]:
        """One dict per known model (a copy shared by several tasks is one): task (the one that loaded it),
        tasks (all that used it), model, state, bytes, device, dtype, in_use, load_seconds, error."""
        with self._cond:
            return [_row(entry, self._users(entry)) for entry in self._entries.values()]

    def state_of(self, task: str, ref: ModelRef | None = None) -> dict[str, Any] | None:
        """The snapshot row of the task's model, or None if it was never requested."""
        key = self._key(task, ref or self.selection.get(task))
        with self._cond:
            entry = self._entries.get(key)
            return None if entry is None else _row(entry, self._users(entry))

    def model_key(self, task: str, ref: ModelRef | None = None) -> tuple[str, ...]:
        """The key the task's model (its configured one unless `ref` is given) is loaded under.

        Tasks whose keys are equal share one loaded copy: (loader, model, revision, GGUF file, device, dtype).
        """
        return self._key(task, ref or self.selection.get(task))

    def evictions(self) -> int:
        return sum(1 for event in self.events if event["action"] == "evict")

    # -- internals ----------------------------------------------------------------------------

    def _key(self, task: str, ref: ModelRef) -> tuple[str, ...]:
        loader = self.loaders.get(task)
        if loader is None:
            raise InputError(f"Task `{task}` has no model.")
        loader_id = f"{loader.__module__}.{loader.__qualname__}"
        dtype = resolve_dtype(ref.dtype or self.dtype, self.device)
        key = (loader_id, ref.source, ref.revision or "", ref.gguf_file or "", self.device, dtype)
        # An adapter makes a different model on the same base: its own copy, keyed after the others.
        return (*key, f"adapter:{ref.adapter}") if ref.adapter else key

    def _users(self, entry: Entry) -> list[str]:
        """The tasks of one loaded copy: those that used it, then those configured with it (same key)."""
        users = list(entry.tasks)
        for task in self.loaders:
            if task not in entry.tasks and self._configured_key(task) == entry.key:
                users.append(task)
        return users

    def _configured_key(self, task: str) -> tuple[str, ...] | None:
        try:
            return self._key(task, self.selection.get(task))
        except InputError:  # a loader without a configured model (tests build such managers)
            return None

    def _acquire(self, task: str, ref: ModelRef, progress: ProgressFn | None) -> Entry:
        key = self._key(task, ref)
        with self._cond:
            while True:
                entry = self._entries.get(key)
                if entry is None or entry.state is State.FAILED:
                    entry = Entry(key, task, ref, device=key[4], dtype=key[5], refs=1, tasks={task: None})
                    self._entries[key] = entry
                    break  # this thread loads it
                entry.refs += 1
                entry.tasks.setdefault(task)
                if entry.state is State.LOADED:
                    entry.last_used = time.monotonic()
                    return entry
                if progress is not None:
                    progress(None, desc=f"Waiting for {ref.name} to load…")
                while entry.state is State.LOADING:
                    self._cond.wait()
                if entry.state is State.LOADED:
                    entry.last_used = time.monotonic()
                    return entry
                entry.refs -= 1
                raise ModelUnavailable(entry.error)
        try:
            self._load(entry, progress)
        except BaseException as exc:
            message = str(exc) if isinstance(exc, ShowcaseError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, ShowcaseError):
                log.exception("loading %s failed", ref)
                message = f"Could not load `{ref.name}` for {task}: {message}"
            with self._cond:
                entry.state, entry.error, entry.refs, entry.value, entry.size = State.FAILED, message, 0, None, 0
                self._record("fail", entry, message)
                self._cond.notify_all()
            if isinstance(exc, ShowcaseError):
                raise
            raise ModelUnavailable(message) from exc
        return entry

    def _load(self, entry: Entry, progress: ProgressFn | None) -> None:
        ref = entry.ref
        started = time.monotonic()
        if ref.is_remote:
            self._connect(entry)
            return
        if progress is not None:
            progress(0.0, desc=f"Fetching {ref.name}…")
        if self.budget is not None and not ref.is_local and hub.cached_path(ref) is None and not self.offline:
            self._check_remote_size(entry)
        path = self._fetch(ref, offline=self.offline, fetch_hint=f"python app.py download {entry.task}")
        if not self.trust_remote_code:
            refuse_remote_code(path, ref)  # before any loader: the model's own code must not even be imported
        request = LoadRequest(
            entry.task, ref, path, entry.device, entry.dtype, self.trust_remote_code, self.loader_options
        )
        try:
            estimate, peak = self._estimate(request)
        except Exception as exc:  # unreadable headers only cost us the estimate
            log.warning("cannot estimate size of %s: %s", ref, exc)
            estimate = peak = 0
        self._reserve(entry, estimate, peak=peak)
        if progress is not None:
            progress(0.5, desc=f"Loading {ref.name} ({format_bytes(estimate)}) on {entry.device}…")

        def waiting() -> None:
            if progress is not None:
                progress(0.5, desc=f"Waiting for another model to finish loading, then {ref.name}…")

        with libraries.exclusive(on_wait=waiting):
            value = self._run_loader(request)
        size = measure_bytes(value) or estimate
        with self._cond:
            entry.value, entry.size, entry.state = value, size, State.LOADED
            entry.loaded_in = time.monotonic() - started
            entry.last_used = time.monotonic()
            self.load_counts[entry.key] = self.load_counts.get(entry.key, 0) + 1
            self._record("load", entry, f"{format_bytes(size)} in {entry.loaded_in:.1f}s")
            freed = self._evict_for(0, keep=entry) if self.budget is not None else []
            self._cond.notify_all()
        _free(freed)
        if progress is not None:
            progress(1.0, desc=f"{ref.name} ready")

    def _estimate(self, request: LoadRequest) -> tuple[int, int]:
        """(bytes once loaded, bytes at the load's peak). A loader may know better than the weight headers
        (llama.cpp keeps a GGUF quantized: file + KV cache) through its `estimate_bytes(request)` attribute."""
        custom = getattr(self.loaders[request.task], "estimate_bytes", None)
        found = custom(request) if callable(custom) else None
        if found is not None:
            return found, found
        estimate = estimate_load_bytes(request.path, request.ref.gguf_file, request.dtype)
        return estimate, load_peak_bytes(estimate, request.ref)

    def _connect(self, entry: Entry) -> None:
        """A remote model: its task's remote loader makes the client; nothing is fetched or reserved."""
        loader = self.remote_loaders.get(entry.task)
        if loader is None:
            runnable = ", ".join(sorted(self.remote_loaders)) or "none"
            raise ModelUnavailable(
                f"{entry.task} cannot run on a remote server (`{entry.ref}`); the tasks that can: {runnable}."
            )
        request = LoadRequest(entry.task, entry.ref, Path(), entry.device, entry.dtype, self.trust_remote_code)
        value = loader(request)
        with self._cond:
            entry.value, entry.size, entry.state = value, 0, State.LOADED
            entry.last_used = time.monotonic()
            self.load_counts[entry.key] = self.load_counts.get(entry.key, 0) + 1
            self._record("load", entry, f"remote, {entry.ref.remote_url}")
            self._cond.notify_all()

    def _run_loader(self, request: LoadRequest) -> Any:
        """The task's loader; a failure that is not the model's fault (see TRANSIENT_ERRORS) is retried once."""
        loader = self.loaders[request.task]
        try:
            return loader(request)
        except TRANSIENT_ERRORS as exc:
            if not _is_transient(exc):
                raise
            log.warning("loading %s failed (%s: %s); retrying once", request.ref, type(exc).__name__, exc)
            gc.collect()
        try:
            return loader(request)
        except TRANSIENT_ERRORS as exc:
            if not _is_transient(exc):
                raise
            raise TransientLoadError(
                f"Could not load `{request.ref.name}` for {request.task}, twice, for a reason that is probably not "
                f"the model's: {type(exc).__name__}: {exc}. It is worth trying again in a moment; if it keeps "
                "failing, check the installation (`pip install -r requirements.txt`) and the model cache "
                f"(`python app.py download {request.task}` fetches the files again)."
            ) from exc

    def _check_remote_size(self, entry: Entry) -> None:
        """Refuse before downloading a Hub model that can never fit (its safetensors metadata)."""
        from huggingface_hub import get_safetensors_metadata

        try:
            meta = get_safetensors_metadata(entry.ref.source, revision=entry.ref.revision, timeout=5)
        except Exception:
            return  # no metadata: the estimate after download decides
        needed = bytes_for(sum(meta.parameter_count.values()), entry.dtype)
        if self.budget is not None and needed > self.budget:
            raise MemoryBudgetError(self._too_big(entry, needed))

    def _too_big(self, entry: Entry, needed: int) -> str:
        return (
            f"`{entry.ref.name}` needs about {format_bytes(needed)} as {entry.dtype}, more than the whole "
            f"memory budget of {format_bytes(self.budget or 0)}. Choose a smaller model or raise "
            "SHOWCASE_MEMORY_BUDGET."
        )

    def _reserve(self, entry: Entry, estimate: int, peak: int | None = None) -> None:
        """Make room for `peak` bytes (default `estimate`) while loading: evict idle models, wait for busy
        ones, or refuse. Only `estimate` must fit the budget; a peak above it reserves the whole budget."""
        if self.budget is None:
            entry.size = estimate
            return
        if estimate > self.budget:
            raise MemoryBudgetError(self._too_big(entry, estimate))
        reserve = max(estimate, min(peak or estimate, self.budget))
        deadline = time.monotonic() + self.wait_seconds
        while True:
            with self._cond:
                freed = self._evict_for(reserve, keep=entry)
                if self._used(exclude=entry) + reserve <= self.budget:
                    entry.size = reserve  # reserved while loading; the measured size replaces it after
                    break
                if not freed:
                    remaining = deadline - time.monotonic()
                    busy = ", ".join(
                        e.ref.name for e in self._entries.values() if e is not entry and e.state is not State.FAILED
                    )
                    if remaining <= 0:
                        raise MemoryBudgetError(
                            f"Not enough room in the memory budget ({format_bytes(self.budget)}) for "
                            f"`{entry.ref.name}` ({format_bytes(estimate)}): in use by {busy}. "
                            "Try again in a moment, or raise SHOWCASE_MEMORY_BUDGET."
                        )
                    self._cond.wait(min(remaining, 1.0))
            _free(freed)
        _free(freed)

    def _evict_for(self, needed: int, keep: Entry) -> list[Any]:
        """Under the lock: unload idle models (policy order) until `needed` more bytes fit."""
        assert self.budget is not None
        idle = [e for e in self._entries.values() if e is not keep and e.state is State.LOADED and not e.refs]
        freed = []
        for victim in self._policy.order(idle):
            if self._used(exclude=keep) + keep.size + needed <= self.budget:
                break
            freed.append(self._drop(victim, f"evicted to make room for {keep.ref.name}", action="evict"))
        return freed

    def _used(self, exclude: Entry | None = None) -> int:
        return sum(e.size for e in self._entries.values() if e is not exclude and e.state is not State.FAILED)

    def _drop(self, entry: Entry, reason: str, action: str = "unload") -> Any:
        """Under the lock: forget an entry; the caller frees the returned value outside the lock."""
        self._entries.pop(entry.key, None)
        value, entry.value = entry.value, None
        self._record(action, entry, reason)
        self._cond.notify_all()
        return value

    def _release(self, entry: Entry) -> None:
        with self._cond:
            entry.refs -= 1
            entry.last_used = time.monotonic()
            self._cond.notify_all()

    def _record(self, action: str, entry: Entry, detail: str) -> None:
        event = {"time": time.time(), "action": action, "model": str(entry.ref), "detail": detail}
        self.events.append(event)
        log.info("%s %s: %s", action, entry.ref, detail)
        if self.listeners:
            told = {**event, "task": entry.task, "bytes": entry.size, "load_seconds": entry.loaded_in}
            for listener in self.listeners:
                try:
                    listener(told)
                except Exception:  # a broken listener must not break a load
                    log.exception("manager listener failed")


def _row(entry: Entry, users: list[str]) -> dict[str, Any]:
    return {
        "task": entry.task,
        "tasks": users,
        "model": str(entry.ref),
        "state": entry.state.value,
        "bytes": entry.size if entry.state is State.LOADED else 0,
        "device": entry.device,
        "dtype": entry.dtype,
        "in_use": entry.refs,
        "load_seconds": round(entry.loaded_in, 2),
        "error": entry.error,
        # What runs the model ("transformers", "llama.cpp", …) when the loaded object says.
        "engine": str(getattr(entry.value, "engine", "")) if entry.state is State.LOADED else "",
    }


def refuse_remote_code(path: Path, ref: ModelRef) -> None:
    """Raise ModelUnavailable if the model in `path` only loads by running its own Python code.

    That is a config whose `auto_map` names code in the repository for a model type transformers
    does not know. (A known type with an `auto_map` loads with transformers' own code.)
    """
    import json

    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return  # no config (e.g. a GGUF folder): nothing names custom code
    if not isinstance(config, dict) or not config.get("auto_map"):
        return
    with libraries.imports("manager.config_mapping"):
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    if config.get("model_type") in CONFIG_MAPPING_NAMES:
        return
    raise ModelUnavailable(
        f"`{ref.name}` ships its own Python code (`auto_map` in its config.json), which would run with the "
        "server's rights, and this app does not run model code unless it is allowed: start it with "
        "--trust-remote-code (or SHOWCASE_TRUST_REMOTE_CODE=true) if you trust this model, or choose "
        "a model that transformers supports itself."
    )


def load_peak_bytes(estimate: int, ref: ModelRef) -> int:
    """Memory a load takes at its peak. transformers de-quantizes a GGUF file into a full state dict and then
    builds the model beside it, so both exist at once (measured: SmolLM2-135M, 513 MiB as float32, raised
    RSS by 936 MiB while loading). safetensors are memory-mapped and copied tensor by tensor: no such peak."""
    return 2 * estimate if ref.gguf_file else estimate


def measure_bytes(value: Any) -> int:
    """Bytes held by the torch tensors (parameters and buffers) reachable from a loaded object, or what an
    object that holds its memory outside torch (llama.cpp) reports with `memory_bytes()`."""
    reported = getattr(value, "memory_bytes", None)
    if callable(reported):
        return int(reported())
    torch = sys.modules.get("torch")  # a model made of torch modules imported it
    if torch is None:
        return 0
    modules = []
    candidates = [value, *vars(value).values()] if hasattr(value, "__dict__") else [value]
    for candidate in candidates:
        if isinstance(candidate, torch.nn.Module):
            modules.append(candidate)
    seen: set[int] = set()
    total = 0
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            pointer = tensor.data_ptr()
            if pointer in seen:
                continue
            seen.add(pointer)
            total += tensor.numel() * tensor.element_size()
    return total


def _is_transient(exc: BaseException) -> bool:
    """Whether a loader's ImportError/OSError may pass on a second try.

    Not when a package is missing (the model needs one that is not installed), nor when a file is not
    there at all, nor for our own messages: those fail the same way every time.
    """
    if isinstance(exc, ModuleNotFoundError | FileNotFoundError | IsADirectoryError | PermissionError):
        return False
    if isinstance(exc, ImportError):
        # transformers says "requires the X library" when a backend is missing: a second try cannot help.
        return "pip install" not in str(exc) and "requires the" not in str(exc)
    return True


def _free(values: list[Any]) -> None:
    """Really release unloaded models: drop references, collect, and empty the CUDA cache."""
    if not values:
        return
    values.clear()
    gc.collect()
    torch = sys.modules.get("torch")  # loaded models imported it; never import it just to free memory
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
