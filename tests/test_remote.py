"""Remote engines: a second app process whose chat and similarity run on the first app's /v1.

The first app (tiny models, in this process) serves /v1; the second (`python app.py`, a subprocess) is
configured with `openai+http://127.0.0.1:PORT/v1#MODEL` refs for chat and similarity and tiny models for the
rest. Closing the first app must give a clear error in the second, which keeps serving its other tabs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import ROOT, free_port

from apps.core.errors import InputError
from apps.core.refs import ModelRef

openai = pytest.importorskip("openai")


def test_remote_refs_parse_and_round_trip() -> None:
    ref = ModelRef.parse("openai+http://gpu-box:8000/v1#Qwen/Qwen2.5-7B-Instruct")
    assert ref.is_remote and not ref.is_local
    assert ref.remote_url == "http://gpu-box:8000/v1"
    assert ref.remote_model == "Qwen/Qwen2.5-7B-Instruct"
    assert ModelRef.parse(str(ref)) == ref
    assert ModelRef.parse("OPENAI+HTTPS://api.example.com/v1/#m#x.gguf").remote_model == "m#x.gguf"
    assert not ModelRef.parse("HuggingFaceTB/SmolLM2-135M-Instruct").is_remote
    for bad in ("openai+http://host/v1", "openai+http://#model", "openai+http://host:99999/v1#m"):
        with pytest.raises(InputError, match="openai\\+http://HOST"):
            ModelRef.parse(bad)


@pytest.fixture(scope="module")
def first(tiny_settings) -> Iterator[tuple[str, object]]:
    """The first app: tiny models, its own port (the test closes it)."""
    from app import build_demo, launch

    settings = tiny_settings.model_copy(update={"port": free_port()})
    demo = build_demo(settings)
    launch(demo, settings, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{settings.port}/", demo
    demo.close()


@pytest.fixture(scope="module")
def second(first, tiny_models_file) -> Iterator[str]:
    """The second app, in a subprocess: chat and similarity on the first app's /v1, the rest tiny."""
    url, demo = first
    selection = demo.manager.selection
    port = free_port()
    command = [
        sys.executable,
        "app.py",
        "--port",
        str(port),
        "--offline",
        "--memory-budget",
        "none",
        "--models",
        str(tiny_models_file),
        "--model",
        f"chat=openai+{url}v1#{selection.get('chat')}",
        "--model",
        f"similarity=openai+{url}v1#{selection.get('similarity')}",
    ]
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "SHOWCASE_REMOTE_TIMEOUT_SECONDS": "20",
    }
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"the second app exited: {process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(base, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the second app did not start in 120 s")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


CHAT = {
    "message": "What is the capital of France?",
    "history": [],
    "system_prompt": "Be brief.",
    "max_new_tokens": 16,
    "temperature": 0,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
    "model": "",
}


def test_second_app_chats_and_compares_through_the_first(first, second) -> None:
    from gradio_client import Client

    direct = openai.OpenAI(base_url=f"{first[0]}v1", api_key="unused", max_retries=0).chat.completions.create(
        model="",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": CHAT["message"]}],
        max_tokens=16,
        temperature=0,
    )
    client = Client(second, verbose=False, ssl_verify=False)
    job = client.submit(**CHAT, api_name="/chat")
    final = job.result()  # raises the app's error, if any
    updates = job.outputs()
    assert (
        final == updates[-1] == direct.choices[0].message.content
    )  # the remote's greedy answer, through the task layer
    assert len(updates) > 1, "the remote reply did not stream"
    table, _pair = client.predict(sentences="A cat sits on the mat.\nA kitten is sitting on a rug.", model="",
                                  api_name="/similarity")  # fmt: skip
    assert len(table["data"]) == 2

    status = client.predict(api_name="/status")
    assert status["tasks"]["chat"]["remote"] == {
        "server": f"{first[0]}v1",
        "model": str(first[1].manager.selection.get("chat")),
        "reachable": True,
    }
    assert status["tasks"]["chat"]["bytes"] == 0 and status["tasks"]["asr"]["remote"] is None

    first[1].close()  # the remote server goes away
    with pytest.raises(Exception, match="cannot be reached"):
        client.predict(**CHAT, api_name="/chat")
    speech = client.predict(text="Still here.", model="", api_name="/speak")  # other tabs keep serving
    assert speech
    status = client.predict(api_name="/status")
    assert status["tasks"]["similarity"]["remote"]["reachable"] is False
    assert status["tasks"]["similarity"]["state"] == "remote, unreachable"
