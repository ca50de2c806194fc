"""The three dashboards in a real browser, used the way a stakeholder uses them.

One `flowray dashboard` (the session's `voila_server`) serves a copy of the
demo ledger and shares its one local Ray with every page. Expected numbers
come from the same forecast made in-process with the same inputs and seed (the
page's default method: `pipeline.calibrated_forecast` on the project's whole
history): the Ray job behind the page must give exactly the same answer.

Each page view starts a kernel (~200 MB, several seconds), so tests keep to a
few page views and small runs, except where size is the point (progress that
visibly moves, a run long enough to cancel).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import (
    VIEWPORT,
    body_text,
    long_date,
    save_screenshot,
    wait_for_text,
    wait_for_widgets,
)

from flowray import Scenario, pipeline
from flowray.core.engine import Question
from flowray.text import format_probability

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api", reason="playwright not installed").expect

PLOT = ".js-plotly-plot"
PROJECT = "Pytest Core"  # a demo project whose target date lies after its history ends
PASTED = [5, 7, 3, 0, 6, 8, 4, 5, 9, 2, 6, 4]
LEVELS = (50, 70, 85, 95)
SESSIONS = 10

# Every "N of M runs" text the page shows, recorded in the browser as it changes (a
# poll from Python could miss the short moments between the start and the end).
_RECORD_PROGRESS_JS = """
() => {
  window.__progress = [];
  const pattern = /([\\d,]+) of ([\\d,]+) runs/;
  new MutationObserver(() => {
    const m = document.body.innerText.match(pattern);
    if (m) window.__progress.push([Number(m[1].replaceAll(',', '')), Number(m[2].replaceAll(',', ''))]);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""


# -- helpers -------------------------------------------------------------------------------


def short_date(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def fill(page: Any, label: str, value: Any) -> None:
    """Type into a labelled field and leave it, so the widget sends the value to the kernel."""
    set_value(page.get_by_label(label, exact=True), value)


def set_value(box: Any, value: Any) -> None:
    box.fill(str(value))  # a date input sends its change event on fill; Tab would only
    if box.get_attribute("type") != "date":  # move between its day, month and year
        box.press("Tab")


def open_runs_section(page: Any) -> None:
    page.get_by_text("Number of runs and short history", exact=True).click()
    page.get_by_label("Simulated futures", exact=True).wait_for(timeout=30_000)


def paste_throughput(page: Any, values: list[int]) -> None:
    page.get_by_label("Throughput pasted below", exact=True).check()
    box = page.get_by_placeholder(re.compile("Items finished per week"))
    box.fill(", ".join(str(v) for v in values))
    box.press("Tab")


def headline(page: Any) -> str:
    """The first '85% likely by <date>' on the page: the big answer above the table."""
    return re.search(r"85% likely by \d{1,2} \w+ \d{4}", body_text(page)).group(0)


def answer_lines(page: Any) -> list[str]:
    """The percentile table's rows as the page shows them: '50% likely by<TAB>9 February 2026'..."""
    text = body_text(page)
    return [re.search(rf"{level}% likely by\t[^\t]+", text).group(0) for level in LEVELS]


def expected_lines(result: Any) -> list[str]:
    return [
        f"{level}% likely by\t{long_date(dt.date.fromisoformat(result.dates()[str(level)]))}"
        for level in LEVELS
    ]


def kernel_id_of(page: Any) -> str:
    """The id of the kernel Voila started for this page view."""
    return page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def kernel_gone(server: Any, kernel_id: str) -> bool:
    """Both the process has exited and Voila has forgotten the kernel (in that order)."""
    return kernel_id not in server.kernel_processes() and server.kernel_model(kernel_id) is None


def requests_elsewhere(requests: list[str], server: Any) -> list[str]:
    """Requests to any host other than the server (blob: and data: URLs are local)."""
    netloc = urlsplit(server.base_url).netloc
    return sorted(
        {
            url
            for url in requests
            if urlsplit(url).scheme not in ("blob", "data") and urlsplit(url).netloc != netloc
        }
    )


def drawn_histogram(page: Any) -> dict[str, Any]:
    """What plotly.js drew in the forecast chart: the bars' dates and heights, the axis titles."""
    return page.evaluate(f"""() => {{
      const plot = document.querySelector('{PLOT}');
      const bars = plot.data.find(t => t.type === 'bar');
      return {{
        x: Array.from(bars.x || []).map(String), y: Array.from(bars.y || []).map(Number),
        drawn: plot.querySelectorAll('.bars .point').length,
        titles: Array.from(plot.querySelectorAll('.xtitle, .ytitle, .g-xtitle, .g-ytitle')).map(e => e.textContent),
      }};
    }}""")


def wait_for_bars(page: Any, timeout_ms: int = 60_000) -> None:
    """Wait until plotly.js has drawn bars (it marks its div before drawing anything)."""
    page.wait_for_function(
        f"document.querySelectorAll('{PLOT} .bars .point').length > 0", timeout=timeout_ms
    )


def dashboard_default(history: list[int], runs: int, seed: int, **fields: Any) -> Any:
    """The page's answer computed in-process: flowray's default method on the whole history."""
    return pipeline.calibrated_forecast(
        Scenario(throughput=history, **fields), Question("when"), runs, seed
    )


def monday_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=7 - day.weekday())


@pytest.fixture(scope="module")
def project_inputs(voila_server: Any) -> dict[str, Any]:
    """The demo project's history and target, and a start date right after its history."""
    history = pipeline.project_history(PROJECT, voila_server.db_path)
    project = next(p for p in pipeline.list_projects(voila_server.db_path) if p.name == PROJECT)
    start = monday_after(history[-1].period_start)
    assert project.target_date > start, "the demo project's target must lie after its history"
    return {
        "throughput": [h.items for h in history],  # the default method windows it itself
        "start": start,
        "target": project.target_date,
    }


# -- the forecast dashboard ------------------------------------------------------------------


def test_forecast_runs_live_shows_the_engines_answer_saves_and_the_portfolio_shows_it(
    open_dashboard, page_log, voila_server, project_inputs
):
    runs, seed, backlog = 10_000_000, 7, 80  # many runs: long enough to see the progress move
    start, target = project_inputs["start"], project_inputs["target"]
    page = open_dashboard("forecast.ipynb", selector=PLOT)
    assert page.title() == "Delivery forecast · flowray"
    empty_chart = page.locator(PLOT).first.inner_text()
    assert "2000" not in empty_chart, "an empty date axis shows made-up dates"

    fill(page, "Start date", start.isoformat())  # before picking the project, whose target
    page.get_by_label("Project", exact=True).select_option(PROJECT)  # then becomes the deadline
    page.get_by_text(re.compile(rf"weeks of history, .* target {long_date(target)}")).wait_for(
        timeout=60_000
    )
    assert page.get_by_label("Deadline (optional)", exact=True).input_value() == target.isoformat()
    fill(page, "Items left", backlog)
    open_runs_section(page)
    fill(page, "Simulated futures", runs)
    fill(page, "Repeatable-run number", seed)
    page.evaluate(_RECORD_PROGRESS_JS)
    page.get_by_role("button", name="Run forecast").click()

    wait_for_text(page, r"Done: ")
    expected = dashboard_default(
        project_inputs["throughput"], runs, seed, backlog=backlog, start=start, deadline=target
    )
    progress = page.evaluate("window.__progress")
    assert any(0 < done < total for done, total in progress), (
        f"no progress between 0 and the end: {progress}"
    )
    assert [done for done, _ in progress] == sorted(done for done, _ in progress), (
        "progress went backwards"
    )
    assert progress[-1] == [runs, runs]
    p85 = dt.date.fromisoformat(expected.dates()["85"])
    assert headline(page) == f"85% likely by {long_date(p85)}"
    assert answer_lines(page) == expected_lines(expected)
    deadline_words = (
        f"{format_probability(expected.probability_by_deadline)} likely to finish by the deadline, "
        f"{long_date(target)}."
    )
    assert deadline_words in body_text(page)
    assert "(so far" not in body_text(page)

    # The chart shows this result: bars at the completion dates, shares adding up to ~100%.
    wait_for_bars(page)
    chart = drawn_histogram(page)
    assert chart["drawn"] > 0 and chart["drawn"] == len(chart["y"])
    assert any(x.startswith(p85.isoformat()) for x in chart["x"]), (p85, chart["x"])
    assert 95 < sum(chart["y"]) <= 100.01
    assert {"Completion date", "Share of simulated futures (%)"} <= set(chart["titles"]), chart[
        "titles"
    ]
    assert str(p85.year) in page.locator(PLOT).first.inner_text()  # dates on the axis now
    page.evaluate("window.scrollTo(0, 0)")
    save_screenshot(page, "dashboard_forecast")

    # Nothing came from outside the server (widget JavaScript, plotly.js, fonts).
    assert any(url.startswith("ws://") for url in page_log.requests), "no kernel websocket seen"
    assert requests_elsewhere(page_log.requests, voila_server) == []

    before = pipeline.portfolio(voila_server.db_path).set_index("project").loc[PROJECT, "forecasts"]
    page.get_by_placeholder("Name in the ledger (optional)").fill("Browser test forecast")
    page.get_by_role("button", name="Make this the plan").click()
    forecast_id = int(wait_for_text(page, r"Forecast #(\d+) is now the plan", 60_000).group(1))
    saved = {
        f.forecast_id: f for f in pipeline.open_store(voila_server.db_path).list_forecasts(PROJECT)
    }
    assert saved[forecast_id].name == "Browser test forecast"
    assert (saved[forecast_id].runs, saved[forecast_id].seed) == (runs, seed)
    assert saved[forecast_id].dates[85] == p85

    assert pipeline.project_plan(PROJECT, voila_server.db_path).forecast_id == forecast_id

    # The portfolio page (a new page view, a new kernel) follows it as the project's plan.
    page.goto(voila_server.url("portfolio.ipynb"))
    wait_for_widgets(page, selector=PLOT)
    row = re.search(
        rf"[^\n]*\t{PROJECT}\t[^\n]*", wait_for_text(page, rf"\t{PROJECT}\t").string
    ).group(0)
    assert short_date(p85) in row
    assert format_probability(expected.probability_by_deadline) in row
    assert row.rstrip().endswith(f"\t{before + 1}"), row


def test_bad_input_names_the_field_and_a_long_run_can_be_cancelled(open_dashboard, voila_server):
    page = open_dashboard("forecast.ipynb", selector=PLOT)
    paste_throughput(page, [5, 7, "x", 4, 6, 8, 3, 5])  # named under the field as typed
    # Ticking "pasted" first shows the empty box's own error ("paste the items ..."): wait
    # for the error about the pasted text, not for whichever error is on screen first.
    error = wait_for_text(page, r"Please check Throughput \(value 3\)[^\n]*", 60_000).group(0)
    assert "you entered x" in error, error
    expect(page.get_by_role("button", name="Run forecast")).to_be_disabled(timeout=30_000)

    paste_throughput(page, PASTED)
    page.get_by_label("a range, up to", exact=True).check()
    fill(page, "Items left", 60)
    backlog_row = page.locator(".widget-hbox", has=page.get_by_label("Items left", exact=True)).last
    set_value(backlog_row.locator("input[type=text]").nth(1), 10)  # "up to" 10: below the low end
    expect(page.get_by_role("button", name="Run forecast")).to_be_disabled(timeout=30_000)
    error = wait_for_text(page, r"Please check Items left[^\n]*", 60_000).group(0)
    assert "60" in error and "10" in error, error
    text = body_text(page)
    assert "Traceback" not in text and "There was an error" not in text
    save_screenshot(page, "forecast-bad-input")

    # A long run: the most runs the page allows, each ~200 weeks long (about 90 s of CPU
    # on an idle machine), so that the Cancel lands mid-run even on a fast one.
    page.get_by_label("a range, up to", exact=True).uncheck()
    fill(page, "Items left", 1000)
    open_runs_section(page)
    fill(page, "Simulated futures", 100_000_000)
    page.get_by_role("button", name="Run forecast").click()
    wait_for_text(page, r"[1-9][\d,]* of 100,000,000 runs")  # the job is running
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_enabled(timeout=30_000)
    cancel.click()
    stopped = wait_for_text(page, r"Cancelled after ([\d,]+) of 100,000,000 runs", 60_000)
    assert int(stopped.group(1).replace(",", "")) < 100_000_000
    expect(page.get_by_role("button", name="Run forecast")).to_be_enabled(timeout=30_000)
    for button in ("Save as a what-if", "Make this the plan"):  # a partial answer is not saved
        expect(page.get_by_role("button", name=button)).to_be_disabled(timeout=30_000)
    save_screenshot(page, "forecast-cancelled")


# -- the portfolio and cluster dashboards -------------------------------------------------


def test_portfolio_shows_every_project_and_leaving_stops_its_kernel(
    open_dashboard, page_log, voila_server
):
    frame = pipeline.portfolio(voila_server.db_path)
    page = open_dashboard("portfolio.ipynb", selector=PLOT)
    assert page.title() == "Project portfolio · flowray"
    kernel_id = kernel_id_of(page)
    assert kernel_id in voila_server.kernel_processes()

    text = body_text(page)
    for _, row in frame.iterrows():
        line = re.search(rf"[^\n]*\t{re.escape(row['project'])}\t[^\n]*", text)
        assert line, f"{row['project']} is not in the portfolio table"
        assert short_date(row["target_date"]) in line.group(0)
        assert short_date(row["p85_date"]) in line.group(0)
    assert re.search(r"\d+ (at risk|on track|watch)", text), "no status summary"
    assert "Past forecasts against what happened" in text and "Calibration across projects" in text
    wait_for_bars(page)
    assert page.locator(f"{PLOT} .bars .point").count() == len(frame)  # one bar per project
    save_screenshot(page, "dashboard_portfolio")

    # Leaving fires beforeunload, whose beacon asks Voila to stop the kernel at once.
    page.goto(voila_server.base_url)
    page.get_by_text("portfolio.ipynb").wait_for(timeout=60_000)
    assert requests_elsewhere(page_log.requests, voila_server) == []
    wait_until(
        lambda: kernel_gone(voila_server, kernel_id),
        60,
        f"kernel {kernel_id} to stop after leaving",
    )
    assert (
        f"({kernel_id}) with 0 connections due to" not in voila_server.log_text()
    )  # stopped, not culled


def test_cluster_dashboard_shows_the_one_shared_ray(open_dashboard, voila_server):
    page = open_dashboard("cluster.ipynb")
    assert page.title() == "Ray cluster · flowray"
    wait_for_text(page, r"Cluster address\t", 120_000)
    text = body_text(page)
    assert f"Cluster address\t{voila_server.ray_address()}" in text  # the server's Ray, not its own
    assert re.search(r"Nodes\t1 alive", text)
    assert re.search(r"CPUs in use\t\d+(\.\d+)? of [1-9]\d*", text)
    assert re.search(r"Node\tAddress\tState\tCPUs\n[0-9a-f]{6,}\t\S+\talive\t[1-9]", text), text
    assert voila_server.kernel_ray_processes() == {}
    # The server started Ray's own dashboard (on 127.0.0.1): its state API counts every
    # page's tasks, and the page links to it.
    tasks_row = re.search(r"flowray tasks\t([^\n]*)", text).group(1)
    assert re.match(r"\d+ running, \d+ waiting, \d+ finished", tasks_row), tasks_row
    assert "this page's own jobs" not in tasks_row, tasks_row
    assert re.search(r"is at http://127\.0\.0\.1:\d+", text), text

    page.get_by_role("button", name="Run health check").click()
    wait_for_text(page, r"Healthy\.", 120_000)
    page.evaluate("window.scrollTo(0, 0)")
    save_screenshot(page, "dashboard_cluster")


# -- many people at once ---------------------------------------------------------------------


def test_ten_sessions_at_once_all_get_the_engines_answer_on_one_ray(browser, voila_server):
    # Lean on purpose: the page's own project, backlog and seed; one engine chunk of runs (one
    # task, so one Ray worker to start per page's job); a fixed start date for a fixed answer.
    runs, start = 65_536, dt.date(2026, 3, 2)
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(SESSIONS)]
    try:
        pages = [context.new_page() for context in contexts]
        started = time.monotonic()
        for page in pages:  # all ten page views start their kernels at the same time
            page.goto(voila_server.url("forecast.ipynb"), wait_until="commit", timeout=120_000)
        for page in pages:
            wait_for_widgets(page, selector=PLOT, timeout_ms=600_000)
        opened = time.monotonic()
        for page in pages:
            fill(page, "Start date", start.isoformat())
            open_runs_section(page)
            fill(page, "Simulated futures", runs)
        for page in pages:
            page.get_by_role("button", name="Run forecast").click()
        clicked = time.monotonic()
        for page in pages:
            wait_for_text(page, r"Done: ", 600_000)
        print(
            f"{SESSIONS} pages: rendered after {opened - started:.0f} s, inputs set and Run pressed "
            f"{clicked - opened:.0f} s later, all forecasts done {time.monotonic() - clicked:.0f} s later"
        )

        inputs = {
            (
                page.get_by_label("Project", exact=True).input_value(),
                page.get_by_label("Items left", exact=True).input_value(),
                page.get_by_label("Repeatable-run number", exact=True).input_value(),
            )
            for page in pages
        }
        assert len(inputs) == 1, inputs
        ((project, backlog, seed),) = inputs
        history = [h.items for h in pipeline.project_history(project, voila_server.db_path)]
        expected = dashboard_default(history, runs, int(seed), backlog=int(backlog), start=start)
        p85 = dt.date.fromisoformat(expected.dates()["85"])
        answers = [(headline(page), answer_lines(page)) for page in pages]
        assert answers == [(f"85% likely by {long_date(p85)}", expected_lines(expected))] * SESSIONS

        # One Ray for all, the server's (one GCS, one raylet); no kernel started its own.
        assert len(voila_server.kernel_processes()) >= SESSIONS
        assert voila_server.kernel_ray_processes() == {}
        heads = sorted(
            Path(cmd.split(" ", 1)[0]).name for cmd in voila_server.ray_processes().values()
        )
        assert heads == ["gcs_server", "raylet"]
    finally:
        for context in contexts:
            context.close()


# -- kernels of vanished pages -----------------------------------------------------------------


def test_kernel_of_a_vanished_page_is_culled(
    open_dashboard, voila_server_factory, dashboard_db_path, shared_ray_env
):
    # Short, but longer than the gaps with no kernel activity and no browser connected
    # while a page loads (kernel start-up; page JavaScript loading after the cells ran)
    # on a loaded machine: a shorter timeout culls the kernel before the page connects.
    cull_after, interval = 20, 2
    server = voila_server_factory(
        db_path=dashboard_db_path,
        cull_idle_timeout=cull_after,
        cull_interval=interval,
        env=shared_ray_env,
    )
    assert server.ray_processes() == {}  # it joined the session's Ray instead of starting one
    page = open_dashboard("portfolio.ipynb", server=server, selector=PLOT)
    kernel_id = kernel_id_of(page)
    assert kernel_id in server.kernel_processes()

    # While the page is open its kernel stays, however long it is idle.
    time.sleep(cull_after + 3 * interval)
    model = server.kernel_model(kernel_id)
    assert model is not None and model["connections"] >= 1
    assert kernel_id in server.kernel_processes()

    # Closing without beforeunload is a crashed tab or a lost laptop: no beacon.
    page.close(run_before_unload=False)
    wait_until(
        lambda: kernel_gone(server, kernel_id), cull_after + 30, f"kernel {kernel_id} to be culled"
    )
    assert f"({kernel_id}) with 0 connections due to" in server.log_text()
