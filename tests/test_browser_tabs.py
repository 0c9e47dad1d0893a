"""Browser: every tab of the registry, used as a visitor would — its example, submit, the output filled —
with no uncaught error or console error, a screenshot each, and the page usable at a phone's width.

A new tab fails `test_tab_by_its_example` until it has a recipe below. One page serves the module: the
page takes seconds to build, a tab a second to drive.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_browser import PHONE, browser, load_app, open_tab, page, watch_errors  # noqa: F401

from app import groups
from apps import SPECS

pytestmark = pytest.mark.browser

WAIT = 120_000  # ms: a tab's first use loads its (tiny) model (a wait: it passes as soon as the output shows)


# -- helpers ------------------------------------------------------------------------------------


EXAMPLES = "button.gallery-item, tr.tr-body"  # gr.Examples entries: one input (a button) or several (a row)


def click_example(panel, index: int = 0) -> None:
    """Click an entry of the tab's gr.Examples."""
    panel.locator(EXAMPLES).nth(index).click()


def wait_for_image_input(panel) -> None:
    """Wait until the tab's image input shows the picture an example put there."""
    from playwright.sync_api import expect

    expect(panel.locator('[data-testid="image"] img').first).to_be_visible(timeout=10_000)


def wait_for_audio_input(panel) -> None:
    """Wait until the tab's audio input holds the example's sound (its player shows a Clear button)."""
    panel.get_by_role("button", name="Clear").first.wait_for(timeout=30_000)


def submit(panel, name: str) -> None:
    panel.get_by_role("button", name=name, exact=True).click()


def filled_textbox(app_page, elem_id: str) -> None:
    from playwright.sync_api import expect

    expect(app_page.locator(f"#{elem_id} textarea")).not_to_have_value("", timeout=WAIT)


def has_text(app_page, selector: str, text: str | re.Pattern[str]) -> None:
    from playwright.sync_api import expect

    expect(app_page.locator(selector)).to_contain_text(text, timeout=WAIT)


# -- one recipe per tab: use the example (or an asset), submit, see the output ------------------


def chat(app_page, panel) -> None:
    from playwright.sync_api import expect

    click_example(panel)
    expect(panel.get_by_label("Message")).not_to_have_value("")
    submit(panel, "Send")
    expect(app_page.locator('#chat-conversation [data-testid="bot"]').last).not_to_have_text("", timeout=WAIT)
    submit(panel, "Stop")  # the tiny model would ramble to its token limit


def translation(app_page, panel) -> None:
    click_example(panel)
    submit(panel, "Translate")
    filled_textbox(app_page, "translation-output")


def summarization(app_page, panel) -> None:
    click_example(panel)
    # Short summaries: the tiny model's small input splits the example into many chunks to summarize.
    for name, value in (("Minimum length (tokens)", "0"), ("Maximum length (tokens)", "8")):
        box = panel.get_by_label(f"number input for {name}")
        box.fill(value)
        box.press("Enter")
    submit(panel, "Summarize")
    filled_textbox(app_page, "summarization-summary")
    has_text(app_page, "#summarization-info", "chunk")


def similarity(app_page, panel) -> None:
    click_example(panel)
    submit(panel, "Compare")
    has_text(app_page, "#similarity-pair", "Most similar pair")


def search(app_page, panel) -> None:
    click_example(panel)
    submit(panel, "Search")
    header = app_page.locator("#search-results").get_by_role("columnheader", name="score")
    header.wait_for(timeout=WAIT)  # the ranked table's header, once results arrive


def rag(app_page, panel) -> None:
    from playwright.sync_api import expect

    handbook = Path(__file__).resolve().parent.parent / "assets" / "rag_handbook.md"
    panel.locator("#rag-files input[type=file]").set_input_files(str(handbook))
    # The file list splits the name into stem and extension spans, with or without a space between them
    # depending on how it was rendered; the cell's aria-label holds the whole name either way.
    expect(panel.locator('#rag-files td[aria-label="rag_handbook.md"]')).to_be_visible(timeout=WAIT)
    submit(panel, "Add to collection")
    has_text(app_page, "#rag-summary", re.compile(r"added|skipped"))
    has_text(app_page, "#rag-documents", "rag_handbook.md")
    click_example(panel)
    expect(panel.get_by_label("Question")).not_to_have_value("")
    submit(panel, "Ask")
    has_text(app_page, "#rag-answer", "[1] rag_handbook.md")  # the numbered citation names the document
    has_text(app_page, "#rag-sources", "§ Wi-Fi")
    panel.get_by_text("How this answer was found").click()
    has_text(app_page, "#rag-trace", "BM25")
    has_text(app_page, "#rag-trace", "Exact prompt sent to the chat model")


def rerank(app_page, panel) -> None:
    click_example(panel)
    submit(panel, "Rerank")
    app_page.locator("#rerank-table").get_by_role("columnheader", name="score").wait_for(timeout=WAIT)


def asr(app_page, panel) -> None:
    click_example(panel)
    wait_for_audio_input(panel)
    submit(panel, "Transcribe")
    has_text(app_page, "#asr-info", "transcribed in")


def tts(app_page, panel) -> None:
    click_example(panel)
    submit(panel, "Speak")
    has_text(app_page, "#tts-info", "of speech at")


def audio_classification(app_page, panel) -> None:
    click_example(panel)
    wait_for_audio_input(panel)
    submit(panel, "Classify")
    has_text(app_page, "#audio-classification-scores", "%")


def speech_translation(app_page, panel) -> None:
    click_example(panel)
    wait_for_audio_input(panel)
    submit(panel, "Translate speech")
    has_text(app_page, "#speech-translation-voice", "speaks")
    filled_textbox(app_page, "speech-translation-text")


def narration(app_page, panel) -> None:
    click_example(panel)
    wait_for_image_input(panel)
    submit(panel, "Narrate")
    filled_textbox(app_page, "narration-sentence")


def segmentation(app_page, panel) -> None:
    from playwright.sync_api import expect

    click_example(panel)
    preview = app_page.locator("#segmentation-overlay img")
    expect(preview).to_be_visible(timeout=30_000)
    preview.click()  # a point in the middle of the picture
    has_text(app_page, "#segmentation-summary", "is shown")
    expect(app_page.locator("#segmentation-mask img")).to_be_visible(timeout=WAIT)


def depth(app_page, panel) -> None:
    from playwright.sync_api import expect

    click_example(panel)
    wait_for_image_input(panel)
    submit(panel, "Estimate depth")
    expect(app_page.locator("#depth-image img")).to_be_visible(timeout=WAIT)


def vqa(app_page, panel) -> None:
    click_example(panel)
    wait_for_image_input(panel)
    submit(panel, "Answer")
    filled_textbox(app_page, "vqa-answer")


def captioning(app_page, panel) -> None:
    click_example(panel)
    wait_for_image_input(panel)
    submit(panel, "Caption")
    filled_textbox(app_page, "caption-result")


def matching(app_page, panel) -> None:
    click_example(panel)
    wait_for_image_input(panel)
    submit(panel, "Match")
    has_text(app_page, "#matching-best", "Best match")


def image_search(app_page, panel) -> None:
    from playwright.sync_api import expect

    click_example(panel)
    # The example fills the query in the page first; searching before that would send an empty query.
    expect(panel.get_by_label("Search for")).not_to_have_value("")
    submit(panel, "Search")
    results = app_page.locator("#image-search-results img")
    expect(results).to_have_count(len(SPECS["image_search"].examples), timeout=WAIT)


def image_classification(app_page, panel) -> None:
    from playwright.sync_api import expect

    click_example(panel)  # the image, the labels and the template
    labels = panel.get_by_label("Labels (comma-separated)")
    expect(labels).not_to_have_value("")
    wait_for_image_input(panel)
    submit(panel, "Classify")
    has_text(app_page, "#image-classification-result", "%")
    for label in labels.input_value().split(","):  # a score for every label
        has_text(app_page, "#image-classification-result", label.strip())


def pipelines(app_page, panel) -> None:
    from playwright.sync_api import expect

    click_example(panel)  # the first example: document → summarize → translate
    expect(panel.locator("#pipeline-spec textarea")).to_have_value(re.compile('"summarization"'))
    expect(panel.locator("#pipeline-input-text textarea")).not_to_have_value("")
    submit(panel, "Run pipeline")
    has_text(app_page, "#pipeline-steps", "translation")  # the second step's row, once it finished
    filled_textbox(app_page, "pipeline-text")


def finder(app_page, panel) -> None:
    click_example(panel)
    submit(panel, "Find models")
    # Offline (as in tests) the finder says so and lists the local cache instead of the Hub.
    has_text(app_page, "#finder-summary", "The Hub is not available")


def finetune(app_page, panel) -> None:
    click_example(panel)
    panel.get_by_label("number input for Steps", exact=True).fill("2")
    panel.get_by_label("number input for LoRA r", exact=True).fill("2")
    from playwright.sync_api import expect

    panel.locator("#finetune-more").get_by_text("More settings").click()
    # The accordion renders its content as it opens: type into the box once it is there and keeps what was typed.
    accumulation = panel.get_by_label("number input for Gradient accumulation (batches per step)", exact=True)
    expect(accumulation).to_be_visible(timeout=WAIT)
    accumulation.fill("2")
    accumulation.press("Tab")
    expect(accumulation).to_have_value("2", timeout=WAIT)
    has_text(app_page, "#finetune-command", "--gradient-accumulation 2")
    targets = panel.locator("#finetune-targets textarea")
    targets.fill("q_proj, v_proj")
    targets.press("Tab")
    # The command line shown is the one for these settings.
    has_text(app_page, "#finetune-command", "--gradient-accumulation 2 --target-modules q_proj,v_proj")
    submit(panel, "Train")
    has_text(app_page, "#finetune-summary", "done, step 2 of 2")
    expect(app_page.locator("#finetune-adapter textarea")).to_have_value(
        re.compile(r"\+adapter:quillby-fact$"), timeout=WAIT
    )


def system(app_page, panel) -> None:
    panel.get_by_role("combobox", name="Task").click()
    app_page.get_by_role("option", name="Sentence similarity", exact=True).click()
    submit(panel, "Load")
    has_text(app_page, "#system-message", "Loaded the model of Sentence similarity")
    has_text(app_page, "#system-table", "Image narration")  # every task with a model is listed
    row = app_page.locator("#system-table").get_by_role("row", name=re.compile(r"^Sentence similarity .* loaded"))
    row.wait_for(timeout=WAIT)


def evals(app_page, panel) -> None:
    from playwright.sync_api import expect

    click_example(panel)  # the similarity task and its sample dataset
    panel.get_by_label("number input for Rows (limit)", exact=True).fill("4")
    submit(panel, "Evaluate")
    has_text(app_page, "#evals-metrics", "spearman")
    expect(app_page.locator("#evals-chart")).to_be_visible(timeout=WAIT)  # a bar per metric and model
    expect(app_page.locator("#evals-chart canvas, #evals-chart svg").first).to_be_visible()
    # The file list shows the name as stem and extension apart ("results .json"): look for its download link.
    app_page.locator("#evals-results a[href$='results.json']").wait_for(timeout=WAIT)


def compare(app_page, panel) -> None:
    from playwright.sync_api import expect

    click_example(panel)  # similarity: the configured model and a curated Hub one (not cached: its row says so)
    expect(panel.locator("#compare-text textarea")).to_have_value(re.compile("kitten"))
    submit(panel, "Compare")
    has_text(
        app_page, "#compare-output-1", "Most similar:"
    )  # (the tiny model's pick is random; test_compare has a real one)
    has_text(app_page, "#compare-output-2", "not in the local Hugging Face cache")
    expect(app_page.locator("#compare-table").get_by_role("row")).to_have_count(3)  # the header, a row per model
    models = panel.locator("#compare-models textarea").input_value()
    # The address now holds the form: a page opened from it shows the same comparison's inputs.
    shared = app_page.url
    assert "compare_task=similarity" in shared and "compare_models=" in shared, shared
    other = app_page.context.new_page()
    other.errors = watch_errors(other)
    try:
        load_app(other, shared)
        panel = open_tab(other, "compare")
        expect(panel.locator("#compare-models textarea")).to_have_value(models)
        expect(panel.locator("#compare-text textarea")).to_have_value(re.compile("The stock market fell today"))
        assert other.errors == []
    finally:
        other.close()


def arena(app_page, panel) -> None:
    from conftest import KIT_DIR
    from playwright.sync_api import expect

    click_example(panel)
    panel.get_by_text("Models and length", exact=True).click()
    # The tiny app is offline with one chat model of its own: the battle is between the kit's two.
    panel.locator("#arena-models textarea").fill(f"{KIT_DIR / 'chat'}\n{KIT_DIR / 'finetune'}")
    panel.get_by_label("number input for Max new tokens", exact=True).fill("16")
    vote = panel.get_by_role("button", name="A is better", exact=True)
    expect(vote).to_be_disabled()  # nothing to vote on before a battle
    submit(panel, "Battle")
    expect(vote).to_be_enabled(timeout=WAIT)  # both answers are in
    expect(app_page.locator("#arena-answer-b")).not_to_have_text("", timeout=WAIT)
    vote.click()
    has_text(app_page, "#arena-verdict", "Your vote: Model A is better")
    has_text(app_page, "#arena-board", "finetune")  # the revealed models are on the board
    expect(vote).to_be_disabled()  # one vote per battle


def monitoring(app_page, panel) -> None:
    # Its plots and errors table: tests/test_browser_monitoring.py. Here: the tab renders and refreshes.
    submit(panel, "Refresh")
    has_text(app_page, "#monitoring-summary", "requests")


RECIPES: dict[str, Callable[[object, object], None]] = {
    recipe.__name__: recipe
    for recipe in (
        chat,
        translation,
        summarization,
        similarity,
        search,
        rag,
        rerank,
        asr,
        tts,
        audio_classification,
        speech_translation,
        narration,
        segmentation,
        depth,
        vqa,
        captioning,
        matching,
        image_search,
        image_classification,
        pipelines,
        finder,
        evals,
        compare,
        arena,
        finetune,
        system,
        monitoring,
    )
}


@pytest.mark.parametrize("key", list(SPECS))
def test_tab_by_its_example(page, key: str, output_dir: Path) -> None:  # noqa: F811
    from playwright.sync_api import expect

    assert key in RECIPES, f"tab {key!r} has no browser recipe: add one to tests/test_browser_tabs.py"
    panel = open_tab(page, key)
    if key not in ("system", "monitoring"):  # every tab with inputs offers examples; these only show state
        assert panel.locator(EXAMPLES).count(), f"tab {key!r} has no gr.Examples"
    RECIPES[key](page, panel)
    # The screenshot once every output has settled (gradio dims outputs that wait for an event).
    expect(panel.locator(".pending, .generating")).to_have_count(0, timeout=WAIT)
    page.mouse.move(0, 0)  # no hover highlight on the button just clicked
    (output_dir / "tabs").mkdir(exist_ok=True)
    page.screenshot(path=str(output_dir / "tabs" / f"{key}.png"), full_page=True)
    assert page.errors == []


def test_every_recipe_is_a_tab() -> None:
    assert set(RECIPES) <= set(SPECS), f"recipes for tabs that do not exist: {sorted(set(RECIPES) - set(SPECS))}"


def horizontal_overflow(app_page) -> dict[str, int]:
    """How far the page and the main column are wider than the window (0 = no horizontal scroll)."""
    return app_page.evaluate(
        """() => {
            const main = document.querySelector('.gradio-container');
            return {
                page: document.documentElement.scrollWidth - window.innerWidth,
                main: main.scrollWidth - main.clientWidth,
            };
        }"""
    )


LONG_WORD = "0123456789abcdef" * 25  # 400 characters without a space, as a user may paste a hash or a URL


def send_long_word(app_page, panel) -> None:
    """Send LONG_WORD as the user's message and let the reply begin (then Stop): the conversation then
    holds a word wider than any phone, whatever the model samples."""
    from playwright.sync_api import expect

    panel.get_by_role("textbox", name="Message", exact=True).fill(LONG_WORD)
    submit(panel, "Send")
    conversation = app_page.locator("#chat-conversation")
    expect(conversation.locator('[data-testid="user"]').last).to_have_text(LONG_WORD, timeout=WAIT)
    expect(conversation.locator('[data-testid="bot"]').last).not_to_have_text("", timeout=WAIT)
    submit(panel, "Stop")
    expect(panel.locator(".pending, .generating")).to_have_count(0, timeout=WAIT)


def test_phone_width_every_tab_reachable_without_horizontal_scroll(page, output_dir: Path) -> None:  # noqa: F811
    page.set_viewport_size(PHONE)
    sideways, off_screen = {}, []
    for key, spec in SPECS.items():
        panel = open_tab(page, key)
        if key == "chat":
            send_long_word(page, panel)
        # The tab bars wrap onto more rows rather than hide tabs in a menu: the tabs are on screen.
        group = groups()[spec.group or spec.title]
        for title in {spec.group if len(group) > 1 else spec.title, spec.title}:
            box = page.get_by_role("tab", name=title, exact=True).bounding_box()
            if not box or box["x"] < 0 or box["x"] + box["width"] > PHONE["width"]:
                off_screen.append(title)
        # Measured once the layout has settled: right after the window narrows, or a tab opens, the page
        # can be wider for a moment while components re-measure themselves.
        deadline = time.monotonic() + 5
        while (overflow := horizontal_overflow(page)) != {"page": 0, "main": 0} and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        if overflow != {"page": 0, "main": 0}:
            sideways[key] = overflow
        if key in ("chat", "similarity", "narration", "finder"):
            page.screenshot(path=str(output_dir / f"phone-{key}.png"), full_page=True)
    assert sideways == {}, f"tabs that scroll sideways at {PHONE['width']} px (by px): {sideways}"
    assert off_screen == [], f"tabs off screen at {PHONE['width']} px: {off_screen}"
    assert page.errors == []


HEATMAP_CONTRASTS = """() => [...document.querySelectorAll('#similarity-table [style*="background-color"]')]
    .map(cell => {
    const parse = c => (c.match(/[\\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    // The cell's colour (translucent) laid over the first opaque background behind it.
    const [r, g, b, a = 1] = parse(getComputedStyle(cell).backgroundColor);
    let node = cell.parentElement, base = [255, 255, 255];
    while (node) { const c = parse(getComputedStyle(node).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) { base = c.slice(0, 3); break; }
        node = node.parentElement; }
    const back = [r, g, b].map((v, i) => v * a + base[i] * (1 - a));
    const text = parse(getComputedStyle(cell.querySelector('span') || cell).color);
    const [hi, lo] = [luminance(back), luminance(text)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
})"""


def test_heatmap_is_readable_in_dark_and_light_mode(page) -> None:  # noqa: F811
    """The similarity heatmap's numbers stay readable on their coloured cells (WCAG AA contrast)."""
    from apps.tasks.similarity import EXAMPLES

    panel = open_tab(page, "similarity")
    click_example(panel)
    submit(panel, "Compare")
    has_text(page, "#similarity-pair", "Most similar pair")
    cells = len(EXAMPLES[0].splitlines()) ** 2
    try:
        for scheme in ("dark", "light"):
            page.emulate_media(color_scheme=scheme)  # gradio follows the system's scheme unless ?__theme= is set
            page.wait_for_function("dark => document.body.classList.contains('dark') === dark", arg=scheme == "dark")
            contrasts = page.evaluate(HEATMAP_CONTRASTS)
            assert len(contrasts) == cells, f"{len(contrasts)} coloured heatmap cells, expected {cells}"
            assert min(contrasts) >= 4.5, f"heatmap contrast {min(contrasts):.2f} < 4.5 in {scheme} mode"
    finally:
        page.emulate_media(color_scheme="light")
    assert page.errors == []
