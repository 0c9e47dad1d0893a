"""One process-wide lock for the heavy model libraries: their first imports and every model load.

transformers (and sentence-transformers, which imports it) resolve most names lazily, importing a
submodule on first use. Python takes a lock per module while importing it; two threads importing
overlapping chains of such modules at once (a loader building a model while a page-load handler lists
Whisper's languages) can each hold a module the other needs. Python breaks that deadlock by handing
one thread a half-initialised module, which then fails with "cannot import name 'AutoModelForCausalLM'
from 'transformers'". Only one thread may therefore import these libraries at a time, and model loads
(which import lazily all the way through `from_pretrained`) hold the same lock.

Import time of the app touches none of this: the page answers before any model library is imported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# Libraries that import lazily or import a large tree of modules, all of them imported only under the lock.
HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "tokenizers",
    "safetensors",
    "accelerate",
    "gguf",
    "peft",
)

_LOCK = threading.RLock()
_held = threading.local()
_done: set[str] = set()  # import sites whose names are all imported: they no longer need the lock
_done_lock = threading.Lock()


def is_heavy(module_name: str) -> bool:
    """Whether `module_name` is one of the heavy libraries or a submodule of one."""
    return module_name.split(".", 1)[0] in HEAVY


def holding() -> bool:
    """Whether this thread holds the library lock."""
    return getattr(_held, "depth", 0) > 0


@contextmanager
def exclusive(on_wait: Callable[[], object] | None = None) -> Iterator[None]:
    """Hold the library lock for the block: no other thread imports a heavy library or loads a model meanwhile.

    Re-entrant. `on_wait` is called once if another thread holds the lock (to tell the user why they wait).
    """
    if not _LOCK.acquire(blocking=False):
        if on_wait is not None:
            on_wait()
        _LOCK.acquire()
    _held.depth = getattr(_held, "depth", 0) + 1
    try:
        yield
    finally:
        _held.depth -= 1
        _LOCK.release()


@contextmanager
def imports(site: str) -> Iterator[None]:
    """Run the block's imports of heavy libraries under the lock, the first time `site` runs them.

    Once a site's imports have succeeded its names are in `sys.modules` and cached on the lazy modules,
    so later runs import nothing and need not wait for a model that another thread is loading.
    """
    if site in _done:
        yield
        return
    with exclusive():
        yield
    with _done_lock:
        _done.add(site)
