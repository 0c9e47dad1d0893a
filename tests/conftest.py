"""Shared fixtures: offline environment, the tiny-model kit, and the tiny-model app on a free port."""

from __future__ import annotations

import os

# Before gradio / huggingface_hub are imported anywhere: no analytics, no Hub, no telemetry.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

KIT_DIR = Path(os.environ.get("SHOWCASE_TINY_KIT", ROOT / ".cache" / "tiny-models"))
OUTPUT_DIR = ROOT / "test-output"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_models_file() -> Path:
    """models.toml of the tiny kit (built once, cached on disk between runs)."""
    from tiny_models import build_kit

    return build_kit(KIT_DIR)


@pytest.fixture(scope="session")
def tiny_settings(tiny_models_file: Path):
    from apps.core.settings import Settings

    return Settings(
        host="127.0.0.1",
        port=free_port(),
        models_file=tiny_models_file,
        offline=True,
        memory_budget="none",
        local_model_dirs=(KIT_DIR,),
    )


@pytest.fixture(scope="session")
def tiny_app(tiny_settings) -> Iterator[tuple[str, object]]:
    """The whole app on tiny models, served on a free port: yields (url, demo)."""
    from app import build_demo, launch

    demo = build_demo(tiny_settings)
    launch(demo, tiny_settings, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{tiny_settings.port}/"
    yield url, demo
    demo.close()


@pytest.fixture(scope="session")
def client(tiny_app):
    """A gradio_client Client connected to the tiny-model app."""
    from gradio_client import Client

    # Plain http: without ssl_verify=False, httpx loads the CA bundle on every request (~0.1 s of CPU each).
    return Client(tiny_app[0], verbose=False, ssl_verify=False)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT_DIR.mkdir(exist_ok=True)
    return OUTPUT_DIR
