""" "Use it in code": every snippet runs as printed (tiny models in place of the Hub ids), notebooks validate."""

from __future__ import annotations

import ast
import base64
import contextlib
import io
import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import KIT_DIR
from gradio_client.exceptions import AppError

from apps import SPECS, TASKS
from apps.core.errors import InputError
from apps.core.refs import ModelRef
from apps.core.spec import ASSETS, TaskSpec
from apps.shared.code import Call, LastCalls, markdown, notebook, reference_call, render
from apps.ui.code_panel import check_task

WITH_CODE = [spec for spec in TASKS if spec.code is not None]
REMOVED_PIPELINES = {"translation", "summarization", "vqa"}  # gone from transformers 5


@pytest.fixture
def in_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder holding the example files, as the notebook's folder holds its inputs."""
    for path in ASSETS.iterdir():
        if path.is_file():
            shutil.copy(path, tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_as_printed(code: str) -> str:
    """Execute a snippet as a script and return what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__main__"})
    return printed.getvalue()


def with_tiny_model(code: str, spec: TaskSpec) -> str:
    """The snippet printed for the task's Hub model, with that id replaced by the tiny kit's folder."""
    assert repr(spec.default.id) in code, f"{spec.key}: the snippet does not name its model"
    return code.replace(repr(spec.default.id), repr(str(KIT_DIR / spec.key)))


def test_every_task_with_a_model_has_code() -> None:
    models = {spec.key for spec in TASKS if spec.load is not None}
    assert models - {spec.key for spec in WITH_CODE} == {"finetune"}  # its result is an adapter, not an answer
    for spec in WITH_CODE:
        assert (spec.code.pipeline is None) == (
            spec.key in REMOVED_PIPELINES | {"segmentation", "matching", "image_search"}
        )
        assert spec.code.pipeline or spec.code.no_pipeline, f"{spec.key}: say why there is no pipeline"


@pytest.mark.parametrize("spec", WITH_CODE, ids=lambda spec: spec.key)
def test_snippets_run_as_printed(spec: TaskSpec, tiny_models_file: Path, in_assets: Path) -> None:
    snippets = render(spec, reference_call(spec), spec.default.ref)
    for way in (snippets.pipeline, snippets.direct):
        if way is None:
            continue
        assert "from transformers import" in way
        printed = run_as_printed(with_tiny_model(way, spec))
        assert printed.strip(), f"{spec.key}: the snippet printed nothing"


def test_snippets_show_the_settings_of_the_call() -> None:
    spec = SPECS["chat"]
    call = Call(
        "/chat",
        {
            **reference_call(spec).inputs,
            "message": "Name a colour.",
            "history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
            "system_prompt": "Be brief.",
            "temperature": 0.7,
            "max_new_tokens": 33,
        },
    )
    snippets = render(spec, call, ModelRef("HuggingFaceTB/SmolLM2-135M-Instruct"))
    for code in (snippets.pipeline, snippets.direct):
        assert "'HuggingFaceTB/SmolLM2-135M-Instruct'" in code
        assert "max_new_tokens=33, do_sample=True, temperature=0.7, top_p=0.9" in code
        assert "'Be brief.'" in code and "'Hello!'" in code and "'Name a colour.'" in code
    assert "message='Name a colour.'" in snippets.client and "api_name='/chat'" in snippets.client
    gguf = render(spec, call, ModelRef("bartowski/Llama-3.2-1B-Instruct-GGUF", gguf_file="x.gguf"))
    assert "gguf_file='x.gguf'" in gguf.direct and gguf.pipeline is None and "GGUF" in gguf.no_pipeline
    assert {"gguf", "accelerate"} <= set(gguf.packages)


def test_removed_pipelines_are_explained() -> None:
    for key in REMOVED_PIPELINES:
        snippets = render(SPECS[key], reference_call(SPECS[key]), SPECS[key].default.ref)
        assert snippets.pipeline is None and "transformers 5 removed" in snippets.no_pipeline
        assert "transformers 5 removed" in markdown(snippets)


def test_tasks_without_one_model_get_the_client_way() -> None:
    for key in ("speech_translation", "pipelines", "finetune", "system", "finder"):
        snippets = render(SPECS[key], reference_call(SPECS[key]), None)
        assert snippets.pipeline is None and snippets.direct is None
        assert f"api_name={SPECS[key].requests[0].api_name!r}" in snippets.client
        compile(snippets.client, key, "exec")


@pytest.mark.parametrize("spec", [spec for spec in TASKS if spec.requests], ids=lambda spec: spec.key)
def test_notebook_validates_and_carries_its_inputs(spec: TaskSpec, tmp_path: Path) -> None:
    model = spec.default.ref if spec.code and spec.default else None
    snippets = render(spec, reference_call(spec), model)
    book = notebook(snippets)
    nbformat.validate(book)
    again = nbformat.reads(nbformat.writes(book), as_version=4)
    nbformat.validate(again)
    sources = [cell.source for cell in book.cells if cell.cell_type == "code"]
    assert sources[0].startswith("%pip install -q ") and "gradio_client==" in sources[0]
    if spec.code:
        assert "transformers==" in sources[0]
        assert any("torch.cuda.is_available()" in source for source in sources)
    assert sources[-1] == snippets.client.rstrip("\n")
    # Each input cell writes its file, byte for byte, into the notebook's folder.
    for name, path in snippets.files.items():
        cell = next(source for source in sources if f"Path({name!r}).write_bytes" in source)
        encoded = ast.literal_eval(cell.split("b64decode(")[1].split(")")[0])
        assert base64.b64decode(encoded) == path.read_bytes()


def test_input_cells_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SPECS["asr"]
    book = notebook(render(spec, reference_call(spec), spec.default.ref))
    monkeypatch.chdir(tmp_path)
    for cell in book.cells:
        if cell.cell_type == "code" and ".write_bytes(" in cell.source:
            run_as_printed(cell.source)
    assert (tmp_path / "audio-speech-en.wav").read_bytes() == (ASSETS / "audio-speech-en.wav").read_bytes()


def test_image_search_brings_the_example_gallery() -> None:
    spec = SPECS["image_search"]
    snippets = render(spec, reference_call(spec), spec.default.ref)
    assert {"mm-apple.png", "mm-sunset.png", "mm-house.png"} <= set(snippets.files)


def test_a_task_is_named_by_key_or_title() -> None:
    assert check_task("depth", SPECS) == "depth"
    assert check_task(" Depth estimation ", SPECS) == "depth"
    for bad in ("", "nope", 42, None):
        with pytest.raises(InputError, match="There is no task"):
            check_task(bad, SPECS)


def test_last_calls_keep_the_last_one_per_session() -> None:
    calls = LastCalls(max_sessions=2)
    calls.record("depth", Call("/depth", {"image": "a.png"}), "one")
    calls.record("depth", Call("/depth", {"image": "b.png"}), "one")
    assert calls.get("depth", "one").inputs == {"image": "b.png"} and calls.get("chat", "one") is None
    assert calls.get("depth", "two") is None  # another visitor sees none of it
    calls.record("depth", Call("/depth", {"image": "c.png"}), "two")
    calls.record("depth", Call("/depth", {"image": "d.png"}), "three")
    assert calls.get("depth", "one") is None and calls.get("depth", "three").inputs == {"image": "d.png"}


# -- against the tiny app ------------------------------------------------------------------------


def test_code_shows_the_last_run(client, tiny_app) -> None:
    sentences = "Code shows what ran.\nIt shows the last run."
    client.predict(sentences, "", api_name="/similarity")
    text, path = client.predict("similarity", api_name="/code")
    assert "'Code shows what ran.'" in text and "Settings of your last run" in text
    assert "#### 1. With `transformers.pipeline`" in text and "#### 3. Through this app's API" in text
    assert repr(str(KIT_DIR / "similarity")) in text  # the model the tab ran: here the tiny one
    assert f"Client({tiny_app[0]!r})" in text  # the address the client reached the app at
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    assert any("Code shows what ran." in cell.source for cell in book.cells)


def test_another_session_does_not_see_my_inputs(client, tiny_app) -> None:
    from gradio_client import Client

    client.predict("Only mine to see.\nNobody else's.", "", api_name="/similarity")
    other = Client(tiny_app[0], verbose=False, ssl_verify=False)
    text, _path = other.predict("similarity", api_name="/code")
    assert "Only mine to see." not in text and "Default settings" in text


def test_code_answers_for_every_task(client) -> None:
    for spec in TASKS:
        if not spec.requests:  # a tab with no endpoint (Monitoring) has no code to call it with: a clear no
            with pytest.raises(AppError, match="has no API endpoint"):
                client.predict(spec.title, api_name="/code")
            continue
        text, path = client.predict(spec.title, api_name="/code")
        assert "gradio_client" in text and Path(path).suffix == ".ipynb", spec.key


@pytest.mark.parametrize("key", ["similarity", "translation", "depth", "image_classification"])
def test_client_snippets_run_against_the_app(key: str, tiny_app, in_assets: Path) -> None:
    spec = SPECS[key]
    snippets = render(spec, reference_call(spec), spec.default.ref, app_url=tiny_app[0])
    printed = run_as_printed(snippets.client)
    assert printed.strip(), f"{key}: the gradio_client snippet printed nothing"


def test_the_pages_chat_replies_are_kept_too(tiny_app) -> None:
    """The Chat page answers through its own event, not /chat: its replies still set the code's settings."""
    demo = tiny_app[1]
    reply = next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "chat_stream_reply")
    history = [{"role": "user", "content": "Hello from the page"}]
    for _update in reply("Hello from the page", history, "Be kind.", 16, 0.5, 0.8, 1.0, "", "", None):
        pass
    call = demo.code_calls.get("chat")
    assert call.api_name == "/chat" and call.inputs["message"] == "Hello from the page"
    assert call.inputs["temperature"] == 0.5 and call.inputs["system_prompt"] == "Be kind."


@pytest.mark.real
def test_the_gguf_snippet_runs_on_the_real_smollm2(in_assets: Path) -> None:
    """A GGUF chat model's code (the direct way: transformers de-quantizes the file) answers as the app does."""
    from conftest import SMOLLM2_FILE, smollm2_folder

    spec = SPECS["chat"]
    call = Call("/chat", {**reference_call(spec).inputs, "max_new_tokens": 12})
    snippets = render(spec, call, ModelRef(str(smollm2_folder()), gguf_file=SMOLLM2_FILE))
    assert snippets.pipeline is None
    assert "Paris" in run_as_printed(snippets.direct)
