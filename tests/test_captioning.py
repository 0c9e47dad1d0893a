"""Image captioning: prefix handling, captions as sentences, the image-text-to-text pipeline, the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from apps.core.errors import InputError, ShowcaseError
from apps.tasks.captioning import DEFAULT_PREFIX, GENERATION, MAX_PREFIX_CHARS, clean_prefix, compose_caption

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
