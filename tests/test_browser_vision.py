"""Browser: the Vision tabs on the tiny-model app — click on an image to segment it, narrate, estimate depth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import DESKTOP, PHONE, browser, open_tab, page  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.browser


def listed_points(app_page) -> list[tuple[float, float, int]]:
    """The (x, y, label) rows of the points table (label 1 = "+ object", 0 = "− background")."""
    rows = app_page.locator("#segmentation-points tbody tr").all_inner_texts()
    cells = [row.split("\t") for row in rows]
    return [(float(x), float(y), int(adds.strip().startswith("+"))) for _, x, y, adds in cells]


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
    summary = page.locator("#segmentation-summary")
    expect(summary).to_contain_text("is shown", timeout=60_000)
    points = page.locator("#segmentation-points")
    expect(points.locator("tbody tr")).to_have_count(1, timeout=10_000)
    [(x, y, label)] = listed_points(page)
    assert abs(x - 110) <= 3 and abs(y - 190) <= 3 and label == 1  # original pixels, from the click
    expect(page.locator("#segmentation-mask img")).to_be_visible(timeout=30_000)
    # The preview now shows the mask overlay (a new picture), and the candidates with their scores.
    expect(preview).not_to_have_attribute("src", plain or "", timeout=30_000)
    expect(panel.get_by_role("radio", name="Mask 1 ·")).to_be_visible(timeout=10_000)
    expect(summary.locator("tbody tr")).to_have_count(3)  # SAM's three candidates, one marked shown
    expect(summary.get_by_role("cell", name=re.compile(r"^\d \(shown\)$"))).to_have_count(1)

    # A background point (−) updates the mask again and is listed with label 0.
    panel.get_by_label("− background").check()
    drawn = preview.get_attribute("src")
    preview.click(position={"x": box["width"] * 400 / 480, "y": box["height"] * 40 / 320})
    expect(points.locator("tbody tr")).to_have_count(2, timeout=10_000)
    # The preview is drawn again (with the new point) once the mask is back: the summary is then current.
    expect(preview).not_to_have_attribute("src", drawn or "", timeout=60_000)
    expect(summary).to_contain_text("is shown")
    (_, _, first), (x, y, label) = listed_points(page)
    assert (first, label) == (1, 0) and abs(x - 400) <= 3 and abs(y - 40) <= 3
    page.screenshot(path=str(output_dir / "segmentation.png"), full_page=True)
    tables_at_desktop_and_phone_width(page, output_dir)

    panel.get_by_role("button", name="Clear points").click()
    expect(summary).not_to_contain_text("is shown", timeout=10_000)
    expect(points).to_contain_text("none yet")
    assert page.errors == []


TABLES = """() => [...document.querySelectorAll('#segmentation-summary table, #segmentation-points table')]
    .map(table => { const box = table.getBoundingClientRect();
        return {left: box.left, right: box.right, scrolls: table.scrollWidth > table.clientWidth}; })"""


def tables_at_desktop_and_phone_width(app_page, output_dir: Path) -> None:
    """Screenshots of the summary and points tables at 1280 and 390 px (test-output/tables/); at both
    widths they lie inside the window, need no sideways scroll and leave the page its width."""
    (output_dir / "tables").mkdir(exist_ok=True)
    for viewport in (DESKTOP, PHONE):
        app_page.set_viewport_size(viewport)
        app_page.wait_for_timeout(300)  # the layout settles after a resize
        width = viewport["width"]
        for name in ("summary", "points"):
            table = app_page.locator(f"#segmentation-{name}")
            table.scroll_into_view_if_needed()
            table.screenshot(path=str(output_dir / "tables" / f"segmentation-{name}-{width}.png"))
        tables = app_page.evaluate(TABLES)
        assert len(tables) == 2 and all(t["left"] >= 0 and t["right"] <= width and not t["scrolls"] for t in tables)
        assert app_page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") == 0
    app_page.set_viewport_size(DESKTOP)


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
