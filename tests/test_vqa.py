"""Visual question answering: question validation, the pipeline (BLIP and ViLT), the task function's Answer, the API."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image
from task_contexts import client_inputs, endpoint_parameters, tiny_context, tiny_manager

from apps import SPECS
from apps.core.errors import InputError
from apps.core.manager import LoadRequest, ModelManager
from apps.core.refs import ModelRef
from apps.core.settings import ModelSelection, Settings
from apps.core.spec import Kind, TaskContext
from apps.tasks.vqa import EMPTY_ANSWER, MAX_QUESTION_CHARS, Answer, answer, clean_question, load_vqa_pipeline

SIGN = "assets/mm-stop-sign.png"


def load(folder: Path) -> object:
    return load_vqa_pipeline(LoadRequest("vqa", ModelRef(str(folder)), folder, "cpu", "float32", False))


def test_clean_question() -> None:
    assert clean_question("  what   colour\nis it? ") == "what colour is it?"
    assert len(clean_question("q" * MAX_QUESTION_CHARS)) == MAX_QUESTION_CHARS
    for bad, message in [("", "Type a question"), ("  \n\t", "Type a question"), (None, "Type a question")]:
        with pytest.raises(InputError, match=message):
            clean_question(bad)
    with pytest.raises(InputError, match="characters long"):
        clean_question("q" * (MAX_QUESTION_CHARS + 1))
    with pytest.raises(InputError, match="must be text"):
        clean_question(42)  # type: ignore[arg-type]


def test_blip_pipeline_answers_as_the_model_generates(tiny_models_file: Path) -> None:
    folder = Path(tomllib.loads(tiny_models_file.read_text())["vqa"]["model"])
    pipe = load(folder)
    image = Image.open(SIGN).convert("RGB")
    (result,) = pipe({"image": image, "question": "what does the sign say?"}, max_new_tokens=5)
    inputs = pipe.processor(images=image, text="what does the sign say?", return_tensors="pt")
    expected = pipe.processor.batch_decode(pipe.model.generate(**inputs, max_new_tokens=5), skip_special_tokens=True)
    assert result == {"answer": " ".join(expected[0].split()), "score": None}
    assert result["answer"]


VILT_ANSWERS = {0: "yes", 1: "no", 2: "stop", 3: "red"}


@pytest.fixture(scope="module")
def vilt_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ViLT (the curated alternative): it classifies over fixed answers, the pipeline's other branch."""
    from tiny import wordpiece_vocab
    from transformers import BertTokenizer, ViltConfig, ViltForQuestionAnswering, ViltImageProcessorPil, ViltProcessor

    folder = tmp_path_factory.mktemp("vilt")
    vocab = wordpiece_vocab()
    answers = VILT_ANSWERS
    config = ViltConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        max_position_embeddings=40,
        num_images=1,
        id2label=answers,
        label2id={v: k for k, v in answers.items()},
    )
    ViltForQuestionAnswering(config).save_pretrained(folder)
    image_processor = ViltImageProcessorPil(size={"shortest_edge": 32}, size_divisor=32)
    ViltProcessor(image_processor=image_processor, tokenizer=BertTokenizer(vocab=vocab)).save_pretrained(folder)
    return folder


def test_vilt_classifier_answers_from_its_label_list(vilt_folder: Path) -> None:
    answers = VILT_ANSWERS
    pipe = load(vilt_folder)
    image = Image.open(SIGN).convert("RGB")
    results = pipe({"image": image, "question": "what does the sign say?"}, top_k=3)
    assert len(results) == 3
    assert all(row["answer"] in answers.values() and 0.0 <= row["score"] <= 1.0 for row in results)
    assert [row["score"] for row in results] == sorted((row["score"] for row in results), reverse=True)
    inputs = pipe.processor(images=image, text="what does the sign say?", return_tensors="pt")
    with torch.no_grad():
        best = int(pipe.model(**inputs).logits[0].argmax())
    assert results[0]["answer"] == answers[best]


# -- the task function ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tiny_settings: Settings) -> TaskContext:
    return tiny_context("vqa", tiny_settings, tiny_manager(tiny_settings))


def test_answer_returns_the_generated_answer(ctx: TaskContext) -> None:
    result = answer(ctx, SIGN, "  What does   the sign say? ")
    assert isinstance(result, Answer) and result.text and result.text == result.text.strip()
    assert result.score is None  # BLIP generates its answer: no confidence


def test_answer_of_a_classifier_has_its_confidence(tiny_settings: Settings, vilt_folder: Path) -> None:
    manager = ModelManager(
        loaders={"vqa": load_vqa_pipeline},
        selection=ModelSelection({"vqa": ModelRef(str(vilt_folder))}),
        budget=None,
        device="cpu",
        offline=True,
    )
    result = answer(TaskContext(SPECS["vqa"], tiny_settings, manager, SPECS), SIGN, "What does the sign say?")
    assert result.text in VILT_ANSWERS.values() and 0.0 <= result.score <= 1.0


def test_answer_bad_question_is_an_input_error(ctx: TaskContext) -> None:
    with pytest.raises(InputError, match="Type a question"):
        answer(ctx, SIGN, "  ")


def test_registry_entry() -> None:
    spec = SPECS["vqa"]
    assert spec.run is answer and spec.takes == (Kind.IMAGE, Kind.TEXT) and spec.gives == Kind.TEXT
    assert [request.api_name for request in spec.requests] == list(spec.api_names)


def test_reference_request_names_every_parameter_and_runs(client: Client) -> None:
    (request,) = SPECS["vqa"].requests
    assert list(request.inputs) == endpoint_parameters(client, "/answer")
    assert client.predict(**client_inputs(request), api_name="/answer").strip()


def test_the_endpoint_gives_what_the_task_function_does(client: Client, ctx: TaskContext) -> None:
    expected = answer(ctx, "assets/mm-house.png", "What colour is the door?").text or EMPTY_ANSWER
    assert client.predict(handle_file("assets/mm-house.png"), "What colour is the door?", "", api_name="/answer") == (
        expected
    )


def test_answer_endpoint_keeps_its_name(client: Client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    taken = sorted(name for name in endpoints if name.startswith("/answer"))
    assert "/answer" in endpoints, (
        f"VQA's endpoint is {taken}, not /answer: an event registered earlier (even a private one, named "
        "after its function) holds the api_name 'answer' and Gradio renamed ours; give that event its own api_name."
    )


def test_answer_through_the_api(client: Client) -> None:
    answer = client.predict(handle_file(SIGN), "What does the sign say?", "", api_name="/answer")
    assert isinstance(answer, str) and answer.strip()


@pytest.mark.parametrize(
    ("image", "question", "message"),
    [
        (None, "What is this?", "No image"),
        (SIGN, "", "Type a question"),
        (SIGN, "   ", "Type a question"),
        (SIGN, "why? " * 200, "characters long"),
        ("corrupt", "What is this?", "not an image"),
    ],
)
def test_answer_bad_input_is_a_clear_error(
    client: Client, tmp_path: Path, image: str | None, question: str, message: str
) -> None:
    if image == "corrupt":
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"GIF89a but not really")
        image = str(broken)
    with pytest.raises(Exception, match=message) as info:
        client.predict(handle_file(image) if image else None, question, "", api_name="/answer")
    assert "Traceback" not in str(info.value)
    assert client.predict(handle_file(SIGN), "Is it red?", "", api_name="/answer").strip()  # still serving
