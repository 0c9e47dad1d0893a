"""Pipelines: the format and its checks, every pair of tasks, the shipped examples through the API, a step
failing mid-run, saving and loading, the builder's edits, and one pipeline served alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, free_port
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from test_browser import browser, open_tab, page  # noqa: F401  (the browser test's fixtures)

from apps import SPECS
from apps.core.errors import InputError
from apps.core.spec import Kind
from apps.pipelines import builder, store
from apps.pipelines.spec import (
    INPUT_KINDS,
    MAX_STEPS,
    check,
    kind_phrase,
    parse,
    read_file,
    required_settings,
    step_tasks,
)

ASSETS = ROOT / "assets"
TEXT = "The council approved a plan to turn the old railway line into a park. Work starts next spring."
INPUTS = {
    Kind.TEXT: {"text": TEXT},
    Kind.AUDIO: {"audio": "audio-speech-en.wav"},
    Kind.IMAGE: {"image": "mm-sunset.png"},
}


def spec_text(*steps: dict[str, Any], input: str = "text") -> str:
    return json.dumps({"name": "test", "input": input, "steps": list(steps)})


def refused(text: Any, pattern: str) -> str:
    with pytest.raises(InputError, match=pattern) as info:
        parse(text, SPECS)
    return str(info.value)


# -- the format's checks ----------------------------------------------------------------------------


def filled(key: str) -> dict[str, Any]:
    """A step of `key` with a placeholder for each setting it must have."""
    return {"task": key, **dict.fromkeys(required_settings(SPECS[key]), "x")}


PAIRS = [(first, second) for first in step_tasks(SPECS) for second in step_tasks(SPECS)]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}>{b}" for a, b in PAIRS])
def test_every_pair_of_tasks_is_type_checked(first: str, second: str) -> None:
    start = SPECS[first].takes[0]
    assert start in INPUT_KINDS  # every step task can start a pipeline
    text = spec_text(filled(first), filled(second), input=str(start))
    needs, gives = SPECS[second].takes[0], SPECS[first].gives
    if needs == gives:
        pipeline = parse(text, SPECS)
        assert [step.task for step in pipeline.steps] == [first, second]
    else:
        message = refused(text, "needs")
        assert message.startswith(f"Step 2 ({second}) needs {kind_phrase(needs)}, step 1 gives {kind_phrase(gives)}")


def test_the_issue_example_is_a_pipeline() -> None:
    example = (
        '{"name": "...", "input": "image", "steps": [{"task": "captioning"}, {"task": "translation", '
        '"target_language": "French"}, {"task": "tts"}]}'
    )
    pipeline = parse(example, SPECS)
    assert pipeline.input == Kind.IMAGE and [s.task for s in pipeline.steps] == ["captioning", "translation", "tts"]
    assert pipeline.steps[1].settings == {"source_language": "English", "target_language": "French"}
    assert parse(pipeline.dumps(), SPECS) == pipeline  # what the tab writes back reads the same


def test_type_mismatch_names_both_steps() -> None:
    message = refused(
        spec_text(
            {"task": "captioning"},
            {"task": "translation", "target_language": "French"},
            {"task": "captioning"},
            input="image",
        ),
        "needs an image",
    )
    assert message.startswith("Step 3 (captioning) needs an image, step 2 gives text")
    assert refused(spec_text({"task": "captioning"}), "needs an image").startswith(
        "Step 1 (captioning) needs an image, the pipeline's input is text"
    )


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("{not json", r"not valid JSON \(line 1, column 2"),
        ("", "Write the pipeline as JSON"),
        ("   \n", "Write the pipeline as JSON"),
        ("x" * 1_000_000, "1,000,000 characters long; the limit is 100,000"),
        ("[1, 2]", "must be a JSON object"),
        (spec_text(), "has no steps"),
        ('{"input": "text"}', "has no steps"),
        (spec_text({"task": "teleport"}), r"Step 1: unknown task `teleport`. Tasks a step can run: chat, "),
        (spec_text({"task": "system"}), "unknown task `system`"),  # no input: not a step
        (spec_text({"task": "pipelines"}), "unknown task `pipelines`"),  # no pipeline inside a pipeline
        (spec_text({"task": "translation"}), r"Step 1 \(translation\) needs the setting `target_language`"),
        (spec_text({"task": "vqa"}, input="image"), r"Step 1 \(vqa\) needs the setting `question`"),
        (spec_text({"task": "tts", "speed": 2}), r"Step 1 \(tts\) has no setting `speed`; its settings are: none"),
        (spec_text({"task": "tts", "model": 42}), "model must be text"),
        (
            spec_text(
                {"task": "speech_translation", "source_language": "English", "target_language": "French", "model": "x"},
                input="audio",
            ),
            "has no model of its own",
        ),
        (spec_text({"task": "tts"}, input="video"), "input must be text, audio or image"),
        (
            spec_text({"task": "tts"}, {"task": "tts", "from": 2}),
            "from step 2, which does not come before it.*no cycles",
        ),
        (spec_text({"task": "tts"}, {"task": "tts", "from": 3}), "from step 3, which does not come before it"),
        (spec_text({"task": "tts", "from": 0}), "numbered from 1"),
        (spec_text({"task": "tts", "from": "elsewhere"}), '`from` must be "input" or the number'),
        (spec_text("tts"), "must be an object naming its task"),
        ('{"steps": [{"task": "tts"}], "extra": 1}', "unknown keys extra"),
        (spec_text(*[{"task": "tts"}] * (MAX_STEPS + 1)), f"has {MAX_STEPS + 1} steps; the limit is {MAX_STEPS}"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_bad_specs_are_refused_with_a_clear_message(text: str, pattern: str) -> None:
    refused(text, pattern)


def test_limits_and_references_that_are_fine() -> None:
    chain = [{"task": "translation", "target_language": "French"}] * MAX_STEPS
    assert len(parse(spec_text(*chain), SPECS).steps) == MAX_STEPS
    # step 3 reads the pipeline's input again, step 4 reads step 1: references to earlier outputs are fine
    pipeline = parse(
        spec_text(
            {"task": "tts"},
            {"task": "asr", "from": 1},
            {"task": "summarization", "from": "input"},
            {"task": "asr", "from": 1},
        ),
        SPECS,
    )
    assert [step.source for step in pipeline.steps] == [0, 1, 0, 1]
    # the input defaults to what the first step takes
    assert check({"steps": [{"task": "captioning"}]}, SPECS).input == Kind.IMAGE


def test_every_shipped_pipeline_reads_and_the_tabs_pipelines_are_there() -> None:
    examples = store.example_files()
    assert {
        "image-caption-translate-speak",
        "speech-transcribe-summarize",
        "voice-assistant",
        "document-summarize-translate",
        "image-narrate-translate-speak",
        "image-narration",
        "speech-translation",
    } <= set(examples)
    tasks = {name: [step.task for step in read_file(path, SPECS).steps] for name, path in examples.items()}
    assert tasks["image-narration"] == ["narration", "tts"]
    assert tasks["speech-translation"] == ["asr", "translation", "tts"]
    assert examples["speech-translation"].suffix == ".yaml"  # YAML files read too


# -- through the API, on the tiny models ----------------------------------------------------------------


def send(value: Any) -> Any:
    return handle_file(str(ASSETS / value)) if isinstance(value, str) and value.endswith((".png", ".wav")) else value


def run_api(client: Any, text_spec: str, **inputs: Any) -> tuple[Any, ...]:
    sent = {"text": "", "audio": None, "image": None, **{k: send(v) for k, v in inputs.items()}}
    return client.predict(spec=text_spec, **sent, api_name="/run_pipeline")


@pytest.mark.parametrize("name", sorted(store.example_files()))
def test_each_shipped_pipeline_runs_through_the_api(client, name: str) -> None:
    pipeline = read_file(store.example_files()[name], SPECS)
    text, audio, image, steps = run_api(client, pipeline.dumps(), **INPUTS[pipeline.input])
    rows = steps["data"]
    assert steps["headers"] == ["step", "task", "model", "seconds", "output"]
    assert [row[1] for row in rows] == [step.task for step in pipeline.steps]
    assert [row[0] for row in rows] == list(range(1, len(pipeline.steps) + 1))
    assert all(float(row[3]) >= 0 and row[2] for row in rows)  # every step names its model
    last = SPECS[pipeline.steps[-1].task].gives
    if last == Kind.AUDIO:
        assert audio and Path(audio).is_file() and Path(audio).stat().st_size > 44
    if last == Kind.TEXT:
        assert isinstance(text, str) and rows[-1][4] == " ".join(text.split())[: len(rows[-1][4])].rstrip("…")
    if pipeline.steps[0].task == "narration":
        assert image and Path(image).is_file()  # narration's boxed picture is the final image


def test_a_step_failing_mid_run_keeps_the_earlier_outputs(client) -> None:
    failing = spec_text(
        {"task": "translation", "target_language": "French"},
        {"task": "summarization", "min_tokens": 0, "max_tokens": 8},
        {"task": "tts", "model": "nobody/no-such-model-here"},
    )
    job = client.submit(spec=failing, text=TEXT, audio=None, image=None, api_name="/run_pipeline")
    with pytest.raises(AppError) as info:
        job.result()
    message = str(info.value)
    assert message.startswith("Step 3 (tts) failed:") and "not in the local Hugging Face cache" in message
    assert "Finished before it: step 1 (translation):" in message and "step 2 (summarization)" in message
    streamed = [output for output in job.outputs() if output]
    assert [len(output[3]["data"]) for output in streamed] == [1, 2, 2]  # after each step, then on the failure
    assert streamed[-1][0]  # the text so far is still shown


def test_the_input_a_pipeline_starts_from_must_be_given(client) -> None:
    with pytest.raises(AppError, match="This pipeline starts from image: upload an image"):
        run_api(client, spec_text({"task": "captioning"}, input="image"), text="hello")


# -- saving, loading and the builder ---------------------------------------------------------------


def test_save_and_load_under_the_data_folder(tmp_path: Path) -> None:
    from apps.core.settings import Settings

    settings = Settings(data_dir=tmp_path)
    pipeline = store.save(settings, "my-voice", spec_text({"task": "tts"}), SPECS)
    assert json.loads((tmp_path / "pipelines" / "my-voice.json").read_text())["name"] == "my-voice"
    assert store.load(settings, "my-voice", SPECS) == pipeline
    assert "my-voice" in store.choices(settings) and "example: voice-assistant" in store.choices(settings)
    assert store.load(settings, "example: image-narration", SPECS).steps[0].task == "narration"
    with pytest.raises(InputError, match="cannot be a pipeline name"):
        store.save(settings, "../escape", spec_text({"task": "tts"}), SPECS)
    with pytest.raises(InputError, match="needs the setting"):
        store.save(settings, "broken", spec_text({"task": "translation"}), SPECS)
    with pytest.raises(InputError, match="no saved pipeline"):
        store.load(settings, "nothing-here", SPECS)
    assert list((tmp_path / "pipelines").iterdir()) == [tmp_path / "pipelines" / "my-voice.json"]


def test_the_builder_offers_only_steps_that_fit_and_says_why_not() -> None:
    spec = builder.set_input("", "image")
    choices, note = builder.options(spec, SPECS)
    keys = {key for _, key in choices}
    assert {"captioning", "narration", "vqa"} <= keys and "tts" not in keys
    assert "**Text to speech**: Text to speech needs text, not an image" in note
    spec = builder.add_step(spec, "captioning", "", "", SPECS)
    with pytest.raises(InputError, match=r"Step 2 \(captioning\) needs an image, step 1 gives text"):
        builder.add_step(spec, "captioning", "", "", SPECS)
    with pytest.raises(InputError, match="needs the setting `target_language`"):
        builder.add_step(spec, "translation", "", "", SPECS)
    with pytest.raises(InputError, match="not valid JSON"):
        builder.add_step(spec, "translation", "{oops", "", SPECS)
    spec = builder.add_step(spec, "translation", '{"target_language": "French"}', "", SPECS)
    spec = builder.add_step(spec, "tts", "", "", SPECS)
    assert {key for _, key in builder.options(spec, SPECS)[0]} == {"asr", "audio_classification", "speech_translation"}
    assert builder.describe(spec, SPECS).startswith("✓ 3 step(s): image → captioning → text")
    moved = builder.move_step(spec, 3, -1)
    assert [s["task"] for s in json.loads(moved)["steps"]] == ["captioning", "tts", "translation"]
    assert builder.describe(moved, SPECS).startswith("⚠ Step 3 (translation) needs text, step 2 gives audio")
    removed = builder.remove_step(spec, 1)
    assert builder.describe(removed, SPECS).startswith(
        "⚠ Step 1 (translation) needs text, the pipeline's input is an image"
    )
    with pytest.raises(InputError, match="There is no step 7"):
        builder.remove_step(spec, 7)


# -- in the browser: build one step by step, then run it ---------------------------------------------


@pytest.mark.browser
def test_build_and_run_a_pipeline_in_the_browser(page) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "pipelines")
    spec = panel.locator("#pipeline-spec textarea")
    spec.fill("")  # a new pipeline
    # (an empty spec is a new pipeline starting from text, and the radio follows the spec)
    panel.get_by_role("radio", name="audio", exact=True).check()
    expect(spec).to_have_value(re.compile('"input": "audio"'))
    panel.get_by_role("radio", name="text", exact=True).check()
    expect(spec).to_have_value(re.compile('"input": "text"'))
    why_not = page.locator("#pipeline-why-not")
    expect(why_not).to_contain_text("Image captioning: Image captioning needs an image, not text")

    def add(title: str, settings: str = "") -> None:
        panel.get_by_role("combobox", name="Add a step").click()
        page.get_by_role("option", name=title, exact=True).click()
        panel.get_by_label("Its settings (JSON)").fill(settings)
        panel.get_by_role("button", name="Add step", exact=True).click()

    add("Translation")  # no target language: refused, and the page says why
    expect(page.locator(".toast-body").filter(has_text="needs the setting `target_language`")).to_be_visible()
    add("Translation", '{"target_language": "French"}')
    expect(spec).to_have_value(re.compile('"target_language": "French"'))
    add("Text to speech")
    expect(page.locator("#pipeline-status")).to_contain_text("✓ 2 step(s): text → translation → text → tts → audio")
    expect(why_not).to_contain_text("The next step reads audio")  # after speech only audio tasks are offered
    panel.locator("#pipeline-input-text textarea").fill("Open models can speak.")
    panel.get_by_role("button", name="Run pipeline", exact=True).click()
    steps = page.locator("#pipeline-steps")
    expect(steps).to_contain_text("tts", timeout=60_000)
    expect(steps).to_contain_text("s of audio at")
    expect(page.locator("#pipeline-text textarea")).not_to_have_value("")
    expect(panel.locator(".pending, .generating")).to_have_count(0, timeout=60_000)
    assert page.errors == []


# -- one pipeline served alone ------------------------------------------------------------------------


SERVED_ALONE = "assets/pipelines/document-summarize-translate.json"


@pytest.mark.parametrize(
    ("arguments", "variables"),
    [(["pipeline", SERVED_ALONE], {}), ([], {"SHOWCASE_PIPELINE": SERVED_ALONE})],
    ids=["command", "setting"],  # the setting is what `deploy --pipeline FILE` sets on a Space
)
def test_a_pipeline_served_alone_answers_one_request(tiny_settings, tiny_app, arguments, variables) -> None:
    """`python app.py pipeline FILE` (or `python app.py` with SHOWCASE_PIPELINE=FILE), as a process: it
    starts on a free port, serves only the pipeline, answers, and stops."""
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "SHOWCASE_MEMORY_BUDGET": "none", **variables}
    command = [
        sys.executable,
        "app.py",
        "--offline",
        "--models",
        str(tiny_settings.models_file),
        "--port",
        str(port),
        *arguments,
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:
                client = Client(url, verbose=False, ssl_verify=False)
                break
            except Exception:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the pipeline app did not start"
                time.sleep(0.5)
        api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        assert list(api) == ["/run_pipeline"]
        text, _audio, _image, steps = client.predict(text=TEXT, audio=None, image=None, api_name="/run_pipeline")
        assert [row[1] for row in steps["data"]] == ["summarization", "translation"] and text
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode is not None


def test_the_pipeline_command_refuses_a_file_that_is_not_a_pipeline(tmp_path: Path, capsys) -> None:
    from app import main

    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": [{"task": "teleport"}]}')
    assert main(["--offline", "pipeline", str(bad)]) == 2
    assert "unknown task `teleport`" in capsys.readouterr().out


def test_the_bench_compares_a_pipeline_with_its_calls_by_hand() -> None:
    """One round of bench/pipelines.py on the fastest example: both sides ran and a row was reported."""
    from bench.pipelines import measure, report

    rows = measure(rounds=1, only=["image-narration"])
    assert [row.pipeline for row in rows] == ["image-narration"]
    assert rows[0].pipeline_s > 0 and rows[0].by_hand_s > 0
    assert "| image-narration |" in report(rows)
