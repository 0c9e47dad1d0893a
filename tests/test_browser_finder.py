"""Browser: the Model finder tab on the tiny-model app (offline, so it lists the local cache), then
estimate a listed model and use it in the tab that runs its task."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import browser, open_tab, page  # noqa: F401
from test_finder import SIMILARITY_TAG, hf_cache, restore_similarity  # noqa: F401

pytestmark = pytest.mark.browser


def test_finder_lists_the_cache_and_uses_a_model(page, output_dir: Path, hf_cache, restore_similarity) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "finder")
    panel.get_by_label("Task").click()
    page.get_by_role("option", name=re.compile(f"^{SIMILARITY_TAG} ")).click()
    panel.get_by_role("textbox", name="Search").fill("mini")
    panel.get_by_role("button", name="Find models").click()
    summary = page.locator("#finder-summary")
    expect(summary).to_contain_text("The Hub is not available", timeout=30_000)
    results = page.locator("#finder-results")
    expect(results).to_contain_text("org/mini-sim")

    # Clicking a row picks the model for "use in tab" and for the estimate.
    results.get_by_role("gridcell", name=SIMILARITY_TAG, exact=True).first.click()  # its task cell (not the link)
    expect(page.locator("#finder-estimate-model textarea, #finder-estimate-model input").first).to_have_value(
        "org/mini-sim", timeout=10_000
    )
    panel.get_by_role("button", name="Estimate", exact=True).click()
    expect(page.locator("#finder-estimate")).to_contain_text("200 parameters", timeout=30_000)

    # Its card says sentence-similarity, so the finder offers the Sentence similarity tab.
    use = panel.get_by_role("button", name="Use in Sentence similarity")
    expect(use).to_be_visible(timeout=10_000)
    use.click()
    expect(page.locator("#finder-used")).to_contain_text("now uses org/mini-sim", timeout=10_000)
    assert str(restore_similarity.selection.get("similarity")) == "org/mini-sim"
    page.screenshot(path=str(output_dir / "finder.png"), full_page=True)
    assert page.errors == []
