"""Stored portfolios: definitions, immutable saved forecasts, features done and their scores."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest

from flowray import pipeline
from flowray.core.histograms import Distribution
from flowray.core.portfolio import Portfolio, portfolio_definition
from flowray.core.scoring import periods_between, score_distribution
from flowray.exceptions import InputError
from flowray.importers.portfolio_file import parse_portfolio
from flowray.jobs import SERIAL
from flowray.jobs.portfolio import submit_portfolio
from flowray.pipeline.portfolio import portfolio_as_of, portfolio_from_inputs
from flowray.store import Store

START = dt.date(2026, 1, 5)
RUNS = 2_000

DEFINITION = {
    "start": START.isoformat(),
    "target": "2026-03-30",
    "period_days": 7,
    "level": 85.0,
    "feature_sizes": [3, 5, 8],
    "blackouts": [["2026-02-16", "2026-02-20"]],
    "teams": [
        {"name": "web", "project": "Web", "feature_wip": 2},
        {"name": "api", "estimate": {"low": 1, "likely": 2, "high": 4}},
        {"name": "ops", "throughput": [1, 0, 2, 3], "blackouts": [["2026-01-12", "2026-01-13"]]},
    ],
    "features": [
        {"name": "Login", "size": 6, "done": 2, "teams": ["web"]},
        {"name": "Search", "size": {"web": 8, "api": [2, 4]}},
        {"name": "Payments", "teams": ["api"]},
        {"name": "Reports", "size": [10, 20], "teams": ["web", "ops"]},
    ],
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.duckdb"
    store = Store(path)
    store.add_project("Web")
    weeks = [START - dt.timedelta(weeks=20 - i) for i in range(20)]
    store.set_throughput("Web", [(d, 3 + i % 4) for i, d in enumerate(weeks)])
    return path


def history(db: Path):  # type: ignore[no-untyped-def]
    store = Store(db, create=False)
    return lambda project: store.get_throughput(project)


def forecast(portfolio: Portfolio, seed: int = 3):  # type: ignore[no-untyped-def]
    return submit_portfolio(SERIAL, portfolio, RUNS, seed).result()


def table_rows(db: Path, table: str) -> list[dict]:
    return Store(db, create=False).read_table(table).to_pylist()


# -- the definition -----------------------------------------------------------------------------


def test_an_inline_portfolio_round_trips_through_its_definition():
    inline = parse_portfolio(
        {**DEFINITION, "teams": DEFINITION["teams"][1:] + [{"name": "web", "throughput": [4, 5]}]}
    )
    definition = portfolio_definition(inline)
    assert parse_portfolio(definition) == inline
    assert definition["features"][1]["size"] == {"web": 8, "api": [2, 4]}
    assert definition["teams"][0]["estimate"] == {"low": 1, "likely": 2, "high": 4}


def test_a_project_team_keeps_its_project_name_not_its_history(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    definition = portfolio_definition(portfolio)
    web = definition["teams"][0]
    assert web["project"] == "Web" and "throughput" not in web
    assert parse_portfolio(definition, history=history(db)) == portfolio
    assert portfolio.teams[0].throughput is not None and len(portfolio.teams[0].throughput) == 20


# -- stored definitions -----------------------------------------------------------------------


def test_save_and_load_a_portfolio(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    first = pipeline.save_portfolio("Release", portfolio, db)
    assert pipeline.save_portfolio("Another", portfolio, db) != first
    assert pipeline.list_portfolios(db) == ["Another", "Release"]
    assert pipeline.load_portfolio("Release", db) == portfolio
    # replacing the definition keeps the id; loading gives the new one
    later = portfolio.with_changes(level=70.0)
    assert pipeline.save_portfolio("Release", later, db) == first
    assert pipeline.load_portfolio("Release", db) == later
    revisions = [r["revision"] for r in table_rows(db, "portfolio_definitions")]
    assert sorted(revisions) == [1, 1, 2]


def test_a_stored_portfolio_reads_its_teams_current_history(db):
    pipeline.save_portfolio("Release", parse_portfolio(DEFINITION, history=history(db)), db)
    store = Store(db, create=False)
    store.set_throughput("Web", [(START - dt.timedelta(weeks=1), 9)])
    assert pipeline.load_portfolio("Release", db).teams[0].throughput == (9,)


def test_unknown_names_are_refused_by_name(db):
    with pytest.raises(InputError, match="'Nope'.*no such stored portfolio"):
        pipeline.load_portfolio("Nope", db)
    with pytest.raises(InputError, match="no such stored portfolio"):
        pipeline.list_portfolio_forecasts("Nope", db)
    with pytest.raises(InputError, match="no such stored portfolio"):
        pipeline.mark_feature_done("Nope", "Login", START, db)
    pipeline.save_portfolio("Release", parse_portfolio(DEFINITION, history=history(db)), db)
    with pytest.raises(InputError) as info:
        pipeline.mark_feature_done("Release", "Logout", START, db)
    assert info.value.field == "feature" and "Logout" in str(info.value)
    assert "Login" in str(info.value)  # the known features are named
    assert table_rows(db, "portfolio_features_done") == []


def test_a_portfolio_whose_project_is_missing_is_not_saved(db):
    bad = parse_portfolio(DEFINITION, history=history(db))
    definition = portfolio_definition(bad)
    definition["teams"][0]["project"] = "Gone"
    teams = list(bad.teams)
    teams[0] = parse_portfolio(definition, history=lambda p: history(db)("Web")).teams[0]
    with pytest.raises(InputError, match="Gone"):
        pipeline.save_portfolio("Release", bad.with_changes(teams=tuple(teams)), db)
    assert pipeline.list_portfolios(db) == []


# -- saved forecasts ---------------------------------------------------------------------------


def test_a_saved_forecast_keeps_every_histogram_and_the_joint_answers(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    result = forecast(portfolio)
    fid = pipeline.save_portfolio_forecast("Release", portfolio, result, db, forecast_name="v1")
    assert pipeline.list_portfolios(db) == ["Release"]  # the definition was saved with it
    (record,) = pipeline.list_portfolio_forecasts("Release", db)
    assert record.forecast_id == fid and record.name == "v1" and record.revision == 1
    assert (record.runs, record.seed, record.sampler) == (RUNS, 3, "bootstrap")
    assert record.cut_line == result.cut_line()
    assert [f.feature for f in record.features] == result.feature_names
    joint = result.all_done_by_target()
    for f, feature in enumerate(record.features):
        assert feature.all_done_by_target == joint[f]
        assert feature.p_target == result.probability_by_target(f)
        counts = result.histograms.completion[f]
        stored = Store(db, create=False).get_portfolio_feature_distribution(fid, f + 1)
        dense = np.zeros(portfolio.max_periods + 1, dtype=np.int64)
        for value, count in stored:
            dense[value] = count
        assert np.array_equal(dense, counts[: portfolio.max_periods + 1])
        assert feature.not_done == int(counts[portfolio.max_periods + 1 :].sum())
    assert record.result["features_done_by_target"] == result.features_done_by_target()


def test_a_saved_forecast_is_re_made_bit_for_bit_from_its_inputs(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    result = forecast(portfolio, seed=11)
    pipeline.save_portfolio_forecast("Release", portfolio, result, db)
    # the history moves on; the saved inputs keep the one that was used
    Store(db, create=False).set_throughput("Web", [(START - dt.timedelta(weeks=1), 1)])
    (record,) = pipeline.list_portfolio_forecasts("Release", db)
    again = portfolio_from_inputs(record.inputs)
    assert again == portfolio
    assert forecast(again, seed=record.seed).histograms.equals(result.histograms)


def test_a_forecast_keeps_the_definition_it_was_made_from(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    pipeline.save_portfolio_forecast("Release", portfolio, forecast(portfolio), db)
    pipeline.save_portfolio_forecast("Release", portfolio, forecast(portfolio, 4), db)
    changed = portfolio.with_changes(features=portfolio.features[::-1])
    pipeline.save_portfolio("Release", changed, db)
    first, second = pipeline.list_portfolio_forecasts("Release", db)
    assert first.revision == second.revision == 1  # the same definition saved twice: one revision
    assert first.inputs["definition"] == portfolio_definition(portfolio)
    assert pipeline.load_portfolio("Release", db) == changed


def test_nothing_is_saved_on_error(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    other = portfolio.with_changes(level=60.0)
    with pytest.raises(InputError, match="must be a forecast of this portfolio"):
        pipeline.save_portfolio_forecast("Release", portfolio, forecast(other), db)
    with pytest.raises(InputError, match="name"):
        pipeline.save_portfolio_forecast("  ", portfolio, forecast(portfolio), db)
    with pytest.raises(InputError, match="PortfolioResult"):
        pipeline.save_portfolio_forecast("Release", portfolio, {"runs": 1}, db)  # type: ignore[arg-type]
    assert pipeline.list_portfolios(db) == []
    assert table_rows(db, "portfolio_forecasts") == []
    assert table_rows(db, "portfolio_definitions") == []


def test_the_code_never_updates_or_deletes_a_saved_portfolio_forecast():
    root = Path(__file__).resolve().parents[1] / "flowray"
    source = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py"))
    for table in (
        "portfolio_forecasts",
        "portfolio_forecast_features",
        "portfolio_forecast_distribution",
        "portfolio_definitions",
        "portfolio_feature_scores",
    ):
        assert not re.search(rf"UPDATE\s+{table}\b", source, re.IGNORECASE), table
        assert not re.search(rf"DELETE\s+FROM\s+{table}\b", source, re.IGNORECASE), table


# -- done features and scores ----------------------------------------------------------------


def test_marking_a_feature_done_scores_every_forecast_that_covered_it(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    results = [forecast(portfolio, seed) for seed in (1, 2)]
    for result in results:
        pipeline.save_portfolio_forecast("Release", portfolio, result, db)
    done_on = START + dt.timedelta(days=17)
    pipeline.mark_feature_done("Release", "Search", done_on, db)
    actual = periods_between(START, done_on, 7)
    assert actual == 3
    for record, result in zip(
        pipeline.list_portfolio_forecasts("Release", db), results, strict=True
    ):
        scored = {f.feature: f.score for f in record.features if f.score is not None}
        assert list(scored) == ["Search"]
        score = scored["Search"]
        counts = result.histograms.completion[1]
        horizon = portfolio.max_periods
        dist = Distribution(
            tuple(int(v) for v in np.nonzero(counts[: horizon + 1])[0]),
            tuple(int(c) for c in counts[: horizon + 1] if c),
            RUNS,
        )
        pit, low, high, median, levels = score_distribution(dist, "periods", actual)
        assert (score.actual_value, score.pit, score.pit_low, score.pit_high) == (
            actual,
            pit,
            low,
            high,
        )
        assert score.median == median
        assert {lv.level: lv.met for lv in score.levels.values()} == {
            lv.level: lv.met for lv in levels
        }
        assert score.target_met is True and score.crps is not None and score.crps >= 0
        p = result.probability_by_target("Search")
        assert score.brier == pytest.approx((p - 1.0) ** 2)
    stored = Store(db, create=False).get_portfolio("Release")
    assert [(d.feature, d.done_on) for d in stored.done] == [("Search", done_on)]


def test_a_future_date_or_a_second_mark_is_refused_and_saves_nothing(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    pipeline.save_portfolio_forecast("Release", portfolio, forecast(portfolio), db)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    with pytest.raises(InputError) as info:
        pipeline.mark_feature_done("Release", "Login", tomorrow, db)
    assert info.value.field == "done_on" and tomorrow.isoformat() in str(info.value)
    assert table_rows(db, "portfolio_features_done") == []
    assert table_rows(db, "portfolio_feature_scores") == []
    pipeline.mark_feature_done("Release", "Login", START, db)
    with pytest.raises(InputError, match="already marked done"):
        pipeline.mark_feature_done("Release", "Login", START, db)
    assert len(table_rows(db, "portfolio_feature_scores")) == 1


def test_a_forecast_that_started_after_the_feature_was_done_is_not_scored(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    pipeline.save_portfolio_forecast("Release", portfolio, forecast(portfolio), db)
    pipeline.mark_feature_done("Release", "Login", START - dt.timedelta(days=1), db)
    assert table_rows(db, "portfolio_feature_scores") == []


def test_as_of_today_done_features_are_left_out_and_the_start_moves(db):
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    pipeline.save_portfolio("Release", portfolio, db)
    pipeline.mark_feature_done("Release", "Login", START, db)
    today = START + dt.timedelta(days=10)
    now = portfolio_as_of("Release", db, today=today)
    assert [f.name for f in now.features] == ["Search", "Payments", "Reports"]
    assert now.start == today and now.target == portfolio.target
    with pytest.raises(InputError, match="has passed"):
        portfolio_as_of("Release", db, today=dt.date(2026, 4, 1))


def test_the_portfolio_tables_export_as_parquet_and_csv(db, tmp_path):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    portfolio = parse_portfolio(DEFINITION, history=history(db))
    fid = pipeline.save_portfolio_forecast("Release", portfolio, forecast(portfolio), db)
    pipeline.mark_feature_done("Release", "Login", START + dt.timedelta(days=3), db)
    store = Store(db, create=False)
    expected = {
        "portfolios": 1,
        "portfolio_definitions": 1,
        "portfolio_features_done": 1,
        "portfolio_forecasts": 1,
        "portfolio_forecast_features": 4,
        "portfolio_feature_scores": 1,
        "portfolio_feature_score_levels": 4,
    }
    for table, rows in expected.items():
        parquet = pq.read_table(store.export_table(table, tmp_path / f"{table}.parquet"))
        csv = pacsv.read_csv(store.export_table(table, tmp_path / f"{table}.csv", format="csv"))
        assert parquet.num_rows == csv.num_rows == rows, table
    distribution = store.read_table("portfolio_forecast_distribution").to_pylist()
    assert sum(r["count"] for r in distribution if r["position"] == 1) <= RUNS
    assert {r["portfolio_forecast_id"] for r in distribution} == {fid}


def test_a_v4_ledger_migrates_to_v5_and_keeps_its_forecasts(tmp_path):
    import duckdb

    from flowray.core.forecast import simulate
    from flowray.core.scenario import Scenario
    from flowray.store import SCHEMA_VERSION

    path = tmp_path / "v4.duckdb"
    store = Store(path)
    store.add_project("P")
    scenario = Scenario(throughput=[3, 4, 5], backlog=12, start=START)
    fid = store.save_forecast("P", simulate(scenario, 500, 1).to_dict())
    con = duckdb.connect(str(path))
    try:  # back to a v4 file: none of the portfolio tables
        for table in (
            "portfolio_feature_score_levels",
            "portfolio_feature_scores",
            "portfolio_forecast_distribution",
            "portfolio_forecast_features",
            "portfolio_forecasts",
            "portfolio_features_done",
            "portfolio_definitions",
            "portfolios",
        ):
            con.execute(f"DROP TABLE {table}")
        con.execute("DROP SEQUENCE portfolio_forecast_id_seq")
        con.execute("DROP SEQUENCE portfolio_id_seq")
        con.execute("DROP TABLE sources")  # and v6's, applied again below
        con.execute("DROP SEQUENCE source_id_seq")
        for column in (
            "title", "item_type", "status", "parent_key", "labels", "created_at", "updated_at",
            "source",
        ):  # fmt: skip
            con.execute(f"ALTER TABLE work_items DROP COLUMN {column}")
        con.execute("DELETE FROM schema_version WHERE version >= 5")
    finally:
        con.close()
    migrated = Store(path)
    assert migrated.schema_version() == SCHEMA_VERSION == 6
    assert migrated.list_portfolios() == []
    assert [f.forecast_id for f in migrated.list_forecasts("P")] == [fid]


def test_the_package_keeps_its_portfolio_page_beside_the_portfolio_module():
    """`pipeline.portfolio` stays the projects' page after the module of the same name loads."""
    import importlib

    from flowray.pipeline import ledger
    from flowray.pipeline.portfolio import list_portfolios

    module = importlib.import_module("flowray.pipeline.portfolio")
    assert module.list_portfolios is list_portfolios is pipeline.list_portfolios
    assert pipeline.portfolio is ledger.portfolio


def test_a_forecast_that_fails_mid_write_leaves_no_definition_behind(db):
    """The definition, the forecast row and its features are one transaction."""
    import dataclasses

    from flowray.exceptions import StoreError
    from flowray.pipeline.portfolio import forecast_inputs
    from flowray.records.portfolios import prepare_portfolio_forecast

    portfolio = parse_portfolio(DEFINITION, history=history(db))
    prepared = prepare_portfolio_forecast(
        portfolio_definition(portfolio),
        forecast_inputs(portfolio),
        forecast(portfolio),
        name=None,
        created_by=None,
    )
    broken = dataclasses.replace(prepared, features=[[0, *prepared.features[0][1:]]])
    store = Store(db, create=False)
    with pytest.raises(StoreError, match="CHECK constraint failed"):  # position >= 1
        store.save_portfolio_forecast("Release", broken)
    assert store.list_portfolios() == []
    assert table_rows(db, "portfolio_definitions") == []


def test_each_forecast_is_scored_on_its_own_histogram_of_the_feature(db):
    """A feature's place in the list may differ from one saved forecast to the next."""
    portfolio = parse_portfolio(DEFINITION, history=history(db))
    reordered = portfolio.with_changes(features=portfolio.features[::-1])
    results = [forecast(portfolio, 1), forecast(reordered, 2)]
    pipeline.save_portfolio_forecast("Release", portfolio, results[0], db)
    pipeline.save_portfolio_forecast("Release", reordered, results[1], db)
    done_on = START + dt.timedelta(days=30)
    pipeline.mark_feature_done("Release", "Search", done_on, db)
    records = pipeline.list_portfolio_forecasts("Release", db)
    assert [r.revision for r in records] == [1, 2]
    actual = periods_between(START, done_on, 7)
    for record, result in zip(records, results, strict=True):
        (search,) = [f for f in record.features if f.feature == "Search"]
        f = result.feature_names.index("Search")
        assert search.position == f + 1
        counts = result.histograms.completion[f][: portfolio.max_periods + 1]
        dist = Distribution(
            tuple(int(v) for v in np.nonzero(counts)[0]), tuple(int(c) for c in counts if c), RUNS
        )
        assert search.score is not None
        assert search.score.pit == score_distribution(dist, "periods", actual)[0]
    assert [f.position for r in records for f in r.features if f.feature == "Search"] == [2, 3]
