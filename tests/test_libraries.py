"""The library lock: heavy imports and model loads one thread at a time; transient load failures retried once.

The first test reproduces the page-open-then-chat race deterministically: in a fresh interpreter it records
every first import of torch / transformers / … and fails if any ran without the lock (as Whisper's language
list did on page load while the chat model loaded in another thread).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import KIT_DIR, ROOT
from test_manager import Blob, make_folder, make_manager

from apps.core import libraries
from apps.core.errors import ModelUnavailable, TransientLoadError
from apps.core.manager import LoadRequest


def test_every_heavy_import_runs_under_the_library_lock(tiny_models_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "import_probe.py"), str(tiny_models_file), str(KIT_DIR)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    probe = json.loads(lines[-1].removeprefix("PROBE "))
    assert probe["errors"] == []
    assert probe["imported"] > 100  # torch and transformers were imported, so the probe saw them
    sites = sorted({site for _module, _thread, site in probe["unguarded"]})
    assert probe["unguarded"] == [], f"heavy imports outside the library lock, from: {sites}"


def test_whisper_languages_are_transformers_own() -> None:
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    from apps.shared.languages import WHISPER_LANGUAGES

    assert WHISPER_LANGUAGES == LANGUAGES


def test_exclusive_is_reentrant_and_says_who_holds_it() -> None:
    assert not libraries.holding()
    with libraries.exclusive():
        with libraries.exclusive():
            assert libraries.holding()
        assert libraries.holding()
    assert not libraries.holding()


def test_a_waiting_thread_is_told_and_waits() -> None:
    told: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with libraries.exclusive():
            inside.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    started = time.monotonic()
    threading.Timer(0.2, release.set).start()
    with libraries.exclusive(on_wait=lambda: told.append("waiting")):
        waited = time.monotonic() - started
    holder.join()
    assert told == ["waiting"] and waited >= 0.15


def test_an_import_site_stops_waiting_once_its_imports_are_done() -> None:
    """A site that has imported its names once runs at once while another thread holds the lock (a long load)."""
    site = f"test-site-{time.monotonic_ns()}"
    with libraries.imports(site):
        assert libraries.holding()
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with libraries.exclusive():
            inside.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    try:
        started = time.monotonic()
        with libraries.imports(site):
            assert not libraries.holding()
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
        holder.join()


def flaky_loader(failures: list[BaseException]):
    calls: list[int] = []

    def load(request: LoadRequest) -> Blob:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return Blob(25)

    load.calls = calls  # type: ignore[attr-defined]
    return load


def test_an_import_error_is_retried_once_in_the_same_request(tmp_path: Path) -> None:
    ref = make_folder(tmp_path, "m")
    loader = flaky_loader([ImportError("cannot import name 'AutoModelForCausalLM' from 'transformers'")])
    manager = make_manager(loader)
    with manager.use("a", ref) as model:
        assert isinstance(model, Blob)
    assert len(loader.calls) == 2


def test_a_transient_failure_twice_says_it_is_worth_retrying(tmp_path: Path) -> None:
    ref = make_folder(tmp_path, "m")
    loader = flaky_loader([OSError("Stale file handle"), OSError("Stale file handle")])
    manager = make_manager(loader)
    with pytest.raises(TransientLoadError) as caught, manager.use("a", ref):
        pass
    message = str(caught.value)
    assert "worth trying again" in message and "not the model's" in message and "OSError" in message
    assert len(loader.calls) == 2
    with manager.use("a", ref) as model:  # the next request loads it
        assert isinstance(model, Blob)


@pytest.mark.parametrize(
    "error",
    [
        ModuleNotFoundError("No module named 'timm'"),
        ImportError("This model requires the timm library: pip install timm"),
        FileNotFoundError("model.safetensors"),
    ],
    ids=["missing-module", "missing-backend", "missing-file"],
)
def test_failures_that_repeat_are_not_retried(tmp_path: Path, error: BaseException) -> None:
    ref = make_folder(tmp_path, "m")
    loader = flaky_loader([error])
    manager = make_manager(loader)
    with pytest.raises(ModelUnavailable) as caught, manager.use("a", ref):
        pass
    assert not isinstance(caught.value, TransientLoadError)
    assert len(loader.calls) == 1
