"""The release plan page in a real browser: pick the demo's plan, Run, read the cut line, what-if, cancel.

The session's `voila_server` serves a copy of the demo ledger, which stores a
plan called "Release plan". Expected numbers come from the same plan forecast
in-process with the page's runs and seed (`forecast_portfolio`): the Ray job
behind the page must give exactly the same answer.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from conftest import body_text, long_date, save_screenshot, wait_for_text

from flowray import forecast_portfolio, pipeline
from flowray.text import format_probability

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright not installed").expect

PLAN = "Release plan"
RUNS, SEED = 100_000, 0  # the page's defaults


def set_box(page: Any, title: str, value: Any) -> None:
    """Type into the box a feature row names by its tooltip, and leave it (the kernel hears it)."""
    # ipywidgets puts a text box's tooltip on the box or on its wrapper, by version
    box = page.locator(f'input[title="{title}"], [title="{title}"] input').first
    box.fill(str(value))
    box.press("Tab")


def cut_line_text(result: Any) -> str:
    """The cut line's words across the table, written out from the result."""
    target = long_date(result.portfolio.target)
    k = result.cut_line()
    if k == 0:
        return f"Cut line: not even feature 1 is {result.portfolio.level:g}% likely by {target}"
    joint = result.all_done_by_target()[k - 1]
    return f"Cut line: features 1-{k} all done by {target}: {format_probability(joint)}"


@pytest.fixture(scope="module")
def stored_plan(voila_server: Any) -> Any:
    """The demo ledger's release plan, as the page loads it."""
    if not hasattr(pipeline, "list_portfolios"):
        pytest.skip("this flowray stores no release plans yet (flowray.pipeline.list_portfolios)")
    if PLAN not in pipeline.list_portfolios(voila_server.db_path):
        pytest.skip(f"the demo ledger holds no plan called {PLAN!r}")
    return pipeline.load_portfolio(PLAN, voila_server.db_path)


def test_release_plan_runs_shows_the_cut_line_and_what_moved(open_dashboard, stored_plan):
    page = open_dashboard("features.ipynb")
    assert page.title() == "Release plan · flowray"
    wait_for_text(page, rf"Loaded {PLAN}: \d+ features", 120_000)
    names = [f.name for f in stored_plan.features]
    text = body_text(page)
    for name in names:
        assert name in text, f"{name} is not in the list"

    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_text(page, rf"Done: {RUNS:,} simulated futures")
    expected = forecast_portfolio(stored_plan, RUNS, SEED)
    text = body_text(page)
    assert cut_line_text(expected) in text
    for f, name in enumerate(names):
        if expected.cannot_forecast[f]:
            assert re.search(rf"\t{re.escape(name)}\t[^\n]*cannot be forecast", text), name
            continue
        row = re.search(rf"\n{f + 1}\t{re.escape(name)}\t[^\n]*", text)
        assert row, f"no table row for {name}"
        chance = expected.probability_by_target(f)
        assert f"\t{format_probability(chance)} ±" in row.group(0), row.group(0)
    assert "on its own" in text and "together" in text
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.evaluate("window.scrollTo(0, 0)")
    save_screenshot(page, "dashboard_features", full_page=True)

    # What-if: move the last feature up; the answer greys, Save is off until the next run.
    page.get_by_title(f"Move {names[-1]} up", exact=True).click()
    wait_for_text(page, r"Stale: the inputs changed", 60_000)
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_disabled(timeout=30_000)
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_text(page, r"What moved since the last run|Since the last run: no feature")
    assert "Stale:" not in body_text(page)
    page.get_by_role("button", name="Save", exact=True).click()
    wait_for_text(page, r"Saved as forecast #\d+", 60_000)


def test_a_bad_size_is_named_and_a_long_run_can_be_cancelled(open_dashboard, stored_plan):
    page = open_dashboard("features.ipynb")
    wait_for_text(page, rf"Loaded {PLAN}", 120_000)
    sized = next((f for f in stored_plan.features if isinstance(f.size, int)), None)
    if sized is not None:  # a feature of known size: its box is on the page
        set_box(page, f"Size of {sized.name} (items)", -3)
        error = wait_for_text(page, rf"Please check Size of {re.escape(sized.name)}:[^\n]*", 60_000)
        assert "you entered -3" in error.group(0)
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_disabled(timeout=30_000)
        set_box(page, f"Size of {sized.name} (items)", sized.size)
        expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=30_000)

    page.get_by_text("Number of runs", exact=True).click()
    runs = page.get_by_label("Simulated futures", exact=True)
    runs.wait_for(timeout=30_000)
    runs.fill("100000000")
    runs.press("Tab")
    page.get_by_role("button", name="Run", exact=True).click()
    wait_for_text(page, r"[1-9][\d,]* of 100,000,000 runs")
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_enabled(timeout=30_000)
    cancel.click()
    stopped = wait_for_text(page, r"Cancelled after ([\d,]+) of 100,000,000 runs", 60_000)
    assert int(stopped.group(1).replace(",", "")) < 100_000_000
    assert "so far, from" in body_text(page)  # the partial answer says it is partial
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=30_000)
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_disabled(timeout=30_000)
    save_screenshot(page, "features-cancelled")
