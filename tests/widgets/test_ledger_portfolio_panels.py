"""Ledger and portfolio panels on the demo ledger (`flowray demo`): what a stakeholder reads."""

from __future__ import annotations

import datetime as dt
import re

from widget_helpers import PROJECT, START, demo_throughput

from flowray import Scenario, pipeline, simulate
from flowray.text import format_probability, long_date, short_date
from flowray.widgets import ledger_app, portfolio_app
from flowray.widgets.portfolio import project_status


def text(value: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", value).split())


def test_ledger_panel_shows_how_the_p85_date_moved(demo_db):
    ledger = pipeline.forecast_ledger("Pytest Core", demo_db)
    plans = ledger[ledger["kind"].isin(["when", "deadline"])]
    panel = ledger_app(demo_db, project="Pytest Core")

    assert panel.project.value == "Pytest Core"
    assert panel.last_error is None, panel.status.value
    latest = plans.iloc[-1]
    assert f"85% likely by {long_date(latest['p85_date'])}" in text(panel.summary.value)
    # one point per saved forecast, its 85% date, in the order of the forecasts' start dates
    line = panel.chart.data[0]
    assert list(line.y) == [d.isoformat() for d in plans.sort_values("start")["p85_date"]]
    assert panel.chart.layout.xaxis.title.text and panel.chart.layout.yaxis.title.text
    assert {s["y0"] for s in panel.chart.layout.shapes} == {
        d.isoformat() for d in plans["deadline"].dropna()
    }
    for fid in ledger["id"]:
        assert f"#{fid}" in panel.table.value


def test_ledger_panel_shows_forecasts_against_actuals_and_calibration(demo_db):
    actuals = pipeline.forecasts_vs_actuals("Pytest Core", demo_db)
    calibration = pipeline.calibration_table("Pytest Core", demo_db)
    panel = ledger_app(demo_db, project="Pytest Core")

    assert len(actuals) >= 1
    done = []
    for _, row in actuals.iterrows():
        assert f"#{row['id']}" in panel.actuals.value
        done_on = row["start"] + dt.timedelta(weeks=int(row["actual"]))  # demo periods are weeks
        assert short_date(done_on) in panel.actuals.value
        done.append(done_on.isoformat())
    # the chart marks when the work of each resolved forecast was actually done
    assert sorted(panel.chart.data[2].y) == sorted(done)
    row85 = calibration[calibration["level"] == 85].iloc[0]
    assert (
        f"Of {row85['n']} resolved forecast(s), the 85% answer was met {row85['met']} time(s)"
        in text(panel.calibration.value)
    )


def test_ledger_panel_follows_the_project_picker(demo_db):
    panel = ledger_app(demo_db, project="Pytest Core")
    panel.project.value = "Mockito Release"
    ledger = pipeline.forecast_ledger("Mockito Release", demo_db)
    assert f"{len(ledger)} forecast(s) of Mockito Release" in panel.status.value
    assert all(f"#{fid}" in panel.table.value for fid in ledger["id"])
    assert not panel.busy and not panel.project.disabled


def test_portfolio_lists_every_active_project_at_risk_first(demo_db):
    frame = pipeline.portfolio(demo_db)
    panel = portfolio_app(demo_db)

    assert panel.last_error is None, panel.status.value
    body = text(panel.table.value)
    positions = [body.index(name) for name in frame["project"]]
    assert positions == sorted(positions), "the panel keeps the pipeline's riskiest-first order"
    statuses = [project_status(row) for _, row in frame.iterrows()]
    order = {"At risk": 0, "Watch": 1, "On track": 2, "No deadline": 3, "No plan": 3}
    assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)
    for _, row in frame.iterrows():
        assert short_date(row["p85_date"]) in body
        assert format_probability(row["p_deadline"]) in body
    # the chart has one bar per project, riskiest on top (plotly draws the last category on top)
    bars = panel.chart.data[0]
    assert list(bars.y)[::-1] == list(frame["project"])
    assert list(bars.x)[::-1] == [round(p * 100, 1) for p in frame["p_deadline"]]


def test_portfolio_shows_the_trend_since_the_previous_forecast(demo_db):
    frame = pipeline.portfolio(demo_db)
    panel = portfolio_app(demo_db)
    body = text(panel.table.value)
    for change in frame["p_deadline_change"].dropna():
        points = round(change * 100)
        assert (f"up {abs(points)} points" if points > 0 else f"down {abs(points)} points") in body


def test_portfolio_shows_actuals_and_calibration_across_projects(demo_db):
    actuals = pipeline.forecasts_vs_actuals(None, demo_db)
    panel = portfolio_app(demo_db)
    assert len(actuals) >= 2
    assert len(re.findall(r"<tr", panel.actuals.value)) == len(actuals) + 1  # header + one row each
    for _, row in actuals.iterrows():
        assert (
            f"<td style='padding:3px 10px;border-bottom:1px solid #eee;white-space:nowrap'>{row['project']}</td>"
            in panel.actuals.value
        )
        assert f"#{row['id']}" in panel.actuals.value
    assert "85%" in panel.calibration.value and "resolved forecast" in panel.calibration.value


def test_portfolio_refresh_sees_a_newly_saved_forecast(project_db):
    panel = portfolio_app(project_db)
    assert "No plan" in panel.table.value and PROJECT in panel.table.value

    result = simulate(
        Scenario(
            throughput=demo_throughput(26),
            backlog=30,
            start=START,
            deadline=START.replace(year=START.year + 1),
        ),
        runs=2000,
        seed=1,
    )
    pipeline.save_plan(PROJECT, result, project_db)  # the portfolio follows plans
    panel.refresh_button.click()

    assert short_date(result.date_at(85)) in panel.table.value
    assert not panel.refresh_button.disabled


def test_panels_on_an_empty_database_say_so(tmp_path):
    db = tmp_path / "empty.duckdb"
    assert "No active projects" in portfolio_app(db).table.value
    assert "No projects" in ledger_app(db).status.value


def test_ledger_table_says_how_each_forecast_was_made(demo_db):
    from flowray.widgets.ledger import _method_words

    assert _method_words("recency+cal, window 12") == "recency, last 12, calibrated"
    assert _method_words("bootstrap, window all") == "bootstrap, all history"
    assert _method_words(None) == "-"  # rows saved before forecasts recorded their method
    panel = ledger_app(demo_db, project="Pytest Core")
    assert "Method" in text(panel.table.value)
