"""The release plan page, headless: plans from memory, checked fields, a serial run, what-ifs, save, cancel.

The panel reads its plans from an in-memory source (no ledger) and runs on the
serial engine (the same numbers as Ray, bit for bit). Expected numbers come from
the same portfolio forecast made directly with `submit_portfolio`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import html
import re

import pytest
from widget_helpers import demo_throughput, drive

from flowray.core.portfolio import Portfolio
from flowray.jobs.portfolio import submit_portfolio
from flowray.pipeline import engine_named
from flowray.text import format_probability, long_date
from flowray.widgets import features_app
from flowray.widgets.features import FeaturesPanel, MemorySource, plan_field_label

RUNS = 20_000
SEED = 3
START = dt.date(2026, 8, 17)
TARGET = dt.date(2026, 10, 5)


def plan(**changes) -> Portfolio:
    """Three teams (a history, an estimate, neither) and five features of every kind of size."""
    portfolio = Portfolio(
        teams=[
            {"name": "web", "throughput": demo_throughput(26)},
            {"name": "api", "estimate": {"low": 1, "high": 6}},
            {"name": "ghost"},
        ],
        features=[
            {"name": "Login", "size": 12, "teams": ["web"]},
            {"name": "Search", "size": [10, 20], "teams": ["web", "api"]},
            {"name": "Export", "teams": ["api"]},
            {"name": "Billing", "size": 30, "teams": ["web"]},
            {"name": "Ghosted", "size": 5, "teams": ["ghost"]},
        ],
        start=START,
        target=TARGET,
        feature_sizes=[5, 8, 13, 20],
        level=75,
    )
    return portfolio.with_changes(**changes) if changes else portfolio


def expected(portfolio: Portfolio, runs: int = RUNS, seed: int = SEED):
    return submit_portfolio(engine_named("serial"), portfolio, runs, seed).result()


def make_panel(**options) -> FeaturesPanel:
    source = options.pop("source", None) or MemorySource(
        {"Other plan": plan(level=70.0), "Release plan": plan()}
    )
    panel = features_app(source=source, engine="serial", poll_seconds=0.01, **options)
    panel.runs.value = options.get("runs", RUNS)
    panel.seed.value = SEED
    return panel


def run_to_end(panel: FeaturesPanel) -> None:
    async def press_run() -> None:
        panel.run_button.click()
        assert panel.busy and panel.run_button.disabled, "controls are off while the job runs"
        await panel.wait()

    drive(press_run)
    assert panel.job.state == "DONE", panel.status.value


def plain(value: str) -> str:
    """An HTML widget's text, tags dropped and entities read."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", value)).split())


def row(panel: FeaturesPanel, name: str):
    return next(r for r in panel.rows if r.feature.name == name)


# -- the page as it opens ---------------------------------------------------------------------------------
def test_renders_the_stored_plan_in_order_with_its_teams():
    panel = make_panel()
    assert list(panel.picker.options) == ["Other plan", "Release plan"]
    assert panel.picker.value == "Release plan", "the demo's plan is picked first"
    assert panel.order == ["Login", "Search", "Export", "Billing", "Ghosted"]
    assert panel.target.value == TARGET.isoformat() and panel.level.value == "75"
    assert panel.runs.value == str(RUNS)
    modes = [r.mode.value for r in panel.rows]
    assert modes == ["known", "range", "unknown", "known", "known"]
    assert (row(panel, "Search").low.value, row(panel, "Search").high.value) == ("10", "20")
    assert row(panel, "Search").teams.value == "web, api"
    assert set(panel.wip) == {"web", "api", "ghost"} and panel.wip["web"].value == "1"
    team_words = plain(str([c.children[0].children[1].value for c in panel.teams_box.children]))
    assert "no history and no estimate" in team_words
    assert "from an estimate: 1 to 6 items a week" in team_words
    assert not panel.run_button.disabled and panel.save_button.disabled
    assert panel.rows[0].up.disabled and panel.rows[-1].down.disabled
    assert not panel.rows[1].up.disabled

    panel.picker.value = "Other plan"
    assert panel.level.value == "70" and panel.plan_name == "Other plan"


def test_no_stored_plan_says_how_to_get_one_and_run_stays_off():
    panel = features_app(source=MemorySource({}), engine="serial")
    assert "No release plans stored yet" in plain(panel.status.value)
    assert panel.run_button.disabled
    assert panel.input_problems[0].field == "portfolio"


def test_the_ledger_source_reads_the_demo_plan_and_an_empty_ledger_is_said_plainly(tmp_path):
    from flowray import pipeline

    db = tmp_path / "demo.duckdb"
    pipeline.seed_demo(db)
    panel = features_app(db_path=db, engine="serial")
    assert panel.picker.value == "Release plan"
    assert not panel.run_button.disabled

    missing = features_app(db_path=tmp_path / "nothing-here.duckdb", engine="serial")
    assert "No release plans stored yet" in plain(missing.status.value)
    assert missing.run_button.disabled


# -- checked fields -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("edit", "field", "words"),
    [
        (
            lambda p: setattr(row(p, "Login").low, "value", "-3"),
            "features[Login].size",
            "you entered -3",
        ),
        (
            lambda p: setattr(row(p, "Search").high, "value", "5"),
            "features[Search].size.high",
            "at least the size it runs from (10)",
        ),
        (
            lambda p: setattr(row(p, "Login").teams, "value", "web, nobody"),
            "features[Login].teams",
            "'nobody' is not a team of this plan",
        ),
        (
            lambda p: setattr(row(p, "Login").teams, "value", " , "),
            "features[Login].teams",
            "name at least one team",
        ),
        (lambda p: setattr(p.wip["web"], "value", "0"), "teams[web].feature_wip", "you entered 0"),
        (lambda p: setattr(p.level, "value", "100"), "level", "strictly between 0 and 100"),
        (
            lambda p: setattr(p.target, "value", "2026-08-01"),
            "target",
            "must not be before the start (17 August 2026)",
        ),
        (lambda p: setattr(p.target, "value", "soon"), "target", "YYYY-MM-DD"),
        (lambda p: setattr(p.runs, "value", "0"), "runs", "you entered 0"),
    ],
)
def test_a_bad_field_is_named_under_it_and_run_stays_off(edit, field, words):
    panel = make_panel()
    edit(panel)
    assert panel.run_button.disabled
    assert [p.field for p in panel.input_problems] == [field]
    label = plan_field_label(field)
    box = next(b for b in panel.checked_boxes() if b.field == field)
    message = plain(box.message.value)
    assert message.startswith(f"Please check {label}:") and words in message, message
    assert label in plain(panel.problems_text.value)


def test_fixing_the_field_turns_run_back_on_and_labels_read_as_the_page():
    panel = make_panel()
    box = row(panel, "Search").high
    box.value = "5"
    assert panel.run_button.disabled
    box.value = "25"
    assert not panel.run_button.disabled and panel.problems_text.value == ""
    assert box.message.value == ""
    assert plan_field_label("features[Search].size.high") == "Size of Search (up to)"
    assert plan_field_label("teams[web].feature_wip") == "Features at once for web"
    assert plan_field_label("runs") == "Simulated futures"


def test_size_modes_show_the_boxes_they_need_and_build_the_feature():
    panel = make_panel()
    login = row(panel, "Login")
    login.mode.value = "range"
    assert login.high.layout.display is None and login.low.field == "features[Login].size.low"
    login.low.value, login.high.value = "8", "14"
    login.mode.value = "unknown"
    assert login.low.layout.display == "none" and login.high.layout.display == "none"
    login.mode.value = "range"
    login.teams.value = "api, web"
    built = panel.build_portfolio()
    assert built.features[0].size == (8, 14) and built.features[0].teams == ("api", "web")
    row(panel, "Export").mode.value = "known"
    row(panel, "Export").low.value = ""  # a known size needs its number
    assert panel.run_button.disabled
    assert panel.input_problems[0].field == "features[Export].size"


def test_unknown_size_is_offered_only_with_past_feature_sizes():
    panel = make_panel(
        source=MemorySource({"Release plan": plan(feature_sizes=(), features=plan().features[:2])})
    )
    assert "unknown" not in [value for _, value in panel.rows[0].mode.options]


# -- a run, the answer ---------------------------------------------------------------------------------
def test_a_serial_run_fills_the_table_and_cut_line_from_the_same_runs():
    panel = make_panel()
    run_to_end(panel)
    want = expected(plan())
    got = panel.result
    assert got is not None and got.histograms.equals(want.histograms)
    k = want.cut_line()
    joint = want.all_done_by_target()
    assert k == 3 and joint[3] < want.probability_by_target(3), (
        "the fixture shows 'together' at work"
    )

    def with_error(p: float) -> str:
        return f"{format_probability(p)} ±{want.probability_error(p) * 100:.1f} pt"

    error = f"±{want.probability_error(joint[k - 1]) * 100:.1f} pt"
    headline = plain(panel.headline.value)
    assert f"Features 1-{k} are all done by {long_date(TARGET)} with" in headline
    assert format_probability(joint[k - 1]) in headline and error in headline
    # the table: features in order, their dates and chances, the cut line after feature k
    table = plain(panel.table.value)
    names = ["Login", "Search", "Export", "Billing", "Ghosted"]
    positions = [table.index(f" {name} ") for name in names]
    assert positions == sorted(positions)
    cut = table.index("Cut line: features 1-3 all done by")
    assert positions[2] < cut < positions[3]
    for f in range(4):
        for level in (50, 75):
            assert long_date(want.date_of(want.percentile(f, level))) in table
    billing = table[positions[3] : positions[4]]
    assert with_error(want.probability_by_target(3)) in billing
    ghosted = table[positions[4] :]
    assert "cannot be forecast: ghost has no throughput history and no estimate" in ghosted
    assert "100%" not in table + headline
    why = plain(panel.why.value)
    assert "on its own" in why and "together" in why
    alone = with_error(want.probability_by_target(3))
    assert f"Billing on its own is {alone}, features 1-4 together {with_error(joint[3])}" in why
    assert "cannot pass Ghosted" in why
    # the chart: one range per forecastable feature, the target line, the first feature on top
    shown = panel.chart.shown()
    assert shown["layout"]["yaxis"]["categoryarray"] == names
    assert shown["layout"]["shapes"][0]["x0"] == TARGET.isoformat()
    assert len(panel.chart.figure.data[1].x) == 4
    assert "Ghosted" in str(panel.chart.figure.layout.annotations)
    # analysts' terms only behind the toggle
    main = plain(panel.headline.value + panel.why.value + panel.table.value)
    for word in ("percentile", "PIT", "seed", "Seed"):
        assert word not in main
    assert "Seed" in panel.details_html.value and panel.details.layout.display is None
    assert not panel.save_button.disabled and not panel.busy and panel.cancel_button.disabled
    assert panel.progress.value == panel.progress.max


def test_moving_a_feature_greys_the_answer_and_the_next_run_says_what_moved():
    panel = make_panel()
    run_to_end(panel)
    before = panel.result
    billing = row(panel, "Billing")
    panel.move(billing, -1)  # as the up button does; the buttons are wired below
    billing.up.click()
    assert panel.order == ["Login", "Billing", "Search", "Export", "Ghosted"]
    assert panel.stale and panel.result is None and panel.save_button.disabled
    assert "Stale" in panel.headline.value and "opacity:0.45" in panel.table.value
    assert "Inputs changed" in plain(panel.status.value)
    assert panel.chart.figure.data[0].line.color == "#bdbdbd"

    run_to_end(panel)
    after = expected(panel.result.portfolio)
    assert panel.result.histograms.equals(after.histograms)
    assert not panel.stale and "Stale" not in panel.headline.value
    moved = plain(panel.moved.value)
    assert "What moved since the last run" in moved
    for name in ("Billing", "Search"):
        old, new = before.percentile(name, 75), after.percentile(name, 75)
        assert old != new
        assert (
            f"{name} {long_date(before.date_of(old))} {long_date(after.date_of(new))}"
            in " ".join(moved.split())
        )
    assert "weeks later" in moved and "earlier" in moved  # Search slipped, Billing came forward


def test_a_wip_change_is_a_what_if_too():
    panel = make_panel()
    run_to_end(panel)
    panel.wip["web"].value = "2"
    assert panel.stale and panel.save_button.disabled
    run_to_end(panel)
    assert panel.result.portfolio.teams[0].feature_wip == 2
    assert panel.result.histograms.equals(expected(panel.result.portfolio).histograms)
    assert panel.moved.value and "opacity" not in panel.moved.value
    panel.level.value = "80"
    assert "opacity:0.45" in panel.moved.value, "what moved is part of the stale answer"


def test_save_keeps_the_complete_current_answer_once():
    source = MemorySource({"Release plan": plan()})
    panel = make_panel(source=source)
    assert panel.save_button.disabled, "nothing to save before a run"
    run_to_end(panel)
    panel.save_name.value = "with Billing late"
    panel.save_button.click()
    assert source.saved and len(source.saved) == 1
    name, portfolio, result, forecast_name = source.saved[0]
    assert (name, forecast_name) == ("Release plan", "with Billing late")
    assert result is panel.result and portfolio == result.portfolio
    assert "Saved as forecast #1" in plain(panel.status.value)
    assert panel.save_button.disabled, "saved once"
    row(panel, "Login").low.value = "13"
    assert panel.save_button.disabled


def test_save_is_off_for_a_stale_answer_even_after_a_failed_click():
    panel = make_panel()
    run_to_end(panel)
    panel.level.value = "90"
    assert panel.save_button.disabled and not panel.can_save()
    panel.save_button.click()  # a click that slips through is refused in words
    assert panel.saved_id is None


# -- cancel ------------------------------------------------------------------------------------------------
def test_cancel_stops_a_long_run_and_the_partial_answer_cannot_be_saved():
    panel = make_panel()
    panel.runs.value = 50_000_000  # far longer than the wait for its first chunks

    async def run_then_cancel() -> None:
        panel.run_button.click()
        assert not panel.cancel_button.disabled, "Cancel is usable while the job runs"
        for _ in range(12_000):  # until a partial answer is on screen (at most 2 minutes)
            if panel.partial_updates:
                break
            await asyncio.sleep(0.01)
        panel.cancel_button.click()
        await panel.wait()

    drive(run_then_cancel)
    progress = panel.job.progress()
    assert str(progress.state) == "CANCELLED"
    assert progress.runs_done < progress.runs_total
    assert "Cancelled after" in plain(panel.status.value)
    assert panel.result is None and panel.save_button.disabled
    assert panel.shown is not None and not panel.shown_final
    assert "so far, from" in plain(panel.headline.value)
    assert not panel.busy and not panel.run_button.disabled and panel.cancel_button.disabled


def test_picking_another_plan_clears_the_answer_and_starts_a_new_comparison():
    panel = make_panel()
    run_to_end(panel)
    panel.picker.value = "Other plan"
    assert panel.shown is None and panel.result is None and panel.save_button.disabled
    assert "Check the list of Other plan" in plain(panel.headline.value)
    assert panel.table.value == "" and panel.chart.widget.layout.display == "none"
    assert not panel.stale
    run_to_end(panel)
    assert panel.result.portfolio.level == 70.0
    assert panel.moved.value == "", "no comparison with another plan's run"


def test_a_first_feature_that_cannot_be_forecast_draws_no_cut_line():
    ghost_first = plan()
    ghost_first = ghost_first.with_changes(features=ghost_first.features[::-1])
    panel = make_panel(source=MemorySource({"Release plan": ghost_first}))
    run_to_end(panel)
    assert panel.result.cut_line() == 0
    headline = plain(panel.headline.value)
    assert "Feature 1 (Ghosted) cannot be forecast, so no cut line can be drawn" in headline
    assert "Cut line: none, feature 1 cannot be forecast" in plain(panel.table.value)


def test_team_names_are_read_whole_even_with_a_comma_in_them():
    from flowray.widgets.features import split_teams

    known = ["web", "R,D", "web2"]
    assert split_teams("R,D, web", known) == ["R,D", "web"]
    assert split_teams("web2,web", known) == ["web2", "web"]
    assert split_teams("web,, nobody ,", known) == ["web", "nobody"]
    assert split_teams(" , ", known) == []
    both = plan().with_changes(
        teams=(*plan().teams[:2], dataclasses.replace(plan().teams[0], name="R,D")),
        features=(dataclasses.replace(plan().features[0], teams=("R,D", "web")),),
    )
    panel = make_panel(source=MemorySource({"Release plan": both}))
    assert panel.rows[0].teams.value == "R,D, web"
    assert not panel.run_button.disabled, panel.problems_text.value
    assert panel.build_portfolio().features[0].teams == ("R,D", "web")
