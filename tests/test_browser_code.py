"""Browser: "Use it in code" under a tab shows the Python of the run just made, and its notebook."""

from __future__ import annotations

import pytest
from test_browser import browser, open_tab, page  # noqa: F401

pytestmark = pytest.mark.browser


def test_code_of_the_run_just_made(page) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "similarity")
    box = panel.get_by_label("Sentences")
    box.fill("The browser wrote this.\nAnd this line too.")
    panel.get_by_role("button", name="Compare", exact=True).click()
    expect(page.locator("#similarity-pair")).to_contain_text("Most similar pair", timeout=60_000)
    code = page.locator("#code-similarity")
    code.get_by_text("Use it in code").click()  # opening the section shows the code
    expect(code).to_contain_text("Settings of your last run", timeout=30_000)
    expect(code).to_contain_text('pipeline("feature-extraction"')
    expect(code).to_contain_text("The browser wrote this.")
    expect(code).to_contain_text("api_name='/similarity'")
    expect(code.locator("a[href$='similarity.ipynb']")).to_have_count(1, timeout=30_000)  # the download
    assert page.errors == []
