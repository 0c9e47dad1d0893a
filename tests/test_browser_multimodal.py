"""Browser: the Multimodal tabs on the tiny-model app — pick an example, submit, see the result."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import browser, open_tab, page  # noqa: F401

from apps import SPECS

pytestmark = pytest.mark.browser


def test_zero_shot_classification_from_an_example(page, output_dir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "image_classification")
    # The first example row fills the image, the labels and the template.
    panel.locator(".gallery-item, tr.tr-body, button.example").filter(
        has_text="apple, banana, car, house"
    ).first.click()
    expect(panel.get_by_label("Labels (comma-separated)")).to_have_value("apple, banana, car, house", timeout=10_000)
    expect(panel.locator("img").first).to_be_visible(timeout=10_000)
    panel.get_by_role("button", name="Classify").click()
    result = page.locator("#image-classification-result")
    for label in ("apple", "banana", "car", "house"):
        expect(result).to_contain_text(label, timeout=60_000)
    expect(result).to_contain_text("%")
    page.screenshot(path=str(output_dir / "image_classification.png"), full_page=True)
    assert page.errors == []


def test_image_search_ranks_the_example_gallery(page, output_dir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "image_search")
    panel.get_by_label("Search for").fill("a sunset over the sea")
    panel.get_by_role("button", name="Search").click()
    results = page.locator("#image-search-results")
    expect(results.locator("img")).to_have_count(len(SPECS["image_search"].examples), timeout=60_000)
    expect(results).to_contain_text("1. mm-")
    page.screenshot(path=str(output_dir / "image_search.png"), full_page=True)
    # A search with the examples left out and nothing uploaded is refused with a readable message.
    panel.get_by_label("Include the example images").uncheck()
    panel.get_by_role("button", name="Search").click()
    expect(page.get_by_text("The gallery is empty").first).to_be_visible(timeout=30_000)
    assert page.errors == []
