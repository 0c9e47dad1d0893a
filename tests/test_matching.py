"""Image–text matching: text parsing, the ITM pipeline against BLIP's own forward pass, the task function's
Matches, the API."""

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
from apps.core.manager import LoadRequest
from apps.core.refs import ModelRef
from apps.core.settings import Settings
from apps.core.spec import Kind, TaskContext
from apps.tasks.matching import (
    MATCH_COLUMNS,
    MAX_TEXTS,
    Match,
    Matches,
    load_matcher,
    match,
    parse_texts,
    results_frame,
    summary_markdown,
)

APPLE = "assets/mm-apple.png"


def test_parse_texts_one_per_line() -> None:
    assert parse_texts("  a red   apple \n\n a car\n") == ["a red apple", "a car"]
    assert parse_texts("just one") == ["just one"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one description"),
        ("\n  \n", "at least one description"),
        (None, "at least one description"),
        ("\n".join(f"text {n}" for n in range(MAX_TEXTS + 1)), "too many"),
        ("fine\n" + "y" * 301, "Description 2 is 301 characters"),
        (7, "must be text"),
    ],
)
def test_parse_texts_rejects_bad_input(text: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_texts(text)  # type: ignore[arg-type]


def test_results_keep_input_order_with_a_verdict() -> None:
    results = Matches([Match("a", 0.2), Match("b", 0.91), Match("c", 0.5), Match("d", 0.91)])
    frame = results_frame(results)
    assert list(frame.columns) == MATCH_COLUMNS
    assert frame.values.tolist() == [["a", 0.2, "no"], ["b", 0.91, "yes"], ["c", 0.5, "yes"], ["d", 0.91, "yes"]]
    assert results.best == Match("b", 0.91)  # the first of equals
    assert summary_markdown(results) == "**Best match:** «b» (probability 0.910)"


def test_pipeline_matches_blips_own_forward_pass(tiny_models_file: Path) -> None:
    folder = Path(tomllib.loads(tiny_models_file.read_text())["matching"]["model"])
    pipe = load_matcher(LoadRequest("matching", ModelRef(str(folder)), folder, "cpu", "float32", False))
    image = Image.open(APPLE).convert("RGB")
    texts = ["a red apple", "a long sentence about a green car driving on a road"]
    ours = [row["score"] for row in pipe({"image": image, "texts": texts})]
    # The reference: the model's forward pass with the image repeated per text.
    inputs = pipe.processor(images=[image] * len(texts), text=texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = pipe.model(**inputs).itm_score.softmax(dim=-1)[:, 1].tolist()
    assert ours == pytest.approx(expected, abs=1e-5)
    assert all(0.0 <= score <= 1.0 for score in ours)


# -- the task function ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tiny_settings: Settings) -> TaskContext:
    return tiny_context("matching", tiny_settings, tiny_manager(tiny_settings))


def test_match_returns_each_texts_probability_in_order(ctx: TaskContext) -> None:
    result = match(ctx, APPLE, "a red   apple\n\na green car\n")
    assert isinstance(result, Matches) and [m.text for m in result.matches] == ["a red apple", "a green car"]
    assert all(isinstance(m, Match) and 0.0 <= m.probability <= 1.0 for m in result.matches)
    assert all(m.describes == (m.probability >= 0.5) for m in result.matches)
    assert result.best.probability == max(m.probability for m in result.matches)


def test_match_without_texts_is_an_input_error(ctx: TaskContext) -> None:
    with pytest.raises(InputError, match="at least one description"):
        match(ctx, APPLE, "\n  \n")


def test_registry_entry() -> None:
    spec = SPECS["matching"]
    assert spec.run is match and spec.takes == (Kind.IMAGE, Kind.TEXT) and spec.gives == Kind.TABLE
    assert [request.api_name for request in spec.requests] == list(spec.api_names)


def test_reference_request_names_every_parameter_and_runs(client: Client) -> None:
    (request,) = SPECS["matching"].requests
    assert list(request.inputs) == endpoint_parameters(client, "/match")
    table, best = client.predict(**client_inputs(request), api_name="/match")
    assert [row[0] for row in table["data"]] == ["a red apple", "a green car"] and "Best match" in best


def test_the_endpoint_gives_what_the_task_function_does(client: Client, ctx: TaskContext) -> None:
    texts = "a drawing of a fruit\nthe moon at night\na stop sign"
    result = match(ctx, APPLE, texts)
    table, best = client.predict(handle_file(APPLE), texts, "", api_name="/match")
    assert table["data"] == results_frame(result).values.tolist() and best == summary_markdown(result)


def test_match_through_the_api(client: Client) -> None:
    table, best = client.predict(handle_file(APPLE), "a red apple\n\na green car", "", api_name="/match")
    assert table["headers"] == ["text", "probability", "describes the image"]
    assert [row[0] for row in table["data"]] == ["a red apple", "a green car"]
    assert all(0.0 <= row[1] <= 1.0 and row[2] == ("yes" if row[1] >= 0.5 else "no") for row in table["data"])
    top = max(table["data"], key=lambda row: row[1])
    assert best.startswith("**Best match:**") and f"«{top[0]}»" in best


@pytest.mark.parametrize(
    ("image", "texts", "message"),
    [
        (None, "a red apple", "No image"),
        (APPLE, "", "at least one description"),
        (APPLE, "\n".join(["x"] * (MAX_TEXTS + 1)), "too many"),
        ("corrupt", "a red apple", "not an image"),
    ],
)
def test_match_bad_input_is_a_clear_error(
    client: Client, tmp_path: Path, image: str | None, texts: str, message: str
) -> None:
    if image == "corrupt":
        broken = tmp_path / "broken.webp"
        broken.write_bytes(b"RIFF\x00\x00\x00\x00WEBPjunk")
        image = str(broken)
    with pytest.raises(Exception, match=message) as info:
        client.predict(handle_file(image) if image else None, texts, "", api_name="/match")
    assert "Traceback" not in str(info.value)
    table, _ = client.predict(handle_file(APPLE), "an apple", "", api_name="/match")  # still serving
    assert len(table["data"]) == 1
