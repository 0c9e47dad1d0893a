"""Browser: Playwright drives Debian chromium against the tiny-model app. The fixtures and helpers every
browser test shares; the tests are in tests/test_browser_*.py (every tab: tests/test_browser_tabs.py)."""

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
    # A microphone for recording tests: Chromium's fake device (a beeping tone), allowed without asking.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test.sh installs Debian chromium"
    # Assertions wait up to 30 s, not Playwright's 5 s: on a busy 2-core CI machine an example takes more
    # than 5 s to fill a tab's inputs (a wait, not a timing check: each assertion passes as soon as it holds).
    expect.set_options(timeout=30_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


# Text of console errors known to be harmless, each with a comment saying why. None so far: the app
# logs none while every tab is used (a gr.Error reaches the page as a queue event shown in a toast,
# not as a failed request), so any console error is a bug to look at.
HARMLESS_CONSOLE_ERRORS: tuple[str, ...] = ()


def watch_errors(page) -> list[str]:
    """Collect the page's uncaught exceptions and console errors (less known noise) into a list."""
    errors: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" and not any(noise in message.text for noise in HARMLESS_CONSOLE_ERRORS):
            errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    return errors


def load_app(page, url: str) -> None:
    """Open the app and wait until the page (built by JavaScript after load) shows its tabs."""
    page.goto(url)
    page.get_by_role("tab", name=top_titles()[0], exact=True).wait_for(timeout=30_000)


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}  # an iPhone 12-15's CSS pixels
_module_pages: dict[int, object] = {}  # id(browser) → its page


@pytest.fixture
def page(browser, tiny_app) -> Iterator[object]:
    """The app in a browser page, opened once per test module and shared by its tests (loading the
    page takes seconds). Each test gets it at desktop width with no errors recorded yet; tests end
    with `assert page.errors == []`."""
    page = _module_pages.get(id(browser))
    if page is None or page.is_closed():
        page = browser.new_context(viewport=DESKTOP, permissions=["microphone"]).new_page()
        page.errors = watch_errors(page)
        load_app(page, tiny_app[0])
        _module_pages[id(browser)] = page
    page.errors.clear()
    page.set_viewport_size(DESKTOP)
    page.emulate_media(color_scheme="light")
    yield page


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
