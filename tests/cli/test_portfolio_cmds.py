"""`flowray portfolio FILE`: the JSON shape, the text table with its cut line, stored histories, errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from flowray import Portfolio, forecast_portfolio
from flowray.cli import main
from flowray.core.portfolio import Feature, PortfolioTeam

FILE = """
start = "2026-01-05"
target = "2026-03-30"
level = 85
feature_sizes = [3, 5, 8]

[[teams]]
name = "web"
throughput = [3, 5, 0, 4, 2, 6]
feature_wip = 2

[[teams]]
name = "api"
estimate = {low = 1, likely = 2, high = 4}

[[features]]
name = "Login"
size = 6
teams = ["web"]

[[features]]
name = "Search"
size = {web = 8, api = 4}

[[features]]
name = "Payments"
teams = ["api"]

[[features]]
name = "Reports"
size = [20, 40]
teams = ["web", "api"]
"""


def write(tmp_path: Path, text: str = FILE) -> str:
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["portfolio", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_has_the_documented_keys_in_list_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = run_json(capsys, write(tmp_path), "--runs", "20000", "--seed", "4")
    assert data["runs"] == 20000 and data["seed"] == 4 and data["sampler"] == "bootstrap"
    names = [f["name"] for f in data["features"]]
    assert names == ["Login", "Search", "Payments", "Reports"]
    for feature in data["features"]:
        assert set(feature["percentiles"]) >= {"50", "85"}
        assert set(feature["dates"]) == set(feature["percentiles"])
        assert 0 <= feature["probability_by_target"] <= 1
        assert feature["not_done"] == 0.0
    joint = data["all_done_by_target"]
    assert len(joint) == 4 and joint == sorted(joint, reverse=True)
    assert set(data["features_done_by_target"]) == {"0", "1", "2", "3", "4"}
    k = data["cut_line"]
    assert all(p >= 0.85 for p in joint[:k]) and (k == 4 or joint[k] < 0.85)
    # the same numbers as the Python API, from the same file
    from flowray.importers.portfolio_file import read_portfolio_file

    api = forecast_portfolio(read_portfolio_file(write(tmp_path)), runs=20000, seed=4)
    assert api.to_dict()["features"] == data["features"]


def test_target_and_level_options_override_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    early = run_json(capsys, write(tmp_path), "--runs", "5000", "--target", "2026-02-02")
    late = run_json(capsys, write(tmp_path), "--runs", "5000", "--level", "50")
    assert early["target"] == "2026-02-02" and early["target_periods"] == 4
    assert late["level"] == 50.0
    assert early["all_done_by_target"][0] <= late["all_done_by_target"][0]


def test_text_output_draws_the_cut_line_and_never_claims_certainty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["portfolio", write(tmp_path), "--runs", "20000"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "100%" not in out
    rows = [i for i, line in enumerate(lines) if any(n in line for n in ("Login", "Reports"))]
    cut = [i for i, line in enumerate(lines) if "cut line:" in line]
    assert len(cut) == 1 and rows[0] < cut[0]
    data = run_json(capsys, write(tmp_path), "--runs", "20000")
    if data["cut_line"]:
        assert f"features 1-{data['cut_line']} all done by the target" in lines[cut[0]]
    assert "Monte Carlo error" in out and ">99%" in out


def test_a_stored_project_is_read_from_the_ledger(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from flowray.store import Store

    db = tmp_path / "ledger.duckdb"
    store = Store(db)
    store.add_project("web")
    first = dt.date(2025, 11, 3)
    history = [5, 0, 7, 3, 4, 6]
    store.set_throughput("web", [(first + dt.timedelta(weeks=i), n) for i, n in enumerate(history)])
    text = FILE.replace("throughput = [3, 5, 0, 4, 2, 6]", 'project = "web"')
    data = run_json(capsys, write(tmp_path, text), "--db", str(db), "--runs", "3000")
    expected = forecast_portfolio(
        Portfolio(
            teams=(
                PortfolioTeam(
                    "web",
                    throughput=tuple(history),
                    feature_wip=2,
                    history_starts=tuple(first + dt.timedelta(weeks=i) for i in range(6)),
                ),
                PortfolioTeam("api", estimate={"low": 1, "likely": 2, "high": 4}),  # type: ignore[arg-type]
            ),
            features=(
                Feature("Login", 6, teams=("web",)),
                Feature("Search", {"web": 8, "api": 4}),
                Feature("Payments", None, teams=("api",)),
                Feature("Reports", (20, 40), teams=("web", "api")),
            ),
            start=dt.date(2026, 1, 5),
            target=dt.date(2026, 3, 30),
            feature_sizes=(3, 5, 8),
        ),
        runs=3000,
    )
    assert data["features"] == expected.to_dict()["features"]


def test_errors_name_the_field_and_create_no_ledger(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = write(tmp_path, FILE.replace('teams = ["api"]', 'teams = ["mobile"]'))
    assert main(["portfolio", bad]) == 2
    err = capsys.readouterr().err
    assert "features[Payments].teams" in err and "'mobile'" in err
    missing_db = tmp_path / "typo.duckdb"
    stored = write(tmp_path, FILE.replace("throughput = [3, 5, 0, 4, 2, 6]", 'project = "web"'))
    assert main(["portfolio", stored, "--db", str(missing_db)]) == 2
    assert "flowray portfolio: error" in capsys.readouterr().err
    assert not missing_db.exists()
    assert main(["portfolio", write(tmp_path, "not = [toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["portfolio", write(tmp_path), "--runs", "0"]) == 2
    assert "--runs" in capsys.readouterr().err


# -- --save ----------------------------------------------------------------------------------


def test_save_stores_the_portfolio_under_the_files_name_and_prints_the_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from flowray import pipeline
    from flowray.store import Store

    db = tmp_path / "ledger.duckdb"
    Store(db)
    file = write(tmp_path)
    assert main(["portfolio", file, "--runs", "2000", "--save", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    (record,) = pipeline.list_portfolio_forecasts("plan", db)
    assert f"Saved as forecast {record.forecast_id} of portfolio 'plan'" in out
    assert pipeline.list_portfolios(db) == ["plan"]
    data = run_json(capsys, file, "--runs", "2000", "--save", "--name", "Q1", "--db", str(db))
    second = pipeline.list_portfolio_forecasts("Q1", db)[-1]
    assert data["saved"] == {"portfolio": "Q1", "forecast_id": second.forecast_id}
    assert data["cut_line"] == second.cut_line
    assert pipeline.list_portfolios(db) == ["Q1", "plan"]


def test_save_saves_nothing_on_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from flowray import pipeline
    from flowray.store import Store

    db = tmp_path / "ledger.duckdb"
    assert main(["portfolio", write(tmp_path), "--save", "--db", str(db)]) == 2
    assert "no ledger" in capsys.readouterr().err and not db.exists()  # a typo creates nothing
    Store(db)
    bad = write(tmp_path, FILE.replace('teams = ["api"]', 'teams = ["mobile"]'))
    assert main(["portfolio", bad, "--save", "--db", str(db)]) == 2
    assert "features[Payments].teams" in capsys.readouterr().err
    assert main(["portfolio", write(tmp_path), "--save", "--name", " ", "--db", str(db)]) == 2
    assert "name" in capsys.readouterr().err
    assert main(["portfolio", write(tmp_path), "--name", "Q1", "--db", str(db)]) == 2
    assert "--name" in capsys.readouterr().err
    assert pipeline.list_portfolios(db) == []
