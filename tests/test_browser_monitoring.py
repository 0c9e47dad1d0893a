"""Browser: the Monitoring tab draws its plots and, with no click, shows a bad request's error in its table."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import browser, open_tab, page  # noqa: F401

from apps.monitoring.tab import REFRESH_SECONDS

pytestmark = pytest.mark.browser


def test_plots_and_a_bad_request_in_the_error_table(page, tiny_app, output_dir: Path) -> None:  # noqa: F811
    from gradio_client import Client
    from playwright.sync_api import expect

    client = Client(tiny_app[0], verbose=False, ssl_verify=False)
    client.predict("A cat.\nA dog.", "", api_name="/similarity")  # something to plot
    panel = open_tab(page, "monitoring")
    expect(page.locator("#monitoring-summary")).to_contain_text("requests", timeout=30_000)
    for plot in ("requests", "latency", "errors-plot", "memory", "models"):
        expect(page.locator(f"#monitoring-{plot} .vega-embed").first).to_be_visible(timeout=30_000)
    table = page.locator("#monitoring-errors")
    marker = "Zebra-marker-7431"  # one sentence: too few to compare, the error says why
    with pytest.raises(Exception, match=r"(?i)sentence"):
        client.predict(marker, "", api_name="/similarity")
    # The timer brings it in: no click on Refresh.
    wait = int((REFRESH_SECONDS * 3 + 10) * 1000)
    row = table.get_by_role("row").filter(has_text="/similarity").filter(has_text="user_error").first
    expect(row).to_be_visible(timeout=wait)
    expect(row).to_contain_text("sentence")
    assert marker not in row.inner_text()  # what was sent is never shown
    page.mouse.move(0, 0)
    panel.screenshot(path=str(output_dir / "monitoring.png"))
    assert page.errors == []
