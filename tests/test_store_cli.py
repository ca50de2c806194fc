"""The store's CLI commands, run through flowray.cli.main."""

from __future__ import annotations

import argparse
import datetime as dt
import json

import pyarrow.parquet as pq
import pytest

from flowray.cli import main
from flowray.cli.store_cmds import add_db_option, db_path, open_store
from flowray.store import Store


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def when_result(start="2025-01-06"):
    return {
        "kind": "when",
        "runs": 10,
        "seed": 3,
        "engine_version": "test",
        "max_periods": 520,
        "histogram": {"periods": [3, 4, 5], "counts": [2, 3, 5]},
        "percentiles": {"50": 4, "70": 5, "85": 5, "95": 5},
        "dates": {"50": "2025-02-03", "70": "2025-02-10", "85": "2025-02-10", "95": "2025-02-10"},
        "scenario": {"throughput": [3, 4], "backlog": 20, "period_days": 7, "start": start},
    }


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "cli.duckdb")


def test_db_option_defaults_to_flowray_db(monkeypatch, tmp_path):
    parser = argparse.ArgumentParser()
    add_db_option(parser)
    monkeypatch.setenv("FLOWRAY_DB", str(tmp_path / "env.duckdb"))
    assert db_path(parser.parse_args([])) == tmp_path / "env.duckdb"
    assert db_path(parser.parse_args(["--db", "x.duckdb"])).name == "x.duckdb"
    monkeypatch.delenv("FLOWRAY_DB")
    monkeypatch.chdir(tmp_path)
    store = open_store(parser.parse_args([]))
    assert store.path == tmp_path / "flowray.duckdb"


def test_project_add_and_list(capsys, db):
    code, out, _ = run(
        capsys,
        "project",
        "add",
        "Apollo",
        "--team-size",
        "4",
        "--description",
        "moon",
        "--target-date",
        "2025-06-30",
        "--db",
        db,
    )
    assert code == 0 and "Apollo" in out
    code, out, _ = run(capsys, "project", "list", "--json", "--db", db)
    (project,) = json.loads(out)
    assert (
        project["name"],
        project["team_size"],
        project["description"],
        project["target_date"],
    ) == ("Apollo", 4, "moon", "2025-06-30")
    code, out, _ = run(capsys, "project", "list", "--db", db)
    assert "Apollo" in out and "2025-06-30" in out
    code, _, err = run(capsys, "project", "add", "Apollo", "--db", db)
    assert code == 2 and "already exists" in err and "Traceback" not in err


def test_read_commands_do_not_create_a_database(capsys, tmp_path):
    missing = tmp_path / "typo.duckdb"
    code, _, err = run(capsys, "project", "list", "--db", str(missing))
    assert code == 2 and f"no ledger at {missing}" in err
    assert not missing.exists()


def test_throughput_add_and_show(capsys, db, tmp_path):
    run(capsys, "project", "add", "P", "--db", db)
    csv = tmp_path / "tp.csv"
    csv.write_text("week_start,throughput\n2025-01-06,3\n2025-01-13,0\n2025-01-20,5\n")
    code, out, _ = run(
        capsys, "throughput", "add", "--project", "P", "--file", str(csv), "--db", db
    )
    assert code == 0 and "3 periods" in out
    code, out, _ = run(capsys, "throughput", "show", "--project", "P", "--json", "--db", db)
    assert json.loads(out) == [
        {"period_start": "2025-01-06", "items": 3},
        {"period_start": "2025-01-13", "items": 0},
        {"period_start": "2025-01-20", "items": 5},
    ]
    csv.write_text("week_start,throughput\n2025-01-20,6\n2025-01-27,1\n")
    run(capsys, "throughput", "add", "--project", "P", "--file", str(csv), "--db", db)
    code, out, _ = run(capsys, "throughput", "show", "--project", "P", "--json", "--db", db)
    assert [r["items"] for r in json.loads(out)] == [3, 0, 6, 1]
    run(capsys, "throughput", "add", "--project", "P", "--file", str(csv), "--replace", "--db", db)
    code, out, _ = run(capsys, "throughput", "show", "--project", "P", "--db", db)
    assert "2025-01-06" not in out and "2025-01-27" in out
    csv.write_text("week_start,throughput\n2025-01-20,2.5\n")
    code, _, err = run(
        capsys, "throughput", "add", "--project", "P", "--file", str(csv), "--db", db
    )
    assert code == 2 and "whole number" in err
    code, _, err = run(capsys, "throughput", "show", "--project", "Nope", "--db", db)
    assert code == 2 and "no such project" in err


def test_actual_add_scores_and_forecasts_show_it(capsys, db):
    store = Store(db)
    store.add_project("P")
    fid = store.save_forecast("P", when_result(), name="release")
    code, out, _ = run(capsys, "forecasts", "list", "--project", "P", "--json", "--db", db)
    (row,) = json.loads(out)
    assert (row["forecast_id"], row["kind"], row["scored"], row["percentiles"]["85"]) == (
        fid,
        "when",
        False,
        5,
    )
    code, out, _ = run(
        capsys,
        "actual",
        "add",
        "--project",
        "P",
        "--completed-on",
        "2025-02-04",
        "--items",
        "21",
        "--db",
        db,
    )
    assert code == 0 and f"scored forecast(s): {fid}" in out
    code, out, _ = run(capsys, "forecasts", "show", str(fid), "--db", db)
    assert "actual 5 periods" in out and "85%: met" in out and "50%: missed" in out
    code, out, _ = run(capsys, "forecasts", "show", str(fid), "--json", "--db", db)
    data = json.loads(out)
    assert data["score"]["actual_value"] == 5
    assert data["distribution"] == [
        {"value": 3, "count": 2},
        {"value": 4, "count": 3},
        {"value": 5, "count": 5},
    ]
    code, out, _ = run(capsys, "forecasts", "list", "--db", db)
    assert "scored" in out and "release" in out
    code, out, _ = run(capsys, "calibration", "--json", "--db", db)
    levels = {c["level"]: c for c in json.loads(out)}
    assert (levels[50]["n"], levels[50]["met"], levels[85]["met"]) == (1, 0, 1)
    code, out, _ = run(capsys, "calibration", "--project", "P", "--db", db)
    assert "85%" in out


def test_actual_add_linked_and_partial(capsys, db):
    store = Store(db)
    store.add_project("P")
    fid = store.save_forecast("P", when_result())
    code, out, _ = run(
        capsys,
        "actual",
        "add",
        "--forecast",
        str(fid),
        "--completed-on",
        "2025-02-04",
        "--items",
        "8",
        "--partial",
        "--json",
        "--db",
        db,
    )
    data = json.loads(out)
    assert data["actual"]["partial"] is True and data["scored_forecasts"] == []
    code, _, err = run(
        capsys,
        "actual",
        "add",
        "--project",
        "P",
        "--completed-on",
        "04/02/2025",
        "--items",
        "8",
        "--db",
        db,
    )
    assert code == 2 and "YYYY-MM-DD" in err


def test_export_parquet_and_csv(capsys, db, tmp_path, monkeypatch):
    store = Store(db)
    store.add_project("P")
    store.set_throughput("P", [(dt.date(2025, 1, 6), 3)])
    out_file = tmp_path / "tp.parquet"
    code, out, _ = run(
        capsys, "export", "throughput", "--format", "parquet", "--out", str(out_file), "--db", db
    )
    assert code == 0 and pq.read_table(out_file).column("items").to_pylist() == [3]
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "export", "projects", "--format", "csv", "--db", db)
    assert code == 0 and (tmp_path / "projects.csv").read_text().count("\n") == 2
    with pytest.raises(SystemExit):
        main(["export", "secrets", "--db", db])
