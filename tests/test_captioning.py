"""Image captioning: prefix handling, captions as sentences, the image-text-to-text pipeline, the task
function's Caption, the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from task_contexts import client_inputs, endpoint_parameters, tiny_context, tiny_manager

from apps import SPECS
from apps.core.errors import InputError, ShowcaseError
from apps.core.settings import Settings
from apps.core.spec import Kind, TaskContext
from apps.tasks.captioning import (
    DEFAULT_PREFIX,
    GENERATION,
    MAX_PREFIX_CHARS,
    Caption,
    caption,
    clean_prefix,
    compose_caption,
)

SUNSET = "assets/mm-sunset.png"


def test_clean_prefix() -> None:
    assert clean_prefix(None) == clean_prefix("") == clean_prefix("   ") == ""
    assert clean_prefix("  a   photograph\tof ") == "a photograph of"
    with pytest.raises(InputError, match="characters long"):
        clean_prefix("x" * (MAX_PREFIX_CHARS + 1))
    with pytest.raises(InputError, match="must be text"):
        clean_prefix(3)  # type: ignore[arg-type]


def test_compose_caption_without_a_prefix_is_just_the_continuation() -> None:
    # The model was prompted with DEFAULT_PREFIX; the caption must not start with it.
    assert compose_caption("", " a dog  running on\na beach ") == "A dog running on a beach"


def test_compose_caption_continues_the_users_words() -> None:
    assert compose_caption("a photograph of", "a dog on a beach") == "A photograph of a dog on a beach"
    assert compose_caption("Two", "cats") == "Two cats"


@pytest.mark.parametrize("prefix", ["", "a photograph of"])
def test_an_empty_continuation_is_an_error_not_an_echo(prefix: str) -> None:
    with pytest.raises(ShowcaseError, match="wrote nothing"):
        compose_caption(prefix, "   ")


def test_pipeline_prompt_is_removed_from_its_output(tiny_models_file: Path) -> None:
    """The library pipeline (requested as image-text-to-text) drops the prompt with return_full_text=False."""
    import tomllib

    from apps.core.manager import LoadRequest
    from apps.core.refs import ModelRef
    from apps.tasks.captioning import load_captioner

    folder = Path(tomllib.loads(tiny_models_file.read_text())["captioning"]["model"])
    pipe = load_captioner(LoadRequest("captioning", ModelRef(str(folder)), folder, "cpu", "float32", False))
    assert pipe.task == "image-text-to-text"
    from PIL import Image

    image = Image.open(SUNSET).convert("RGB")
    full = pipe(images=image, text=DEFAULT_PREFIX, generate_kwargs=GENERATION)[0]["generated_text"]
    new = pipe(images=image, text=DEFAULT_PREFIX, return_full_text=False, generate_kwargs=GENERATION)[0]
    assert full == DEFAULT_PREFIX + new["generated_text"]
    assert new["generated_text"].strip()


# -- the task function ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ctx(tiny_settings: Settings) -> TaskContext:
    return tiny_context("captioning", tiny_settings, tiny_manager(tiny_settings))


def test_caption_returns_a_caption(ctx: TaskContext) -> None:
    plain = caption(ctx, SUNSET)
    assert isinstance(plain, Caption) and plain.text.strip() and plain.text[0].isupper()
    assert not plain.text.lower().startswith(DEFAULT_PREFIX)
    started = caption(ctx, SUNSET, prefix=" a drawing   of ")
    assert started.text.startswith("A drawing of ") and len(started.text) > len("A drawing of ")


def test_caption_bad_prefix_is_an_input_error(ctx: TaskContext) -> None:
    with pytest.raises(InputError, match="characters long"):
        caption(ctx, SUNSET, prefix="x" * (MAX_PREFIX_CHARS + 1))


def test_registry_entry() -> None:
    spec = SPECS["captioning"]
    assert spec.run is caption and spec.takes == (Kind.IMAGE,) and spec.gives == Kind.TEXT
    assert [request.api_name for request in spec.requests] == list(spec.api_names)


def test_reference_request_names_every_parameter_and_runs(client: Client) -> None:
    (request,) = SPECS["captioning"].requests
    assert list(request.inputs) == endpoint_parameters(client, "/caption")
    assert client.predict(**client_inputs(request), api_name="/caption").strip()


def test_the_endpoint_gives_what_the_task_function_does(client: Client, ctx: TaskContext) -> None:
    expected = caption(ctx, "assets/mm-house.png", "a drawing of").text
    assert client.predict(handle_file("assets/mm-house.png"), "a drawing of", "", api_name="/caption") == expected


def test_caption_through_the_api(client: Client) -> None:
    plain = client.predict(handle_file(SUNSET), "", "", api_name="/caption")
    assert plain.strip() and plain[0].isupper()
    assert not plain.lower().startswith(DEFAULT_PREFIX)
    started = client.predict(handle_file(SUNSET), "a drawing   of", "", api_name="/caption")
    assert started.startswith("A drawing of ") and len(started) > len("A drawing of ")


@pytest.mark.parametrize(
    ("image", "prefix", "message"),
    [
        (None, "", "No image"),
        ("corrupt", "", "damaged or truncated|not an image"),
        (SUNSET, "x" * (MAX_PREFIX_CHARS + 5), "characters long"),
    ],
)
def test_caption_bad_input_is_a_clear_error(
    client: Client, tmp_path: Path, image: str | None, prefix: str, message: str
) -> None:
    if image == "corrupt":
        from PIL import Image

        whole = tmp_path / "whole.png"
        Image.new("RGB", (64, 64), "orange").save(whole)
        image = str(tmp_path / "cut.png")
        Path(image).write_bytes(whole.read_bytes()[:70])  # a truncated PNG
    with pytest.raises(Exception, match=message) as info:
        client.predict(handle_file(image) if image else None, prefix, "", api_name="/caption")
    assert "Traceback" not in str(info.value)
    assert client.predict(handle_file(SUNSET), "", "", api_name="/caption").strip()  # still serving
