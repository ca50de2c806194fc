"""Imports into the store: tracker CSV exports and the old app's database, against their manifests."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest

from flowray.cli import main
from flowray.importers import read_flow_forecaster
from flowray.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
TRACKERS = json.loads((FIXTURES / "tracker_exports" / "MANIFEST.json").read_text())["files"]
FF_DB = FIXTURES / "flow_forecaster" / "sample.db"
FF_MANIFEST = json.loads((FIXTURES / "flow_forecaster" / "MANIFEST.json").read_text())


def _dmy(text: str | None) -> dt.date | None:
    return None if text is None else dt.datetime.strptime(text, "%d/%m/%Y").date()


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_import_items_cli_matches_the_tracker_manifest(name, tmp_path, capsys):
    expected = TRACKERS[name]
    db = tmp_path / "items.duckdb"
    path = FIXTURES / "tracker_exports" / name
    assert main(["import", "items", str(path), "--project", "Team", "--json", "--db", str(db)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["project"] == "Team" and report["project_created"] is True
    assert report["done"] == expected["valid_done_items"]
    assert report["open"] == expected["open_rows"]
    assert report["rows_rejected"] == len(expected["malformed_rows"])
    assert report["rows_not_counted"] == 0  # no removed item or epic in these exports
    assert sorted(r["row"] for r in report["rejected"]) == sorted(
        r["row"] for r in expected["malformed_rows"]
    )

    assert main(["throughput", "show", "--project", "Team", "--json", "--db", str(db)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == [
        {"period_start": k, "items": v} for k, v in expected["weekly_throughput"].items()
    ]

    items = Store(db).get_work_items("Team")
    assert sum(1 for i in items if i.done_on is not None) == expected["valid_done_items"]
    assert sum(1 for i in items if i.done_on is None) == expected["open_rows"]
    # importing the same file again changes nothing
    assert main(["import", "items", str(path), "--project", "Team", "--json", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["project_created"] is False
    assert len(Store(db).get_work_items("Team")) == len(items)


def test_import_items_text_report_lists_rejected_rows(tmp_path, capsys):
    db = tmp_path / "items.duckdb"
    path = FIXTURES / "tracker_exports" / "generic_items.csv"
    assert main(["import", "items", str(path), "--project", "Gen", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    expected = TRACKERS["generic_items.csv"]
    assert f"rows rejected: {len(expected['malformed_rows'])}" in out
    for row in expected["malformed_rows"]:
        assert f"rejected row {row['row']} (line {row['line']})" in out
    assert "created project 'Gen'" in out


def test_import_items_stores_and_counts_delivered_work_only(tmp_path, capsys):
    # 19 rows: 4 epics (2 resolved) and a bug resolved "Won't Do" are not items; counting
    # every resolved row would have stored 13 done items instead of the 10 delivered.
    db = tmp_path / "items.duckdb"
    path = FIXTURES / "tracker_exports" / "features_jira_parent.csv"
    assert main(["import", "items", str(path), "--project", "Shop", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "items read: 14 (10 done, 4 open); rows rejected: 0" in out
    assert (
        "1 removed item (Won't Do) and 4 epic rows were not counted as throughput "
        "or work in progress"
    ) in out
    items = Store(db).get_work_items("Shop")
    assert len(items) == 14 and sum(1 for i in items if i.done_on is not None) == 10
    assert not {"SHOP-10", "SHOP-15", "SHOP-20", "SHOP-30", "SHOP-40"} & {i.item_id for i in items}
    assert sum(p.items for p in Store(db).get_throughput("Shop")) == 10

    json_db = tmp_path / "json.duckdb"
    args = ["import", "items", str(path), "--project", "Shop", "--json", "--db", str(json_db)]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["done"], report["open"], report["rows_not_counted"]) == (10, 4, 5)
    assert report["not_counted"] == {
        "removed": {"count": 1, "values": {"Won't Do": 1}},
        "container": {"count": 4, "values": {"Epic": 4}},
    }
    assert report["history"]["after"]["items"] == 10


def test_import_items_of_only_removed_work_saves_nothing(tmp_path, capsys):
    db = tmp_path / "items.duckdb"
    good = tmp_path / "good.csv"
    good.write_text("id,status,done\nA-1,Done,2025-01-06\n", encoding="utf-8")
    assert main(["import", "items", str(good), "--project", "P", "--db", str(db)]) == 0
    capsys.readouterr()
    removed = tmp_path / "removed.csv"
    removed.write_text(
        "id,type,status,done\nA-2,story,Cancelled,2025-01-13\nA-3,epic,Done,2025-01-14\n",
        encoding="utf-8",
    )
    assert main(["import", "items", str(removed), "--project", "P", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "holds no done items (2 rows read, 0 rejected, 0 open, 2 not counted" in err
    assert [i.item_id for i in Store(db).get_work_items("P")] == ["A-1"]
    assert [(p.period_start, p.items) for p in Store(db).get_throughput("P")] == [
        (dt.date(2025, 1, 6), 1)
    ]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    db = tmp_path_factory.mktemp("ff") / "ff.duckdb"
    store = Store(db)
    summary = store.import_flow_forecaster(read_flow_forecaster(FF_DB))
    return store, summary


def test_flow_forecaster_counts_match_the_manifest(imported):
    store, summary = imported
    counts = FF_MANIFEST["counts"]
    assert (summary.users, summary.projects, summary.forecasts, summary.actuals) == (
        counts["users"],
        counts["projects"],
        counts["forecasts"],
        counts["actuals"],
    )
    assert summary.skipped == []


def test_flow_forecaster_users_and_projects(imported):
    store, _ = imported
    users = {u.email: u for u in store.list_users()}
    for expected in FF_MANIFEST["users"]:
        user = users[expected["email"]]
        assert (user.name, user.role) == (expected["name"], expected["role"])
    name_by_email = {u["email"]: u["name"] for u in FF_MANIFEST["users"]}
    for expected in FF_MANIFEST["projects"]:
        project = store.get_project(expected["name"])
        assert project.owner == name_by_email[expected["owner_email"]]
        assert (project.team_size, project.status) == (expected["team_size"], expected["status"])
        assert expected["source_series"] in project.description


def test_flow_forecaster_forecasts_enter_the_ledger_marked_imported(imported):
    store, _ = imported
    ledger = {f.source_ref: f for f in store.list_forecasts()}
    kinds = {"monte_carlo": ("when", "deadline"), "deadline": ("deadline",), "ml_deadline": ("ml",)}
    for expected in FF_MANIFEST["forecasts"]:
        row = ledger[f"forecast:{expected['id']}"]
        assert row.source == "flow_forecaster"
        assert row.project == expected["project"] and row.name == expected["name"]
        assert row.kind in kinds[expected["forecast_type"]]
        assert (row.kind == "deadline") == (
            expected["deadline_date"] is not None and expected["forecast_type"] != "ml_deadline"
        )
        assert (row.backlog_low, row.backlog_high) == (expected["backlog"], expected["backlog"])
        assert row.start_date == _dmy(expected["start_date"])
        assert row.deadline == _dmy(expected["deadline_date"])
        p85 = expected["projected_weeks_p85"] or expected["percentile_stats_p85"]
        assert row.percentiles[85] == p85
        assert row.data_periods == expected["tp_samples_count"]
        record = store.get_forecast(row.forecast_id)
        assert sum(record.inputs["throughput"]) == expected["tp_samples_sum"]
        assert record.result["saved_via"] == (
            "celery_task" if expected["saved_via"] == "celery_task" else "web"
        )
        assert store.get_distribution(row.forecast_id) == []  # the old app kept no histogram


def test_flow_forecaster_tp_samples_become_the_dated_history(imported):
    """Each forecast's tpSamples sit in the weeks just before its start: the stored history
    must hold exactly the manifest's source window of every forecast."""
    store, summary = imported
    assert summary.throughput_periods == sum(
        len(store.get_throughput(p["name"])) for p in FF_MANIFEST["projects"]
    )
    for expected in FF_MANIFEST["forecasts"]:
        weeks = {t.period_start: t.items for t in store.get_throughput(expected["project"])}
        first = dt.date.fromisoformat(expected["source"]["first_week"])
        last = dt.date.fromisoformat(expected["source"]["last_week"])
        window = [weeks[first + dt.timedelta(weeks=k)] for k in range((last - first).days // 7 + 1)]
        assert len(window) == expected["tp_samples_count"]
        assert sum(window) == expected["tp_samples_sum"]


def test_flow_forecaster_actuals_move_over_and_are_scored(imported):
    store, summary = imported
    ledger = {f.source_ref: f for f in store.list_forecasts()}
    actuals = {a.forecast_id: a for a in store.list_actuals()}
    forecasts = {f["id"]: f for f in FF_MANIFEST["forecasts"]}
    scored = 0
    for expected in FF_MANIFEST["actuals"]:
        row = ledger[f"forecast:{expected['forecast_id']}"]
        actual = actuals[row.forecast_id]
        assert actual.completed_on == _dmy(expected["actual_completion_date"])
        assert actual.items_done == expected["actual_items_completed"]
        assert actual.partial == (expected["kind"] == "partial")
        assert actual.recorded_by == expected["recorded_by"]
        score = store.get_score(row.forecast_id)
        if expected["kind"] == "partial":
            assert score is None  # the work was not finished: the forecast stays open
            continue
        scored += 1
        start = _dmy(forecasts[expected["forecast_id"]]["start_date"])
        days = (actual.completed_on - start).days
        assert score.actual_value == math.ceil(days / 7)
        assert score.pit is None  # no distribution was kept by the old app
        assert score.levels[85].met == (score.actual_value <= row.percentiles[85])
    assert summary.scored_forecasts == scored == 7


def test_flow_forecaster_import_twice_adds_nothing(tmp_path, capsys):
    db = tmp_path / "twice.duckdb"
    assert main(["import", "flow-forecaster", str(FF_DB), "--json", "--db", str(db)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["forecasts"] == FF_MANIFEST["counts"]["forecasts"]
    assert main(["import", "flow-forecaster", str(FF_DB), "--json", "--db", str(db)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["users"], second["projects"], second["forecasts"], second["actuals"]) == (
        0,
        0,
        0,
        0,
    )
    assert len(Store(db).list_forecasts()) == FF_MANIFEST["counts"]["forecasts"]
    assert len(Store(db).list_actuals()) == FF_MANIFEST["counts"]["actuals"]
