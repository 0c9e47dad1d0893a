"""Browser: the Model finder tab on the tiny-model app (offline, so it lists the local cache), then
estimate a listed model and use it in the tab that runs its task."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_browser import DESKTOP, PHONE, browser, open_tab, page  # noqa: F401
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


CACHED = {  # model id → (task, licence), as their cards say
    "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": (SIMILARITY_TAG, "apache-2.0"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": ("text-generation", "apache-2.0"),
    "openai/whisper-tiny.en": ("automatic-speech-recognition", "mit"),
    "org/mini-sim": (SIMILARITY_TAG, "cc-by-sa-4.0"),
}

# Per header cell: its text, how many lines it takes, and how many words it has (a header never takes
# more lines than words: "downloads" on one line, not one letter a line).
HEADER_LINES = """() => [...document.querySelectorAll('#finder-results .header-cell')].map(cell => {
    const range = document.createRange();
    range.selectNodeContents(cell.querySelector('.header-text, span') || cell);
    const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
    const text = cell.innerText.trim();
    return [text, tops.size, text.split(/\\s+/).length];
})"""

TABLE_BOX = """() => {
    const table = document.querySelector('#finder-results');
    const viewport = table.querySelector('.virtual-table-viewport');
    const box = table.getBoundingClientRect();
    return {left: box.left, right: box.right, window: window.innerWidth,
            page: document.documentElement.scrollWidth - window.innerWidth,
            scrolls: viewport.scrollWidth - viewport.clientWidth};
}"""


@pytest.fixture
def many_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Hugging Face cache holding a few models, some with long ids."""
    import huggingface_hub.constants as hub_constants
    from fake_hub import cache_model, tensors_file

    cache = tmp_path / "hub"
    for number, (model, (task, licence)) in enumerate(CACHED.items(), start=1):
        card = f"---\npipeline_tag: {task}\nlicense: {licence}\n---\n# {model}\n"
        cache_model(cache, model, {"model.safetensors": tensors_file({"w": ("F32", [10 * number, 20])})}, card)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_results_table_reads_well_on_a_desktop_and_a_phone(page, output_dir: Path, many_cached) -> None:  # noqa: F811
    """Headers in whole words, every column readable, and the table scrolls sideways inside its own box
    (never the page); screenshots of the table at both widths in test-output/tables/."""
    from playwright.sync_api import expect

    panel = open_tab(page, "finder")
    panel.get_by_label("Task").click()
    page.get_by_role("option", name="any task", exact=True).click()
    panel.get_by_role("textbox", name="Search").fill("")
    panel.get_by_role("button", name="Find models").click()
    results = page.locator("#finder-results")
    expect(results).to_contain_text("paraphrase-multilingual", timeout=30_000)
    expect(results.get_by_role("row")).to_have_count(len(CACHED) + 1)  # the header and one row a model
    (output_dir / "tables").mkdir(exist_ok=True)
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(500)  # the table re-measures its columns after a resize
        results.scroll_into_view_if_needed()
        width = viewport["width"]
        results.screenshot(path=str(output_dir / "tables" / f"finder-{width}.png"))
        broken = [(text, lines) for text, lines, words in page.evaluate(HEADER_LINES) if lines > words]
        assert broken == [], f"headers broken inside a word at {width} px: {broken}"
        box = page.evaluate(TABLE_BOX)
        assert box["page"] == 0 and box["right"] <= box["window"], f"the table widens the page at {width} px: {box}"
        if viewport == PHONE:
            assert box["scrolls"] > 0, f"at {width} px the table should scroll inside its box: {box}"
    assert page.errors == []
