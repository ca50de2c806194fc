"""The demo is built relative to the day it is seeded, and is rebuilt, never lost, when out of date."""

from __future__ import annotations

import datetime as dt

import pytest

from flowray import pipeline
from flowray.data import last_full_week, load_demo_series
from flowray.exceptions import InputError
from flowray.store import Store

TODAY = dt.date(2026, 12, 9)  # a Wednesday: last week began on Monday 30 November


def test_last_full_week_is_the_monday_of_the_week_before():
    assert last_full_week(TODAY) == dt.date(2026, 11, 30)
    assert last_full_week(dt.date(2026, 12, 7)) == dt.date(2026, 11, 30)  # a Monday
    assert last_full_week(dt.date(2026, 12, 13)) == dt.date(2026, 11, 30)  # a Sunday


def test_redating_keeps_the_numbers_and_ends_last_week():
    original = load_demo_series("pytest-dev/pytest")
    redated = load_demo_series("pytest-dev/pytest", as_of=TODAY)
    assert [v for _, v in redated] == [v for _, v in original]
    assert redated[-1][0] == dt.date(2026, 11, 30)
    assert all((b[0] - a[0]).days == 7 for a, b in zip(redated, redated[1:], strict=False))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Store:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    pipeline.seed_demo(path, today=TODAY)
    return Store(path, create=False)


def test_the_seeded_demo_is_current_on_its_day(seeded):
    for project in seeded.list_projects():
        history = seeded.get_throughput(project.name)
        assert history[-1].period_start == dt.date(2026, 11, 30)
        assert project.target_date is not None and project.target_date > TODAY
    for actual in seeded.list_actuals():
        assert actual.completed_on <= TODAY
    live = [f for f in seeded.list_forecasts() if f.name and " as of " in f.name]
    assert max(f.start_date for f in live) == dt.date(2026, 12, 7)  # the week after the history


def test_status_reads_current_then_out_of_date_a_week_later(seeded):
    assert pipeline.demo_status(seeded.path, today=TODAY).state == "current"
    later = pipeline.demo_status(seeded.path, today=TODAY + dt.timedelta(days=7))
    assert later.state == "out of date" and later.last_week == dt.date(2026, 11, 30)


def test_status_of_a_missing_file_creates_nothing(tmp_path):
    path = tmp_path / "nothing.duckdb"
    assert pipeline.demo_status(path).state == "missing"
    assert not path.exists()


def test_reset_rebuilds_as_of_the_new_day_and_keeps_the_old_file(seeded, tmp_path):
    path = tmp_path / "demo.duckdb"
    path.write_bytes(seeded.path.read_bytes())
    later = TODAY + dt.timedelta(days=21)
    summary = pipeline.reset_demo(path, today=later)
    assert summary["kept"] is not None
    kept = Store(summary["kept"], create=False)
    assert len(kept.list_forecasts()) == len(seeded.list_forecasts())  # nothing lost
    fresh = Store(path, create=False)
    assert fresh.get_throughput("Pytest Core")[-1].period_start == last_full_week(later)
    assert pipeline.demo_status(path, today=later).state == "current"


def test_reset_refuses_a_ledger_that_is_not_a_demo(tmp_path):
    path = tmp_path / "real.duckdb"
    Store(path).add_project("Payments")
    with pytest.raises(InputError) as caught:
        pipeline.reset_demo(path, today=TODAY)
    assert caught.value.field == "db" and "not the demo" in caught.value.rule
    assert [p.name for p in Store(path, create=False).list_projects()] == ["Payments"]


def test_the_demo_has_a_stored_release_plan_that_forecasts(seeded):
    from flowray.pipeline.demo import DEMO_PORTFOLIO, demo_portfolio_definition

    assert pipeline.list_portfolios(seeded) == [DEMO_PORTFOLIO]
    portfolio = pipeline.load_portfolio(DEMO_PORTFOLIO, seeded)
    assert [t.project for t in portfolio.teams] == [name for _, name, *_ in pipeline.DEMO_PROJECTS]
    assert len(portfolio.features) == 8
    assert portfolio.start == dt.date(2026, 12, 7) and portfolio.target == dt.date(2027, 2, 15)
    sizes = [f.size for f in portfolio.features]
    assert None in sizes and any(isinstance(s, tuple) for s in sizes)  # unknown and ranges
    assert any(len(f.teams) == 2 for f in portfolio.features)  # one shared by two teams
    assert portfolio.level == 85
    assert demo_portfolio_definition(portfolio.start)["features"][0]["name"] == "Plugin API cleanup"
    (saved,) = pipeline.list_portfolio_forecasts(DEMO_PORTFOLIO, seeded)
    assert 0 < saved.cut_line < len(portfolio.features)  # the cut line falls inside the list
    joint = [f.all_done_by_target for f in saved.features]
    assert joint[saved.cut_line - 1] >= 0.85 > joint[saved.cut_line]
    # and it forecasts again from the stored definition and the stored histories
    from flowray.jobs import SERIAL
    from flowray.jobs.portfolio import submit_portfolio

    again = submit_portfolio(SERIAL, portfolio, 2_000, 1).result()
    assert again.runs == 2_000 and 0 < again.cut_line() < len(portfolio.features)
