"""Browser: long unbroken text — a URL, a hash, a path, a line of code, as a model writes it or a user
pastes it — wraps inside its own component (code blocks scroll inside their own box instead), at a
phone's width and at a desktop's, with the app's own CSS and theme.

The text is set, not sampled: each component of a small app of its own (one tab each, so a failure
names the component) holds a 400-character word (and a long URL), and the box that text is drawn in
must lie inside the component's, and inside the window.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, free_port
from test_browser import DESKTOP, PHONE, browser  # noqa: F401

pytestmark = pytest.mark.browser

WORD = "0123456789abcdef" * 25  # 400 characters without a space: a hash, a token dump, a path
URL = "https://huggingface.co/org/" + "model-name-" * 30 + "final"
CODE = "print('" + WORD + "')"
MARKERS = [WORD[:32], URL[:40]]  # a rendered piece of text holding either is checked
HEADERS = ("downloads", "parameters", "licence", "updated", "precision", "inference", "training", "cached")
WIDE_TABLE = "\n".join(  # more whole words than a phone's width: it scrolls inside its own box
    [
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
        "| " + " | ".join(["1.5 GiB"] * len(HEADERS)) + " |",
    ]
)
CAT = str(ROOT / "assets" / "vision-cat.jpg")


def build_long_word_app():
    """One tab per component that shows text a model or a user wrote, each holding WORD."""
    import gradio as gr
    import pandas as pd

    with gr.Blocks() as demo, gr.Tabs(overflow_behavior="wrap"):
        with gr.Tab("Chat", elem_id="long-chat"):
            gr.Chatbot(  # the Chat tab's settings
                [
                    {"role": "user", "content": WORD},
                    {"role": "assistant", "content": WORD},
                    {"role": "user", "content": f"and this link? {URL}"},
                    {"role": "assistant", "content": f"It is [{URL}]({URL}), or `{WORD}` inline."},
                    {"role": "user", "content": "Code, please."},
                    {"role": "assistant", "content": f"Here:\n\n```python\n{CODE}\n```"},
                ],
                label="Conversation",
                height=440,
                buttons=["copy", "copy_all"],
            )
        with gr.Tab("Markdown", elem_id="long-markdown"):
            gr.Markdown(
                f"{WORD}\n\nA link: {URL}\n\nInline code: `{WORD}`\n\n```\n{CODE}\n```\n\n"
                f"| model | note |\n|---|---|\n| {WORD} | fine |\n\n{WIDE_TABLE}"
            )
        with gr.Tab("Textbox", elem_id="long-textbox"):
            gr.Textbox(WORD, label="Transcript", lines=4)
        with gr.Tab("Table", elem_id="long-table"):
            gr.Dataframe(pd.DataFrame({"passage": [WORD], "score": [0.5]}), interactive=False, wrap=True)
        with gr.Tab("Gallery", elem_id="long-gallery"):
            gr.Gallery([(CAT, WORD), (CAT, "a cat")], label="Best match first", columns=3, height=420)
        with gr.Tab("Preview", elem_id="long-preview"):  # the gallery's enlarged image, with its caption
            gr.Gallery([(CAT, WORD), (CAT, "a cat")], label="Example images", selected_index=0, height=420)
        with gr.Tab("Labels", elem_id="long-labels"):
            gr.Label({WORD: 0.7, "rain": 0.3}, label="Scores")
        with gr.Tab("JSON", elem_id="long-json"):
            gr.JSON({"model": WORD, "path": URL}, label="Status")
    return demo


TABS = ("Chat", "Markdown", "Textbox", "Table", "Gallery", "Preview", "Labels", "JSON")


@pytest.fixture(scope="module")
def long_word_url() -> Iterator[str]:
    from app import launch
    from apps.core.settings import Settings

    demo = build_long_word_app()
    settings = Settings(host="127.0.0.1", port=free_port())
    launch(demo, settings, prevent_thread_lock=True, quiet=True)  # the app's CSS and theme
    yield f"http://127.0.0.1:{settings.port}/"
    demo.close()


@pytest.fixture(scope="module")
def long_word_page(browser, long_word_url: str) -> Iterator[object]:  # noqa: F811
    from test_browser import watch_errors

    page = browser.new_context(viewport=DESKTOP).new_page()
    page.errors = watch_errors(page)
    page.goto(long_word_url)
    page.get_by_role("tab", name=TABS[0], exact=True).wait_for(timeout=30_000)
    yield page
    page.context.close()


# Every visible piece of text holding a marker (and every textarea), checked against the panel's box:
# it fits (it wrapped), or it overflows only inside a code block that scrolls sideways. Returned: what
# failed, and how many pieces were seen (so a test cannot pass by finding none).
MISFITS = """([panelSelector, markers]) => {
    const panel = document.querySelector(panelSelector);
    const panelBox = panel.getBoundingClientRect();  // no wider than the window either
    const box = {left: Math.max(panelBox.left, 0), right: Math.min(panelBox.right, window.innerWidth)};
    const name = node => node.tagName.toLowerCase() + (node.className && typeof node.className === 'string'
        ? '.' + node.className.trim().split(/\\s+/).filter(c => !c.startsWith('svelte-')).join('.') : '');
    const misfits = [];
    let seen = 0;
    const check = (rect, element, what) => {
        seen += 1;
        if (rect.left >= box.left - 1 && rect.right <= box.right + 1) return;
        const scroller = element.closest('pre');
        const scrolls = scroller && ['auto', 'scroll'].includes(getComputedStyle(scroller).overflowX);
        const inside = scroller && scroller.getBoundingClientRect().right <= box.right + 1;
        if (scrolls && inside) return;  // a code block keeps its lines and scrolls in its own box
        misfits.push(`${what} in ${name(element)} spans x ${Math.round(rect.left)}–${Math.round(rect.right)}, ` +
            `the panel (within the window) ${Math.round(box.left)}–${Math.round(box.right)}`);
    };
    const walker = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!markers.some(marker => node.textContent.includes(marker))) continue;
        if (!node.parentElement.checkVisibility({visibilityProperty: true})) continue;  // e.g. a sizing copy
        const range = document.createRange();
        range.selectNodeContents(node);
        const rect = range.getBoundingClientRect();
        check(rect, node.parentElement, 'text');
    }
    for (const field of panel.querySelectorAll('textarea')) {
        if (!markers.some(marker => field.value.includes(marker))) continue;
        seen += 1;
        if (field.scrollWidth > field.clientWidth + 1) misfits.push(`${name(field)} scrolls sideways`);
        check(field.getBoundingClientRect(), field, 'field');
    }
    return {misfits, seen};
}"""


def sideways_scroll(page) -> int:
    """How far the page is wider than the window, in px (0 = no horizontal scroll)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("tab", TABS)
def test_long_word_stays_inside_its_component(long_word_page, tab: str, viewport: dict, output_dir: Path) -> None:
    page = long_word_page
    page.errors.clear()
    page.set_viewport_size(viewport)
    page.get_by_role("tab", name=tab, exact=True).click()
    panel = f"#long-{tab.lower()}"
    page.locator(panel).wait_for(state="visible")
    # Measured once the layout has settled: right after a resize or a tab opens, components re-measure
    # themselves for a moment.
    deadline = time.monotonic() + 5
    while True:
        result = page.evaluate(MISFITS, [panel, MARKERS])
        fine = result["seen"] and not result["misfits"] and sideways_scroll(page) == 0
        if fine or time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    (output_dir / "long-words").mkdir(exist_ok=True)
    page.screenshot(path=str(output_dir / "long-words" / f"{tab.lower()}-{viewport['width']}.png"), full_page=True)
    assert result["seen"], f"{tab}: the long word is not on the page"
    assert result["misfits"] == [], f"{tab} at {viewport['width']} px: {result['misfits']}"
    assert sideways_scroll(page) == 0, f"{tab} at {viewport['width']} px widens the page"
    assert page.errors == []
