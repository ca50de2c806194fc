"""Round trips for every table of the store, validation, file permissions, exports."""

from __future__ import annotations

import datetime as dt
import inspect
import re
import stat

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from flowray import store as store_module
from flowray.core.forecast import how_many, simulate
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError
from flowray.records import base, export, ledger, legacy, projects, schema, scores
from flowray.store import Store

START = dt.date(2025, 1, 6)


def when_result(
    values,
    counts,
    runs,
    *,
    start="2025-01-06",
    deadline=None,
    seed=7,
    max_periods=520,
    p_deadline=None,
    percentiles=None,
):
    """A result dict shaped like ForecastResult.to_dict() (not-done runs in the last bucket)."""
    values, counts = list(values), list(counts)
    not_done = runs - sum(counts)
    if not_done:
        values.append(max_periods + 1)
        counts.append(not_done)
    out = {
        "kind": "when" if deadline is None else "deadline",
        "engine_version": "test",
        "runs": runs,
        "seed": seed,
        "period_days": 7,
        "start": start,
        "percentiles": percentiles or {"50": None, "70": None, "85": None, "95": None},
        "dates": {},
        "not_done": not_done,
        "max_periods": max_periods,
        "histogram": {"periods": values, "counts": counts},
        "scenario": {
            "throughput": [3, 4, 5],
            "backlog": 20,
            "period_days": 7,
            "start": start,
            "deadline": deadline,
            "max_periods": max_periods,
        },
    }
    if deadline is not None:
        out["deadline"] = deadline
        out["probability_by_deadline"] = p_deadline
    return out


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "ledger.duckdb")


def test_new_file_is_private_and_at_the_current_schema(tmp_path):
    path = tmp_path / "new.duckdb"
    s = Store(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for sidecar in (tmp_path / "new.duckdb.lock", tmp_path / "new.duckdb.gate"):
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    assert s.schema_version() == store_module.SCHEMA_VERSION
    # opening again does not migrate or change anything
    assert Store(path).schema_version() == store_module.SCHEMA_VERSION


def test_missing_file_without_create_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no ledger at .*absent.duckdb"):
        Store(tmp_path / "absent.duckdb", create=False)
    assert not (tmp_path / "absent.duckdb").exists()


def test_users_round_trip(store):
    user = store.add_user("ana", email="ana@example.com", role="admin")
    assert store.get_user("ana") == user
    assert (user.name, user.email, user.role) == ("ana", "ana@example.com", "admin")
    with pytest.raises(InputError, match="already exists"):
        store.add_user("ana")
    with pytest.raises(InputError, match="no such user"):
        store.get_user("bob")
    assert [u.name for u in store.list_users()] == ["ana"]


def test_projects_round_trip_and_owner_is_registered(store, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")
    project = store.add_project(
        "Apollo",
        team_size=5,
        description="moon",
        status="active",
        start_date="2025-01-06",
        target_date=dt.date(2025, 6, 30),
    )
    assert store.get_project("Apollo") == project
    assert project.owner == "hubuser"
    assert (project.team_size, project.description) == (5, "moon")
    assert (project.start_date, project.target_date) == (START, dt.date(2025, 6, 30))
    assert [u.name for u in store.list_users()] == ["hubuser"]
    store.add_project("Zeta", owner="zoe")
    assert [p.name for p in store.list_projects()] == ["Apollo", "Zeta"]
    with pytest.raises(InputError, match="already exists"):
        store.add_project("Apollo")
    with pytest.raises(InputError, match="team_size"):
        store.add_project("Bad", team_size=0)
    with pytest.raises(InputError, match="no such project; known: \\['Apollo', 'Zeta'\\]"):
        store.get_project("Nope")


def test_created_by_falls_back_to_the_os_user(store, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    monkeypatch.setattr(base.getpass, "getuser", lambda: "osuser")
    store.add_project("P")
    fid = store.save_forecast("P", when_result([3], [10], 10))
    assert store.get_forecast(fid).created_by == "osuser"


def test_throughput_round_trip_replace_and_merge(store):
    store.add_project("P")
    weeks = [(START + dt.timedelta(weeks=i), n) for i, n in enumerate([3, 0, 5, 7])]
    assert store.set_throughput("P", weeks) == 4
    got = store.get_throughput("P")
    assert [(t.period_start, t.items, t.period_days) for t in got] == [(d, n, 7) for d, n in weeks]
    # merge: the new count wins for a stored week, new weeks are added
    store.set_throughput(
        "P",
        [{"period_start": "2025-01-27", "items": 9}, {"period_start": "2025-02-03", "items": 1}],
        replace=False,
    )
    assert [t.items for t in store.get_throughput("P")] == [3, 0, 5, 9, 1]
    store.set_throughput("P", weeks[:2])
    assert [t.items for t in store.get_throughput("P")] == [3, 0]
    with pytest.raises(InputError, match="appears twice"):
        store.set_throughput("P", [(START, 1), (START, 2)])
    with pytest.raises(InputError, match="whole number of 7-day periods"):
        store.set_throughput("P", [(START, 1), (START + dt.timedelta(days=3), 2)])
    with pytest.raises(InputError, match=">= 0"):
        store.set_throughput("P", [(START, -1)])
    with pytest.raises(InputError, match="stored history uses 7-day"):
        store.set_throughput("P", [(START, 1)], period_days=14, replace=False)


def test_work_items_round_trip_and_upsert(store):
    from flowray.importers import WorkItem

    store.add_project("P")
    items = [
        WorkItem("A-1", dt.date(2025, 1, 8), dt.date(2025, 1, 2)),
        WorkItem("A-2", None, dt.date(2025, 1, 9)),
        WorkItem("A-3", dt.date(2025, 1, 15)),
    ]
    assert store.add_work_items("P", items) == 3
    assert (
        store.add_work_items("P", [WorkItem("A-2", dt.date(2025, 1, 20), dt.date(2025, 1, 9))]) == 1
    )
    got = {w.item_id: (w.done_on, w.started_on) for w in store.get_work_items("P")}
    assert got == {
        "A-1": (dt.date(2025, 1, 8), dt.date(2025, 1, 2)),
        "A-2": (dt.date(2025, 1, 20), dt.date(2025, 1, 9)),
        "A-3": (dt.date(2025, 1, 15), None),
    }


def test_import_work_items_derives_throughput_from_all_stored_items(store):
    from flowray.importers import WorkItem

    first = store.import_work_items(
        "New",
        [
            WorkItem("1", dt.date(2025, 1, 7)),
            WorkItem("2", dt.date(2025, 1, 22)),
            WorkItem("3", None),
        ],
    )
    assert (first.project_created, first.items, first.done, first.open) == (True, 3, 2, 1)
    assert [(t.period_start, t.items) for t in store.get_throughput("New")] == [
        (dt.date(2025, 1, 6), 1),
        (dt.date(2025, 1, 13), 0),
        (dt.date(2025, 1, 20), 1),
    ]
    second = store.import_work_items("New", [WorkItem("3", dt.date(2025, 1, 29))])
    assert not second.project_created
    assert [t.items for t in store.get_throughput("New")] == [1, 0, 1, 1]
    with pytest.raises(InputError, match="no such project"):
        store.import_work_items("Other", [], create_project=False)


def test_forecast_round_trip_with_engine_result(store):
    store.add_project("P")
    scenario = Scenario(
        throughput=[3, 5, 0, 7, 4, 6, 2, 5],
        backlog=(25, 35),
        start=dt.date(2025, 3, 3),
        deadline=dt.date(2025, 5, 1),
    )
    result = simulate(scenario, runs=5000, seed=11).to_dict()
    fid = store.save_forecast(
        "P", result, data_window=("2025-01-06", "2025-02-24"), name="release 1"
    )
    record = store.get_forecast(fid)
    assert (record.kind, record.unit, record.name, record.project) == (
        "deadline",
        "periods",
        "release 1",
        "P",
    )
    assert (record.seed, record.runs, record.engine_version) == (11, 5000, result["engine_version"])
    assert (record.backlog_low, record.backlog_high) == (25, 35)
    assert (record.data_from, record.data_to, record.data_periods) == (
        dt.date(2025, 1, 6),
        dt.date(2025, 2, 24),
        8,
    )
    assert record.percentiles == {int(k): v for k, v in result["percentiles"].items()}
    assert record.dates == {int(k): dt.date.fromisoformat(v) for k, v in result["dates"].items()}
    assert record.p_deadline == pytest.approx(result["probability_by_deadline"])
    assert record.inputs == result["scenario"]
    assert record.result["percentiles"] == result["percentiles"]
    assert "histogram" not in record.result  # the histogram lives in forecast_distribution
    dist = store.get_distribution(fid)
    assert dist == [
        (v, c)
        for v, c in zip(*result["histogram"].values(), strict=True)
        if v <= scenario.max_periods
    ]
    assert sum(c for _, c in dist) + record.not_done == 5000
    assert not record.scored and record.score is None


def test_percentiles_recomputed_in_sql_match_the_ledger(store):
    store.add_project("P")
    scenario = Scenario(
        throughput=[0, 1, 0, 2, 0, 0, 3], backlog=15, max_periods=40, start=dt.date(2025, 3, 3)
    )
    result = simulate(scenario, runs=3000, seed=5).to_dict()
    assert result["not_done"] > 0  # some runs beyond the horizon: they count in the CDF
    fid = store.save_forecast("P", result)
    cdf = store.read_table("forecast_cdf").to_pylist()
    for level, stored in store.get_forecast(fid).percentiles.items():
        reached = [
            r["value"] for r in cdf if r["forecast_id"] == fid and r["cdf"] >= level / 100 - 1e-12
        ]
        assert (min(reached) if reached else None) == stored


def test_how_many_forecast_round_trip(store):
    store.add_project("P")
    scenario = Scenario(throughput=[3, 5, 0, 7, 4], start=dt.date(2025, 3, 3))
    result = how_many(scenario, periods=6, runs=4000, seed=3).to_dict()
    fid = store.save_forecast("P", result)
    record = store.get_forecast(fid)
    assert (record.kind, record.unit) == ("how_many", "items")
    assert record.horizon_date == dt.date.fromisoformat(result["end"])
    assert record.percentiles == {int(k): v for k, v in result["at_least"].items()}
    assert store.get_distribution(fid) == list(
        zip(*result["items_histogram"].values(), strict=True)
    )
    assert record.not_done == 0


def test_save_forecast_rejects_bad_results_before_writing(store):
    store.add_project("P")
    with pytest.raises(InputError, match="kind"):
        store.save_forecast("P", {**when_result([3], [10], 10), "kind": "guess"})
    with pytest.raises(InputError, match="more than runs"):
        store.save_forecast("P", {**when_result([3], [10], 10), "runs": 5, "not_done": None})
    with pytest.raises(InputError, match="disagrees"):
        store.save_forecast("P", {**when_result([3], [8], 10), "not_done": 1})
    with pytest.raises(InputError, match="result.runs"):
        store.save_forecast("P", {**when_result([3], [10], 10), "runs": None})
    bad = when_result([3, 4], [5, 5], 10)
    bad["histogram"]["counts"] = [5]
    with pytest.raises(InputError, match="equal length"):
        store.save_forecast("P", bad)
    with pytest.raises(InputError, match="no such project"):
        store.save_forecast("Q", when_result([3], [10], 10))
    assert store.list_forecasts() == []


def test_list_forecasts_filters(store):
    store.add_project("A")
    store.add_project("B")
    a = store.save_forecast("A", when_result([3], [10], 10))
    b = store.save_forecast("B", when_result([4], [10], 10, deadline="2025-03-01", p_deadline=1.0))
    assert [f.forecast_id for f in store.list_forecasts()] == [a, b]
    assert [f.forecast_id for f in store.list_forecasts("B")] == [b]
    assert [f.forecast_id for f in store.list_forecasts(kind="when")] == [a]
    assert store.list_forecasts("A")[0].to_dict()["percentiles"] == {
        "50": None,
        "70": None,
        "85": None,
        "95": None,
    }


def test_actuals_round_trip(store):
    store.add_project("P")
    fid = store.save_forecast("P", when_result([3], [10], 10))
    added = store.add_actual("P", "2025-01-27", 20, notes="shipped", recorded_by="ana")
    assert added.scored_forecasts == [fid]
    linked = store.add_actual(None, dt.date(2025, 2, 3), 5, forecast_id=fid, partial=True)
    assert (
        linked.actual.project == "P" and linked.actual.forecast_id == fid and linked.actual.partial
    )
    got = store.list_actuals("P")
    assert got == [added.actual, linked.actual]
    assert (got[0].completed_on, got[0].items_done, got[0].notes, got[0].recorded_by) == (
        dt.date(2025, 1, 27),
        20,
        "shipped",
        "ana",
    )
    store.add_project("Q")
    with pytest.raises(InputError, match="another project"):
        store.add_actual("Q", "2025-02-03", 5, forecast_id=fid)
    with pytest.raises(InputError, match="give a project or a forecast id"):
        store.add_actual(None, "2025-02-03", 5)
    with pytest.raises(InputError, match="completed_on"):
        store.add_actual("P", "03/02/2025", 5)


def test_ledger_has_no_update_or_delete_of_forecasts():
    """The ledger is append-only: outside the migrations, no statement rewrites forecasts."""
    source = "".join(
        inspect.getsource(m)
        for m in (store_module, base, export, ledger, legacy, projects, schema, scores)
    )
    migrations = "".join(
        inspect.getsource(schema).split("_V2_SCORING = (", 1)[1].split(")\n\n", 1)[:1]
    )
    assert "UPDATE forecasts SET unit" in migrations  # the v1 -> v2 backfill, cut out below
    rest = source.replace(migrations, "")
    assert not re.search(r"UPDATE\s+forecasts\b", rest, re.IGNORECASE)
    assert not re.search(
        r"DELETE\s+FROM\s+(forecasts|forecast_distribution)\b", rest, re.IGNORECASE
    )
    public = [name for name in dir(Store) if not name.startswith("_")]
    assert not [n for n in public if n.startswith(("update_", "delete_", "remove_"))]


def test_export_every_table_as_parquet_and_csv(store, tmp_path):
    store.add_project("P")
    store.set_throughput("P", [(START, 3), (START + dt.timedelta(weeks=1), 4)])
    fid = store.save_forecast("P", when_result([3, 4], [6, 4], 10))
    store.add_actual("P", "2025-01-27", 20)
    for table in store_module.EXPORT_TABLES:
        parquet = store.export_table(table, tmp_path / f"{table}.parquet")
        csv = store.export_table(table, tmp_path / f"{table}.csv", format="csv")
        from_parquet = pq.read_table(parquet)
        assert from_parquet.num_rows == pacsv.read_csv(csv).num_rows
    assert pq.read_table(tmp_path / "forecast_distribution.parquet").to_pylist() == [
        {"forecast_id": fid, "value": 3, "count": 6},
        {"forecast_id": fid, "value": 4, "count": 4},
    ]
    assert pq.read_table(tmp_path / "throughput.parquet").column("items").to_pylist() == [3, 4]
    with pytest.raises(InputError, match="table"):
        store.export_table("pg_catalog; drop", tmp_path / "x.csv")
    with pytest.raises(InputError, match="format"):
        store.export_table("users", tmp_path / "x.json", format="json")


def test_export_plans_and_history_revisions(store, tmp_path):
    store.add_project("P")
    store.set_throughput("P", [(START, 3), (START + dt.timedelta(weeks=1), 4)])
    store.set_throughput("P", [(START, 5)], reason="re-import")  # the first history is kept
    fid = store.save_plan("P", when_result([3, 4], [6, 4], 10), how="cli")
    plans = pq.read_table(store.export_table("forecast_plans", tmp_path / "plans.parquet"))
    assert [(r["forecast_id"], r["how"]) for r in plans.to_pylist()] == [(fid, "cli")]
    revisions = store.export_table("throughput_revisions", tmp_path / "rev.csv", format="csv")
    (revision,) = pacsv.read_csv(revisions).to_pylist()
    assert (revision["revision"], revision["reason"], revision["items"]) == (1, "re-import", 7)
    periods = store.read_table("throughput_revision_periods").column("items").to_pylist()
    assert periods == [3, 4]


def test_records_convert_to_json(store):
    import json

    store.add_project("P", start_date="2025-01-06")
    fid = store.save_forecast("P", when_result([3], [10], 10))
    store.add_actual("P", "2025-01-27", 20)
    text = json.dumps(store.get_forecast(fid).to_dict())
    data = json.loads(text)
    assert data["score"]["levels"]["85"]["met"] is True
    assert data["start_date"] == "2025-01-06"
