"""Security: no model code runs unless allowed, uploads over the cap are refused, visitors cannot point the
app at folders or files it does not offer, and the server listens on this machine only by default.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
from conftest import ROOT, free_port
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from app import build_demo, launch
from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings, read_models_file
from apps.shared.chat_engine import load_chat_model
from apps.ui.context import TabContext

UPLOAD_MB = 0.2
APPLE = str(ROOT / "assets" / "mm-apple.png")


def make_custom_code_model(chat_folder: Path, folder: Path, marker: Path) -> Path:
    """A copy of the tiny chat model whose config says: load me with my own code (which writes `marker`)."""
    shutil.copytree(chat_folder, folder, ignore=shutil.ignore_patterns("no-template"))
    config = json.loads((folder / "config.json").read_text())
    config.update(
        model_type="showcase_custom_qwen2",  # a type transformers does not know
        architectures=["CustomForCausalLM"],
        auto_map={
            "AutoConfig": "configuration_custom.CustomConfig",
            "AutoModelForCausalLM": "modeling_custom.CustomForCausalLM",
        },
    )
    (folder / "config.json").write_text(json.dumps(config))
    ran = f"from pathlib import Path\nPath({str(marker)!r}).write_text('the model code ran')\n"
    (folder / "configuration_custom.py").write_text(
        ran + "from transformers import Qwen2Config\n\n\nclass CustomConfig(Qwen2Config):\n"
        '    model_type = "showcase_custom_qwen2"\n'
    )
    (folder / "modeling_custom.py").write_text(
        ran + "from transformers import Qwen2ForCausalLM\n\nfrom .configuration_custom import CustomConfig\n\n\n"
        "class CustomForCausalLM(Qwen2ForCausalLM):\n    config_class = CustomConfig\n"
    )
    return folder


@pytest.fixture(scope="module")
def allowed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("allowed-models")


@pytest.fixture(scope="module")
def secure_app(tiny_settings: Settings, allowed_dir: Path) -> Iterator[tuple[str, Client]]:
    """The tiny-model app with remote code off (the default), a small upload cap and one allowed model folder."""
    settings = tiny_settings.model_copy(
        update={"port": free_port(), "local_model_dirs": (allowed_dir,), "max_upload_mb": UPLOAD_MB}
    )
    assert settings.trust_remote_code is False
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{settings.port}/"
    yield url, Client(url, verbose=False, ssl_verify=False)
    demo.close()


def chat(client: Client, model: str) -> str:
    return client.predict("hi", [], "", 16, 0, 0.9, 1.0, model, api_name="/chat")


# -- remote code ----------------------------------------------------------------------------------


def test_a_model_that_needs_its_own_code_is_refused_and_its_code_never_runs(
    secure_app: tuple[str, Client], tiny_models_file: Path, allowed_dir: Path, tmp_path: Path
) -> None:
    _, client = secure_app
    marker = tmp_path / "ran"
    chat_folder = Path(read_models_file(tiny_models_file)["chat"].source)
    model = make_custom_code_model(chat_folder, allowed_dir / "custom-code", marker)
    with pytest.raises(AppError) as info:
        chat(client, str(model))
    message = str(info.value)
    assert "ships its own Python code" in message and "--trust-remote-code" in message, message
    assert not marker.exists(), "the model's own code ran although remote code is off"
    assert client.predict(api_name="/status")["process"]["trust_remote_code"] is False
    assert chat(client, "").strip()  # the configured chat model still answers


def test_the_same_model_loads_with_its_own_code_when_remote_code_is_on(tiny_models_file: Path, tmp_path: Path) -> None:
    """The control: the folder above really needs its code, which runs only when the setting is on."""
    marker = tmp_path / "ran"
    chat_folder = Path(read_models_file(tiny_models_file)["chat"].source)
    model = make_custom_code_model(chat_folder, tmp_path / "custom-code-trusted", marker)
    manager = ModelManager(
        loaders={"chat": load_chat_model},
        selection=ModelSelection({"chat": ModelRef(str(model))}),
        budget=None,
        device="cpu",
        trust_remote_code=True,
    )
    with manager.use("chat") as loaded:
        assert type(loaded.model).__name__ == "CustomForCausalLM"
    assert marker.read_text() == "the model code ran"


# -- uploads --------------------------------------------------------------------------------------


def test_uploads_over_the_size_cap_are_refused(secure_app: tuple[str, Client], tmp_path: Path) -> None:
    url, client = secure_app
    big = tmp_path / "noise.png"  # a real image, refused for its size alone
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > UPLOAD_MB * 1_000_000
    with pytest.raises(ValueError, match="exceeds the maximum file size of 200000 bytes"):
        client.predict(handle_file(str(big)), "apple, car", "", "", api_name="/classify_image")
    # A client that skips that check is refused by the server, with the reason.
    with big.open("rb") as file:
        response = httpx.post(f"{url}gradio_api/upload", files=[("files", ("noise.png", file))], timeout=60)
    assert response.status_code == 413 and "maximum allowed size of 200000 bytes" in response.text, response.text
    # Files under the cap still work.
    scores = client.predict(handle_file(APPLE), "apple, car", "", "", api_name="/classify_image")
    assert {row["label"] for row in scores["confidences"]} == {"apple", "car"}


def test_a_server_file_path_sent_instead_of_an_upload_is_not_read(secure_app: tuple[str, Client]) -> None:
    url, _ = secure_app
    passwd = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}, "orig_name": "passwd.png"}
    call = httpx.post(f"{url}gradio_api/call/classify_image", json={"data": [passwd, "a, b", "", ""]}, timeout=30)
    events = httpx.get(f"{url}gradio_api/call/classify_image/{call.json()['event_id']}", timeout=60).text
    assert "event: error" in events and "root:" not in events


# -- model references -----------------------------------------------------------------------------


def similarity(client: Client, model: str) -> Any:
    return client.predict("A cat sits.\nA kitten sits.", model, api_name="/similarity")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("not a model!!", "is not a valid model id"),
        ("org/name/extra", "is not a valid model id"),
        ("~/.ssh", "is not allowed here"),
        ("/etc", "is not allowed here"),
    ],
)
def test_model_refs_that_are_not_hub_ids_or_allowed_folders_are_refused(
    secure_app: tuple[str, Client], model: str, message: str
) -> None:
    with pytest.raises(AppError, match=message):
        similarity(secure_app[1], model)


def test_only_folders_under_the_allowed_dirs_can_be_chosen(
    secure_app: tuple[str, Client], tiny_models_file: Path, allowed_dir: Path
) -> None:
    _, client = secure_app
    # A real model outside the allowed dir (another tab's; a tab's own configured model may always be chosen).
    outside = Path(read_models_file(tiny_models_file)["search"].source)
    inside = shutil.copytree(outside, allowed_dir / "similarity-copy")
    (allowed_dir / "link-out").symlink_to(outside)
    for refused in (outside, allowed_dir / ".." / outside.parent.name / outside.name, allowed_dir / "link-out"):
        with pytest.raises(AppError, match="is not allowed here"):
            similarity(client, str(refused))
    with pytest.raises(AppError, match="is not allowed here"):  # configured models' folders may be estimated
        client.predict(str(outside.parent), api_name="/estimate_memory")
    table, _ = similarity(client, str(inside))
    assert len(table["data"]) == 2


def test_without_custom_models_only_listed_models_can_be_chosen() -> None:
    settings = Settings(allow_custom_models=False)
    spec = SPECS["similarity"]
    manager = ModelManager(
        loaders={"similarity": spec.load}, selection=ModelSelection({"similarity": spec.default.ref}), budget=None
    )
    ctx = TabContext(spec, settings, manager, SPECS)
    assert ctx.resolve_model(spec.alternatives[0].id) == spec.alternatives[0].ref
    with pytest.raises(InputError, match="runs only its listed models"):
        ctx.resolve_model("someone/else")


# -- where the server listens ---------------------------------------------------------------------


def test_settings_bind_this_machine_only_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("SHOWCASE_HOST", raising=False)
    assert Settings().host == "127.0.0.1"


def test_python_app_py_listens_on_127_0_0_1_only(tiny_models_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADIO_SERVER_NAME", "SHOWCASE_HOST")}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "app.py", "--models", str(tiny_models_file), "--port", str(port), "--offline"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, "python app.py exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("python app.py did not answer within 120 s")
        listening = [
            c.laddr
            for c in psutil.Process(server.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        assert listening and {address.ip for address in listening} == {"127.0.0.1"}, listening
        others = [
            a.address
            for addresses in psutil.net_if_addrs().values()
            for a in addresses
            if a.family.name == "AF_INET" and not a.address.startswith("127.")
        ]
        for address in others:  # this machine's other addresses get no answer
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{address}:{port}/", timeout=2)
    finally:
        server.terminate()
        server.wait(timeout=30)
