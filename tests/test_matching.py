"""Image–text matching: text parsing, the ITM pipeline against BLIP's own forward pass, the API."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from apps.core.errors import InputError
from apps.core.manager import LoadRequest
from apps.core.refs import ModelRef
from apps.tasks.matching import MAX_TEXTS, load_matcher, parse_texts, results_frame, summary_markdown

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
    results = [{"text": "a", "score": 0.2}, {"text": "b", "score": 0.91}]
    frame = results_frame(results)
    assert frame.values.tolist() == [["a", 0.2, "no"], ["b", 0.91, "yes"]]
    assert "«b»" in summary_markdown(results)


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
