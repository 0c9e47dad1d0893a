"""Browser: the Vision tabs on the tiny-model app — click on an image to segment it, narrate, estimate depth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import browser, open_tab, page  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.browser


def listed_points(text: str) -> list[tuple[float, float, int]]:
    """The [x, y, label] triples shown by the points JSON viewer."""
    triples = re.findall(r"\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?\d+)\s*\]", text)
    return [(float(x), float(y), int(label)) for x, y, label in triples]


def upload(panel, name: str) -> None:
    panel.locator("input[type=file]").first.set_input_files(str(ROOT / "assets" / name))


def test_click_on_the_image_shows_a_mask(page, output_dir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "segmentation")
    upload(panel, "vision-shapes.png")
    preview = page.locator("#segmentation-overlay img")
    expect(preview).to_be_visible(timeout=30_000)
    box = preview.bounding_box()
    assert box is not None
    plain = preview.get_attribute("src")
    # The red ball is at about (110, 190) of 480×320: click there, in the displayed image's frame.
    preview.click(position={"x": box["width"] * 110 / 480, "y": box["height"] * 190 / 320})
    scores = page.locator("#segmentation-scores")
    expect(scores).to_contain_text("scores", timeout=60_000)
    points = page.locator("#segmentation-points")
    expect(points).to_contain_text("1", timeout=10_000)
    [(x, y, label)] = listed_points(points.inner_text())
    assert abs(x - 110) <= 3 and abs(y - 190) <= 3 and label == 1  # original pixels, from the click
    expect(page.locator("#segmentation-mask img")).to_be_visible(timeout=30_000)
    # The preview now shows the mask overlay (a new picture), and the candidates with their scores.
    expect(preview).not_to_have_attribute("src", plain or "", timeout=30_000)
    expect(panel.get_by_role("radio", name="Mask 1 ·")).to_be_visible(timeout=10_000)

    # A background point (−) updates the mask again and is listed with label 0.
    panel.get_by_label("− background").check()
    before = scores.inner_text()
    preview.click(position={"x": box["width"] * 400 / 480, "y": box["height"] * 40 / 320})
    page.wait_for_function(
        "([sel, old]) => document.querySelector(sel).innerText !== old",
        arg=["#segmentation-scores", before],
        timeout=60_000,
    )
    (_, _, first), (x, y, label) = listed_points(points.inner_text())
    assert (first, label) == (1, 0) and abs(x - 400) <= 3 and abs(y - 40) <= 3
    page.screenshot(path=str(output_dir / "segmentation.png"), full_page=True)

    panel.get_by_role("button", name="Clear points").click()
    expect(scores).not_to_contain_text("scores", timeout=10_000)
    assert page.errors == []


def test_narrate_and_depth_by_clicking(page, output_dir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "narration")
    upload(panel, "vision-cat.jpg")
    panel.get_by_label("Speak the sentence (text-to-speech tab's model)").uncheck()
    threshold = panel.get_by_label("number input for Score threshold")
    threshold.fill("0.05")
    threshold.press("Enter")
    panel.get_by_role("button", name="Narrate").click()
    sentence = page.locator("#narration-sentence textarea")
    # Random weights score every box about 0.14: above 0.05, so the tiny detector names objects.
    expect(sentence).to_have_value(re.compile(r"^In this image there (is|are) "), timeout=60_000)
    expect(panel.get_by_role("gridcell", name=re.compile(r"^0\.1\d+$")).first).to_be_visible(timeout=10_000)
    expect(panel.locator("img[alt]").or_(panel.locator("img")).last).to_be_visible()
    page.screenshot(path=str(output_dir / "narration.png"), full_page=True)

    panel = open_tab(page, "depth")
    upload(panel, "vision-street.png")
    panel.get_by_role("button", name="Estimate depth").click()
    expect(page.locator("#depth-image img")).to_be_visible(timeout=60_000)
    expect(panel.get_by_role("cell", name="vision-street-depth16.png")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(output_dir / "depth.png"), full_page=True)
    assert page.errors == []
