"""`flowray portfolios`: list, show, done (with scores), run; errors name the field."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from flowray import pipeline
from flowray.cli import main
from flowray.importers.portfolio_file import parse_portfolio
from flowray.jobs import SERIAL
from flowray.jobs.portfolio import submit_portfolio
from flowray.store import Store

TODAY = dt.date.today()
START = TODAY - dt.timedelta(days=21)  # relative to today: the stored target stays ahead
DONE = (START + dt.timedelta(days=15)).isoformat()  # in the forecasts' third period
DEFINITION = {
    "start": START.isoformat(),
    "target": (TODAY + dt.timedelta(weeks=10)).isoformat(),
    "level": 85,
    "teams": [
        {"name": "web", "project": "Web", "feature_wip": 1},
        {"name": "api", "estimate": {"low": 1, "likely": 2, "high": 4}},
    ],
    "features": [
        {"name": "Login", "size": 6, "teams": ["web"]},
        {"name": "Search", "size": {"web": 8, "api": [2, 4]}},
        {"name": "Payments", "size": 12, "teams": ["api"]},
    ],
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A ledger with one stored portfolio ("Release") and one saved forecast of it."""
    path = tmp_path / "ledger.duckdb"
    store = Store(path)
    store.add_project("Web")
    store.set_throughput(
        "Web", [(START - dt.timedelta(weeks=12 - i), 2 + i % 3) for i in range(12)]
    )
    portfolio = parse_portfolio(DEFINITION, history=lambda p: store.get_throughput(p))
    result = submit_portfolio(SERIAL, portfolio, 2000, 1).result()
    pipeline.save_portfolio_forecast("Release", portfolio, result, path)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["portfolios", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_names_the_stored_portfolios(db, capsys):
    code, out, _ = run(capsys, "list", "--db", str(db))
    assert code == 0 and out.startswith("Release  3 features, 0 done")
    assert "1 forecasts" in out
    code, out, _ = run(capsys, "list", "--json", "--db", str(db))
    assert json.loads(out) == ["Release"]


def test_done_scores_the_saved_forecast_and_show_prints_the_score(db, capsys):
    code, out, _ = run(capsys, "done", "Release", "Login", "--on", DONE, "--db", str(db))
    assert code == 0 and "1 saved forecast(s) scored" in out
    code, out, _ = run(capsys, "show", "Release", "--db", str(db))
    assert code == 0
    assert f"Login  (size 6; web)  done {DONE}" in out
    assert "cut line:" in out and "100%" not in out
    (login_row,) = [line for line in out.splitlines() if "  Login  P(target)" in line]
    assert f"done {DONE} (period 3): PIT" in login_row and "CRPS" in login_row
    code, out, _ = run(capsys, "show", "Release", "--json", "--db", str(db))
    data = json.loads(out)
    assert data["done"][0]["feature"] == "Login"
    (forecast,) = data["forecasts"]
    login = forecast["features"][0]
    assert login["score"]["actual_value"] == 3 and set(login["score"]["levels"]) == {
        "50",
        "70",
        "85",
        "95",
    }
    assert "inputs" not in forecast


def test_run_forecasts_the_portfolio_as_it_stands_and_saves_if_asked(db, capsys):
    run(capsys, "done", "Release", "Login", "--on", DONE, "--db", str(db))
    code, out, _ = run(capsys, "run", "Release", "--runs", "2000", "--json", "--db", str(db))
    data = json.loads(out)
    assert code == 0 and [f["name"] for f in data["features"]] == ["Search", "Payments"]
    assert data["start"] == TODAY.isoformat()  # the stored start has passed: it moves to today
    assert "saved" not in data and len(pipeline.list_portfolio_forecasts("Release", db)) == 1
    code, out, _ = run(capsys, "run", "Release", "--runs", "2000", "--save", "--db", str(db))
    latest = pipeline.list_portfolio_forecasts("Release", db)[-1]
    assert code == 0 and f"Saved as forecast {latest.forecast_id}" in out
    assert latest.revision == 1  # a forecast of the stored definition: no new revision
    assert "cut line" in out


def test_run_refuses_a_portfolio_whose_target_has_passed(tmp_path, capsys):
    path = tmp_path / "ledger.duckdb"
    Store(path)
    definition = {
        **DEFINITION,
        "start": "2025-01-06",
        "target": "2025-03-31",
        "teams": [{"name": "web", "throughput": [2, 3, 4]}, DEFINITION["teams"][1]],
    }
    pipeline.save_portfolio("Old", parse_portfolio(definition), path)
    code, _, err = run(capsys, "run", "Old", "--runs", "2000", "--save", "--db", str(path))
    assert code == 2 and "target (2025-03-31) that has passed" in err
    assert pipeline.list_portfolio_forecasts("Old", path) == []


def test_run_save_adds_a_forecast_of_the_stored_definition(tmp_path, capsys):
    path = tmp_path / "ledger.duckdb"
    Store(path)
    target = dt.date.today() + dt.timedelta(weeks=10)
    definition = {
        **DEFINITION,
        "start": dt.date.today().isoformat(),
        "target": target.isoformat(),
        "teams": [{"name": "web", "throughput": [2, 3, 4]}, DEFINITION["teams"][1]],
    }
    pipeline.save_portfolio("Next", parse_portfolio(definition), path)
    code, out, _ = run(capsys, "run", "Next", "--runs", "2000", "--save", "--db", str(path))
    (record,) = pipeline.list_portfolio_forecasts("Next", path)
    assert code == 0 and f"Saved as forecast {record.forecast_id}" in out
    assert record.revision == 1 and [f.feature for f in record.features] == [
        "Login",
        "Search",
        "Payments",
    ]


def test_errors_name_the_field_and_create_no_ledger(db, tmp_path, capsys):
    code, _, err = run(capsys, "show", "Nope", "--db", str(db))
    assert code == 2 and "'Nope'" in err and "no such stored portfolio" in err
    code, _, err = run(capsys, "done", "Release", "Logout", "--on", DONE, "--db", str(db))
    assert code == 2 and "feature" in err and "'Logout'" in err
    future = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    code, _, err = run(capsys, "done", "Release", "Login", "--on", future, "--db", str(db))
    assert code == 2 and "done_on" in err and future in err and "after today" in err
    code, _, err = run(capsys, "done", "Release", "Login", "--on", "20/01/2026", "--db", str(db))
    assert code == 2 and "--on" in err
    assert Store(db, create=False).get_portfolio("Release").done == []
    missing = tmp_path / "typo.duckdb"
    code, _, err = run(capsys, "list", "--db", str(missing))
    assert code == 2 and not missing.exists()
