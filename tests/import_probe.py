"""Run in a fresh interpreter: serve the tiny app, then fire what a page open and a first request do, all at once.

Records every first import of a heavy model library (apps/core/libraries.py: torch, transformers, …) with
whether the importing thread held the library lock, and prints one JSON object:
`{"unguarded": [[module, thread, app frame], ...], "errors": [...], "imported": N}`.

Usage: python tests/import_probe.py MODELS_TOML KIT_DIR
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import importlib.abc
import json
import socket
import sys
import threading
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apps.core import libraries  # light: imports no model library

unguarded: list[tuple[str, str, str]] = []
imported: list[str] = []
_record_lock = threading.Lock()


def _app_frame() -> str:
    """The innermost frame in the app's own code that led to this import (where to fix it)."""
    for frame in reversed(traceback.extract_stack()):
        inside = frame.filename.startswith(str(ROOT)) and "site-packages" not in frame.filename
        if inside and not frame.filename.endswith("import_probe.py"):
            return f"{Path(frame.filename).relative_to(ROOT)}:{frame.lineno} {frame.name}"
    return "(outside the app)"


class Recorder(importlib.abc.MetaPathFinder):
    """Sees every import of a module not yet in sys.modules; finds nothing itself."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if libraries.is_heavy(name) and name not in sys.modules:
            with _record_lock:
                imported.append(name)
                if not libraries.holding():
                    unguarded.append((name, threading.current_thread().name, _app_frame()))


def main(models_file: str, kit_dir: str) -> None:
    sys.meta_path.insert(0, Recorder())
    from gradio_client import Client

    from app import build_demo, launch
    from apps.core.settings import Settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        host="127.0.0.1",
        port=port,
        models_file=Path(models_file),
        offline=True,
        memory_budget="none",
        local_model_dirs=(Path(kit_dir),),
    )
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    assert not any(libraries.is_heavy(name) for name in sys.modules), "building the app imported a model library"
    errors: list[str] = []
    url = f"http://127.0.0.1:{port}/"
    tiny_similarity = str(Path(kit_dir) / "similarity")

    def page_open() -> None:
        for fn in demo.page_load_handlers:
            fn()

    def api(*args: object, api_name: str) -> None:
        Client(url, verbose=False, ssl_verify=False).predict(*args, api_name=api_name)

    jobs = [
        page_open,
        page_open,
        lambda: api("Hello!", [], "", 16, 0, 1, 1, "", api_name="/chat"),
        page_open,
        lambda: api("A cat.\nA dog.", "", api_name="/similarity"),
        lambda: api("Hello there.", "English", "French", "Chat model", "", api_name="/translate"),
        lambda: api(tiny_similarity, api_name="/estimate_memory"),
        lambda: api("sentence-similarity", "", "downloads", "", "float16", "any", "any", 5, api_name="/find_models"),
        lambda: api(api_name="/status"),
        page_open,
    ]

    def run(job: object) -> None:
        try:
            job()  # type: ignore[operator]
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(job,), name=f"job-{n}") for n, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    demo.close()
    print("PROBE", json.dumps({"unguarded": unguarded, "errors": errors, "imported": len(imported)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
