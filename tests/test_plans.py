"""A project's plan is set on purpose; saved what-ifs never change what the portfolio and the batch follow."""

from __future__ import annotations

import datetime as dt
import inspect
import re
from pathlib import Path

import duckdb
import pytest

from flowray import pipeline
from flowray import store as store_module
from flowray.cli import main
from flowray.core import backtest
from flowray.core.forecast import how_many, simulate
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError
from flowray.pipeline import batch
from flowray.records import base, export, ledger, legacy, projects, schema, scores
from flowray.store import SCHEMA_VERSION, Store
from flowray.widgets.portfolio import project_status

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = ROOT / "tests" / "fixtures" / "tracker_exports"
RUNS = 2000
TODAY = dt.date.today()
PATTERN = [3, 4, 5, 2, 6, 4, 3, 5, 4, 4]  # about 4 items a week
WEEKS = 20
V5_TABLES = (  # the portfolio tables of schema v5, dependents first
    "portfolio_feature_score_levels",
    "portfolio_feature_scores",
    "portfolio_forecast_distribution",
    "portfolio_forecast_features",
    "portfolio_forecasts",
    "portfolio_features_done",
    "portfolio_definitions",
    "portfolios",
)


def history(weeks: int = WEEKS) -> list[tuple[dt.date, int]]:
    """`weeks` weekly periods, the last one ending today."""
    first = TODAY - dt.timedelta(weeks=weeks)
    return [(first + dt.timedelta(weeks=k), PATTERN[k % len(PATTERN)]) for k in range(weeks)]


def when(backlog: int, *, deadline: dt.date | None = None) -> Scenario:
    items = [float(v) for _, v in history()]
    return Scenario(throughput=items, backlog=backlog, start=TODAY, deadline=deadline)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ledger.duckdb"


@pytest.fixture
def store(db: Path) -> Store:
    return Store(db)


@pytest.fixture
def apollo(store: Store) -> Store:
    """Project Apollo: 20 weeks of history, a target date ten weeks ahead."""
    store.add_project("Apollo", target_date=TODAY + dt.timedelta(weeks=10))
    store.set_throughput("Apollo", history())
    return store


# -- the plan history ------------------------------------------------------------------------


def test_a_saved_forecast_is_a_what_if_until_it_is_made_the_plan(apollo):
    first = pipeline.save_forecast("Apollo", simulate(when(40), RUNS, 1), apollo)
    second = pipeline.save_forecast("Apollo", simulate(when(50), RUNS, 2), apollo)
    assert apollo.get_plan("Apollo") is None
    assert [f.role for f in apollo.list_forecasts("Apollo")] == ["what-if", "what-if"]

    made = pipeline.make_plan("Apollo", first, apollo)
    assert (made.project, made.forecast_id, made.how) == ("Apollo", first, "page")
    assert made.set_by == base.current_user()
    assert [f.role for f in apollo.list_forecasts("Apollo")] == ["plan", "what-if"]

    apollo.set_plan("Apollo", second, set_by="ana", how="cli")
    assert [f.role for f in apollo.list_forecasts("Apollo")] == ["past plan", "plan"]
    plans = apollo.list_plans("Apollo")
    assert [(p.forecast_id, p.set_by, p.how) for p in plans] == [
        (first, base.current_user(), "page"),
        (second, "ana", "cli"),
    ]
    assert plans[0].set_at <= plans[1].set_at
    assert apollo.get_plan("Apollo") == plans[-1]
    assert apollo.get_forecast(second).role == "plan"

    # setting the plan in force again records nothing new
    assert apollo.set_plan("Apollo", second) == plans[-1]
    assert len(apollo.list_plans()) == 2
    # the plan history is shown to the pages as a table, the plan in force last
    frame = pipeline.plan_history("Apollo", apollo)
    assert list(frame["forecast_id"]) == [first, second] and list(frame["how"]) == ["page", "cli"]
    assert pipeline.project_plan("Apollo", apollo).forecast_id == second


def test_a_plan_that_cannot_be_one_is_refused_by_name(apollo):
    apollo.add_project("Hermes")
    theirs = apollo.save_forecast("Hermes", simulate(when(30), RUNS, 3).to_dict())
    many = apollo.save_forecast("Apollo", how_many(when(0), 4, RUNS, 4).to_dict())
    ours = apollo.save_forecast("Apollo", simulate(when(30), RUNS, 5).to_dict())

    with pytest.raises(
        InputError, match=r"forecast_id: got \d+; is a forecast of project 'Hermes'"
    ) as e:
        pipeline.make_plan("Apollo", theirs, apollo)
    assert e.value.field == "forecast_id" and e.value.value == theirs
    with pytest.raises(InputError, match="forecast_id: got 999; no such forecast"):
        apollo.set_plan("Apollo", 999)
    with pytest.raises(InputError, match="is a how_many forecast; a plan is a when or deadline"):
        apollo.set_plan("Apollo", many)
    with pytest.raises(InputError, match="project: got 'Nobody'; no such project"):
        apollo.set_plan("Nobody", ours)
    with pytest.raises(InputError, match="how: got 'by hand'"):
        apollo.set_plan("Apollo", ours, how="by hand")
    # saving a how-many as a plan is refused before anything is written
    before = len(apollo.list_forecasts())
    with pytest.raises(InputError, match="kind: got 'how_many'; is a how_many forecast"):
        apollo.save_plan("Apollo", how_many(when(0), 4, RUNS, 4).to_dict())
    assert len(apollo.list_forecasts()) == before
    assert apollo.list_plans() == []


def test_save_plan_saves_and_sets_in_one_step(apollo):
    fid = pipeline.save_plan(
        "Apollo",
        simulate(when(40), RUNS, 1),
        apollo,
        how="cli",
        history_periods=apollo.get_throughput("Apollo"),
    )
    plan = apollo.get_plan("Apollo")
    assert plan is not None and (plan.forecast_id, plan.how) == (fid, "cli")
    record = apollo.get_forecast(fid)
    assert record.role == "plan" and record.data_periods == WEEKS


def test_plans_are_append_only():
    """No statement outside the migrations rewrites or deletes a plan record."""
    source = "".join(
        inspect.getsource(m)
        for m in (store_module, base, export, ledger, legacy, projects, schema, scores)
    )
    assert "INSERT INTO forecast_plans" in source
    assert not re.search(r"UPDATE\s+forecast_plans\b", source, re.IGNORECASE)
    assert not re.search(r"DELETE\s+FROM\s+forecast_plans\b", source, re.IGNORECASE)


# -- the story -------------------------------------------------------------------------


def test_a_saved_what_if_changes_neither_the_portfolio_nor_the_batch(apollo):
    target = TODAY + dt.timedelta(weeks=10)
    plan = pipeline.save_plan("Apollo", simulate(when(45, deadline=target), RUNS, 1), apollo)
    before = pipeline.portfolio(apollo)
    (row,) = before.to_dict(orient="records")
    assert row["latest_forecast"] == plan and project_status(row) == "At risk"

    # a new user tries 150 items without a deadline, and saves it
    what_if = pipeline.save_forecast("Apollo", simulate(when(150), RUNS, 2), apollo)
    assert apollo.get_forecast(what_if).role == "what-if"

    after = pipeline.portfolio(apollo)
    assert after.equals(before)
    assert project_status(after.to_dict(orient="records")[0]) == "At risk"
    assert batch._plan_of(apollo, "Apollo").forecast_id == plan  # what the batch re-makes

    report = pipeline.run_batch(apollo, runs=RUNS, seed=3, engine="serial")
    (made,) = report.summary.to_dict(orient="records")
    assert made["backlog"] == 45 and made["deadline"] == target  # the plan's, not the what-if's
    assert made["previous_p_deadline"] == apollo.get_forecast(plan).p_deadline
    assert list(report.alerts["project"]) == ["Apollo"]  # still at risk, still alerted


def test_the_batch_follows_the_plan_forward_and_each_run_says_which_plan_it_followed(apollo):
    target = TODAY + dt.timedelta(weeks=10)
    first = pipeline.save_plan("Apollo", simulate(when(45, deadline=target), RUNS, 1), apollo)

    one = pipeline.run_batch(apollo, runs=RUNS, seed=3, engine="serial")
    (row_one,) = one.summary.to_dict(orient="records")
    assert f"plan {first}" in row_one["question"]
    two = pipeline.run_batch(apollo, runs=RUNS, seed=3, engine="serial")
    (row_two,) = two.summary.to_dict(orient="records")

    plans = apollo.list_plans("Apollo")
    assert [p.forecast_id for p in plans] == [first, row_one["forecast_id"], row_two["forecast_id"]]
    assert [p.how for p in plans] == ["api", "batch", "batch"]
    assert f"plan {row_one['forecast_id']}" in row_two["question"]
    assert row_two["previous_p_deadline"] == row_one["p_deadline"]
    # the portfolio shows the latest re-made plan, with its trend since the plan before it
    (row,) = pipeline.portfolio(apollo).to_dict(orient="records")
    assert row["latest_forecast"] == row_two["forecast_id"] and row["forecasts"] == 3
    assert row["p_deadline_change"] == pytest.approx(row_two["p_deadline"] - row_one["p_deadline"])


# -- a project without a plan ---------------------------------------------------------------------


def test_an_imported_project_without_a_plan_gets_a_forecast_from_the_batch(db, capsys):
    path = EXPORTS / "jira_all_fields.csv"
    assert main(["import", "items", str(path), "--project", "web", "--db", str(db)]) == 0
    store = Store(db)
    store.add_project("later", target_date=TODAY + dt.timedelta(weeks=6))
    assert main(["import", "items", str(path), "--project", "later", "--db", str(db)]) == 0
    store.add_project("empty")
    store.add_project("short")
    store.set_throughput("short", history(3))
    capsys.readouterr()

    report = pipeline.run_batch(db, runs=RUNS, seed=1, engine="serial")

    summary = report.to_summary()
    assert sorted(summary["forecast"]) == sorted(summary["outlook"]) == ["later", "web"]
    skipped = dict(s.split(": ", 1) for s in summary["skipped"])
    assert sorted(skipped) == ["empty", "short"]
    assert "no throughput history" in skipped["empty"]
    assert "only 3 periods of history" in skipped["short"]
    assert summary["failed"] == [] and summary["alerts"] == []
    rows = {r["project"]: r for r in report.summary.to_dict(orient="records")}
    web, later = rows["web"], rows["later"]
    assert web["question"] == "how many items in the next 8 periods"
    assert (
        later["question"]
        == f"how many items by the target date {(TODAY + dt.timedelta(weeks=6)).isoformat()}"
    )
    for row in (web, later):
        record = store.get_forecast(int(row["forecast_id"]))
        assert (record.kind, record.unit, record.role) == ("how_many", "items", "outlook")
        assert record.result["batch"]["role"] == "outlook"
        assert record.result["method"]["name"] == backtest.DEFAULT_METHOD
        assert 0 < row["items_p85"] <= row["items_p50"] and row["p_deadline"] is None
    start = store.get_forecast(int(web["forecast_id"])).start_date
    assert start == TODAY
    assert store.get_forecast(int(web["forecast_id"])).horizon_date == start + dt.timedelta(weeks=8)
    assert store.get_forecast(int(later["forecast_id"])).horizon_date == TODAY + dt.timedelta(
        weeks=6
    )
    # an outlook is not a plan: the projects still have none
    assert store.get_plan("web") is None and store.get_plan("later") is None


# -- the migration ---------------------------------------------------------------------------------


def test_a_ledger_from_before_plans_gets_each_projects_latest_flowray_plan(db):
    store = Store(db)
    for name in ("Apollo", "Hermes", "Zeus"):
        store.add_project(name)
    older = store.save_forecast("Apollo", simulate(when(40), RUNS, 1).to_dict())
    latest = store.save_forecast(
        "Apollo", simulate(when(40, deadline=TODAY + dt.timedelta(weeks=9)), RUNS, 2).to_dict()
    )
    store.save_forecast("Apollo", how_many(when(0), 4, RUNS, 3).to_dict())  # later, not a plan
    store.save_forecast("Hermes", how_many(when(0), 4, RUNS, 4).to_dict())  # no plan at all
    zeus = store.save_forecast("Zeus", simulate(when(30), RUNS, 5).to_dict())
    con = duckdb.connect(str(db))
    try:  # back to the v3 file this change found: no plans, and a later imported forecast
        for table in V5_TABLES:  # the later migrations' tables first
            con.execute(f"DROP TABLE {table}")
        con.execute("DROP SEQUENCE portfolio_forecast_id_seq")
        con.execute("DROP SEQUENCE portfolio_id_seq")
        con.execute("DROP TABLE forecast_plans")
        con.execute("DROP SEQUENCE plan_id_seq")
        con.execute("DROP TABLE sources")  # and the later migrations, applied again below
        con.execute("DROP SEQUENCE source_id_seq")
        for column in (
            "title", "item_type", "status", "parent_key", "labels", "created_at", "updated_at",
            "source",
        ):  # fmt: skip
            con.execute(f"ALTER TABLE work_items DROP COLUMN {column}")
        con.execute("DELETE FROM schema_version WHERE version >= 4")
        con.execute(
            "INSERT INTO forecasts (project_id, kind, created_at, created_by, source, backlog_low, "
            "backlog_high) SELECT project_id, 'when', now()::TIMESTAMP, 'old', 'flow_forecaster', 9, 9 "
            "FROM projects WHERE name = 'Apollo'"
        )
    finally:
        con.close()
    migrated = Store(db)
    assert migrated.schema_version() == SCHEMA_VERSION
    assert [p.forecast_id for p in migrated.list_plans()] == [latest, zeus]
    plans = {p.project: p for p in migrated.list_plans()}
    assert set(plans) == {"Apollo", "Zeus"}
    saved = migrated.get_forecast(latest)
    assert (plans["Apollo"].set_at, plans["Apollo"].set_by, plans["Apollo"].how) == (
        saved.created_at,
        saved.created_by,
        "migration",
    )
    assert [f.role for f in migrated.list_forecasts("Apollo")] == [
        "what-if",
        "plan",
        "what-if",
        "what-if",
    ]
    assert migrated.get_forecast(older).role == "what-if"
    # the portfolio shows what it showed before the migration
    rows = {r["project"]: r for r in pipeline.portfolio(migrated).to_dict(orient="records")}
    assert rows["Apollo"]["latest_forecast"] == latest and rows["Zeus"]["latest_forecast"] == zeus
    assert project_status(rows["Hermes"]) == "No plan"


# -- the command line -------------------------------------------------------------------------------


def test_when_save_plan_and_forecasts_plan_from_the_command_line(apollo, db, capsys):
    common = ["--project", "Apollo", "--runs", str(RUNS), "--db", str(db)]
    assert main(["when", *common, "--backlog", "40", "--save", "--plan"]) == 0
    out = capsys.readouterr().out
    (plan,) = apollo.list_plans("Apollo")
    assert plan.how == "cli" and f"saved to the ledger as forecast {plan.forecast_id}" in out
    assert "now the plan of project 'Apollo'" in out

    assert main(["when", *common, "--backlog", "150", "--save", "--json"]) == 0
    assert '"plan":false' in capsys.readouterr().out
    what_if = apollo.list_forecasts("Apollo")[-1].forecast_id
    assert apollo.get_plan("Apollo").forecast_id == plan.forecast_id

    assert main(["forecasts", "list", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "role" in lines[0].split()
    assert " plan " in lines[1] and " what-if " in lines[2]

    assert main(["forecasts", "plan", str(what_if), "--db", str(db)]) == 0
    assert f"forecast {what_if} is the plan of project 'Apollo'" in capsys.readouterr().out
    assert [p.forecast_id for p in apollo.list_plans("Apollo")] == [plan.forecast_id, what_if]

    assert main(["forecasts", "plan", "999", "--db", str(db)]) == 2
    assert "forecast_id: got 999; no such forecast in the ledger" in capsys.readouterr().err
    apollo.add_project("Hermes")
    assert main(["forecasts", "plan", str(what_if), "--project", "Hermes", "--db", str(db)]) == 2
    assert "is a forecast of project 'Apollo', not of 'Hermes'" in capsys.readouterr().err
    assert main(["when", "--throughput", "3,4,5,6,7,8", "--backlog", "5", "--plan"]) == 2
    assert "--project: got None; is needed with --plan" in capsys.readouterr().err
    assert len(apollo.list_plans()) == 2
