"""The app served in this process on a free port, with a client and the shared model manager."""

from __future__ import annotations

import os

# Before gradio / huggingface_hub are imported: no analytics, no Hub, no telemetry.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ECHO_API = "/bench_echo"
MIRROR_PREFIX = "/bench_mirror"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env() -> dict[str, str]:
    """The environment for subprocesses: offline, no analytics."""
    return {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


@dataclass
class Served:
    """A running app: its URL, demo, settings and a connected client."""

    url: str
    demo: Any
    settings: Any
    client: Any

    @property
    def manager(self) -> Any:
        return self.demo.manager

    def context(self, task: str) -> Any:
        """The task's TabContext on the served app's manager: the same loaded models as the API uses."""
        from apps import SPECS
        from apps.ui.context import TabContext

        return TabContext(SPECS[task], self.settings, self.manager, SPECS)

    def endpoints(self) -> list[dict[str, Any]]:
        """The served app's named endpoints as `{"api_name": "/x"}` dicts."""
        return [{"api_name": f"/{fn.api_name}"} for fn in self.demo.fns.values() if fn.api_name]

    def new_client(self) -> Any:
        return new_client(self.url)


def new_client(url: str) -> Any:
    """A gradio_client Client for the local app.

    `ssl_verify=False`: over plain HTTP to 127.0.0.1 it only stops httpx from loading the CA bundle again
    for every request (gradio_client calls `httpx.post` without a shared client); that client-side cost
    would otherwise count as API time and compete with the server for the CPU.
    """
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=False)


def settings_for(
    models_file: Path, models: dict[str, str] | None = None, budget: str = "none", local_dirs: tuple[Path, ...] = ()
) -> Any:
    from apps.core.settings import Settings

    return Settings(
        host="127.0.0.1",
        port=free_port(),
        models_file=models_file,
        models=models or {},
        offline=True,
        memory_budget=budget,
        device="cpu",
        local_model_dirs=local_dirs,
    )


def mirror_api(api_name: str) -> str:
    return f"{MIRROR_PREFIX}_{api_name.strip('/')}"


def add_probes(demo: Any) -> None:
    """Add the bench's own endpoints to a built demo (before launch); the app's events stay as they are.

    - `/bench_echo`: text in, the same text out: one API round trip with nothing inside.
    - `/bench_mirror_<api>` for each public non-streaming endpoint: the same input and output components,
      but its function only returns what the real endpoint returned last. It measures the transport of
      that endpoint's data (uploads, Gradio's pre/post-processing of the components, the client's
      downloads of output files) without the app's work or the model.
    """
    import functools
    import inspect

    import gradio as gr

    with demo:
        echo_in, echo_out = gr.Textbox(visible=False), gr.Textbox(visible=False)
        gr.Button(visible=False).click(lambda text: text, echo_in, echo_out, api_name=ECHO_API.strip("/"))
        for block_fn in list(demo.fns.values()):
            name = block_fn.api_name
            if not name or name.startswith("bench_") or block_fn.api_visibility != "public":
                continue
            if inspect.isgeneratorfunction(block_fn.fn) or inspect.isasyncgenfunction(block_fn.fn):
                continue  # streams: the echo is their fixed cost
            last: dict[str, Any] = {}

            def recording(*args: Any, __fn: Any = block_fn.fn, __last: dict[str, Any] = last, **kwargs: Any) -> Any:
                __last["value"] = result = __fn(*args, **kwargs)
                return result

            block_fn.fn = functools.wraps(block_fn.fn)(recording)
            gr.Button(visible=False).click(
                lambda *args, __last=last: __last["value"],
                block_fn.inputs,
                block_fn.outputs,
                api_name=mirror_api(f"/{name}").strip("/"),
                queue=True,
            )


@contextmanager
def serve(
    models_file: Path, models: dict[str, str] | None = None, budget: str = "none", local_dirs: tuple[Path, ...] = ()
) -> Iterator[Served]:
    """Build and launch the whole app exactly as `python app.py` does, plus the bench's probe endpoints."""
    from app import build_demo, launch

    settings = settings_for(models_file, models, budget, local_dirs)
    demo = build_demo(settings)
    add_probes(demo)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{settings.port}/"
    try:
        yield Served(url, demo, settings, new_client(url))
    finally:
        demo.close()
