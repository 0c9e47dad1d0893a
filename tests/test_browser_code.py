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


def test_a_prompt_template_fills_the_chat(page) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "chat")
    section = page.locator("#chat-templates")
    section.get_by_text("Prompt templates").first.click()
    form = page.locator("#chat-template-form")
    expect(form).to_contain_text("sentences", timeout=30_000)  # the first template's variables, in the form
    cells = form.get_by_role("gridcell")  # variable, value; variable, value
    for index, value in ((1, "two"), (3, "Owls hunt at night. They fly without a sound.")):
        cell = cells.nth(index)
        cell.dblclick()  # edit the cell: its text box opens inside it
        # Keys typed before the box has the focus go to the grid (a busy machine showed the first letter
        # lost): fill the box itself once it is there, then commit with Enter and see the cell hold it.
        editor = cell.locator("textarea")
        expect(editor).to_be_focused(timeout=30_000)
        editor.fill(value)
        editor.press("Enter")
        expect(cell).to_contain_text(value, timeout=30_000)
    expect(form).to_contain_text("Owls hunt at night.")
    section.get_by_role("button", name="Use in a new chat").click()
    expect(panel.locator("#chat-message textarea")).to_have_value(
        "Summarize the following text in two sentences:\n\nOwls hunt at night. They fly without a sound.",
        timeout=30_000,
    )
    section.get_by_role("button", name="Show the exact prompt").click()
    expect(page.locator("#chat-template-status")).to_contain_text("tokens", timeout=60_000)
    expect(section).to_contain_text("Owls hunt at night.")
    assert page.errors == []
