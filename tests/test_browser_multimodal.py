"""Browser: the Multimodal tabs on the tiny-model app — pick an example, submit, see the result."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import browser, open_tab, page  # noqa: F401

from apps import SPECS

pytestmark = pytest.mark.browser


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
