"""Browser: the Chat tab driven by clicking, in Debian chromium against the tiny-model app."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_browser import browser, open_tab, page  # noqa: F401

from apps.shared.chat_engine import active_generations

pytestmark = pytest.mark.browser


def test_chat_by_clicking(page, output_dir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    panel = open_tab(page, "chat")
    panel.get_by_label("Message").fill("What is the capital of France?")
    panel.get_by_role("button", name="Send").click()
    conversation = page.locator("#chat-conversation")
    conversation.get_by_text("What is the capital of France?").wait_for(timeout=30_000)
    reply = conversation.locator('[data-testid="bot"]').last
    expect(reply).not_to_have_text("", timeout=120_000)  # the first tokens have streamed in
    # The tiny model's 512-token context cannot hold the default 512 new tokens: the tab says so.
    expect(page.locator("#chat-note")).to_contain_text("limited to", timeout=10_000)
    panel.get_by_role("button", name="Stop").click()
    deadline = time.monotonic() + 10
    while active_generations() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert active_generations() == 0  # Stop really ended generation on the server
    # The page has taken the Stop in once the conversation's buttons are enabled again (they are disabled
    # while a reply streams); pieces already on their way may land until then, none after.
    expect(conversation.get_by_role("button", name="Undo")).to_be_enabled(timeout=30_000)
    stopped = reply.inner_text()
    time.sleep(1)
    assert reply.inner_text() == stopped
    page.screenshot(path=str(output_dir / "chat.png"), full_page=True)
    # Undo takes the last exchange back and puts the message in the box again.
    conversation.get_by_role("button", name="Undo").click()
    expect(conversation.get_by_text("What is the capital of France?")).to_have_count(0)
    expect(panel.get_by_label("Message")).to_have_value("What is the capital of France?")
    # Send it again, then retry: a fresh reply replaces the old one.
    panel.get_by_role("button", name="Send").click()
    expect(conversation.locator('[data-testid="bot"]')).to_have_count(1, timeout=30_000)
    expect(conversation.locator('[data-testid="bot"]').last).not_to_have_text("", timeout=60_000)
    panel.get_by_role("button", name="Stop").click()
    conversation.get_by_role("button", name="Retry").click()
    expect(conversation.locator('[data-testid="user"]')).to_have_count(1)
    expect(conversation.locator('[data-testid="bot"]').last).not_to_have_text("", timeout=60_000)
    panel.get_by_role("button", name="Stop").click()
    panel.get_by_role("button", name="New chat").click()
    expect(conversation.get_by_text("What is the capital of France?")).to_have_count(0)
    assert page.errors == []
