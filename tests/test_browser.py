"""Browser: Playwright drives Debian chromium against the tiny-model app."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import groups
from apps import SPECS

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("SHOWCASE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test.sh installs Debian chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, tiny_app) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(tiny_app[0])
    # The page is built by JavaScript after load: wait until the tabs exist.
    page.get_by_role("tab", name=top_titles()[0], exact=True).wait_for(timeout=30_000)
    page.errors = errors
    yield page
    context.close()


def top_titles() -> list[str]:
    """The top-level tab titles: a group's name, or the task's title for a group of one."""
    return [name if len(specs) > 1 else specs[0].title for name, specs in groups().items()]


def open_tab(page, key: str) -> object:
    """Click the task's group tab (if any) and its own tab; returns the tab's panel."""
    spec = SPECS[key]
    group = groups()[spec.group or spec.title]
    if len(group) > 1:
        page.get_by_role("tab", name=spec.group, exact=True).click()
    page.get_by_role("tab", name=spec.title, exact=True).click()
    panel = page.locator(f"#tab-{key}")  # elem_id of the tab panel, set in app.py
    panel.wait_for(state="visible")
    return panel


def test_every_tab_is_reachable(page) -> None:
    from playwright.sync_api import expect

    for title in top_titles():
        expect(page.get_by_role("tab", name=title, exact=True)).to_be_visible()
    for spec in SPECS.values():
        expect(open_tab(page, spec.key)).to_be_visible()
    assert page.errors == []


def test_similarity_by_clicking(page, output_dir: Path) -> None:
    panel = open_tab(page, "similarity")
    panel.get_by_label("Sentences (one per line)").fill("A cat sits.\nA kitten sits.\nStocks fell.")
    panel.get_by_role("button", name="Compare").click()
    result = page.locator("#similarity-pair")
    result.get_by_text("Most similar pair").wait_for(timeout=60_000)
    assert "sentence 1" in result.inner_text()
    page.screenshot(path=str(output_dir / "similarity.png"), full_page=True)
    assert page.errors == []
