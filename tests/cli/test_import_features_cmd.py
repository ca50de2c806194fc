"""`flowray import features EXPORT --team NAME`: the portfolio file it writes, its summary, refusals."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import pytest

from flowray.cli import main
from flowray.importers.portfolio_file import HistoryPeriod, read_portfolio_file

EXPORTS = Path(__file__).parents[1] / "fixtures" / "tracker_exports"
JIRA = str(EXPORTS / "features_jira_parent.csv")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_writes_a_portfolio_file_and_summarises_the_export(capsys, tmp_path: Path):
    out, db = tmp_path / "plan.toml", tmp_path / "none.duckdb"
    code, text, err = run(
        capsys,
        *("import", "features", JIRA, "--team", "web", "--project", "shop"),
        *("--start", "2026-06-01", "--target", "2026-09-30", "--out", str(out), "--db", str(db)),
    )
    assert code == 0, err
    assert "5 features by 'Parent key' (3 open, 2 closed), in the export's rank order" in text
    assert "open features: 2 items done, 3 remaining" in text
    assert "feature sizes found (closed features): [3, 2]" in text
    assert "items without parent: 2 (of 14)" in text
    assert "project 'shop' has no stored history" in text
    assert not db.exists()  # reading the ledger's history never creates one
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    assert data["teams"] == [{"name": "web", "project": "shop"}]
    assert [f["name"] for f in data["features"]] == ["Checkout", "Wishlist", "Reporting"]
    history = [HistoryPeriod(dt.date(2026, 5, 4), 2, 7)]
    portfolio = read_portfolio_file(out, history=lambda project: history)
    assert portfolio.target is not None and portfolio.target.isoformat() == "2026-09-30"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.toml"]  # no temporary file left


def test_refuses_to_overwrite_without_force(capsys, tmp_path: Path):
    out = tmp_path / "plan.toml"
    out.write_text("# mine\n", encoding="utf-8")
    code, _, err = run(capsys, "import", "features", JIRA, "--team", "web", "--out", str(out))
    assert code == 2 and "--out" in err and "--force" in err
    assert out.read_text(encoding="utf-8") == "# mine\n"
    code, _, err = run(
        capsys, "import", "features", JIRA, "--team", "web", "--out", str(out), "--force"
    )
    assert code == 0, err
    assert "[[features]]" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        ((str(EXPORTS / "azure_devops_query.csv"), "--team", "web"), "parent_column"),
        ((JIRA, "--team", "web", "--source", "ado"), "source"),
        ((JIRA, "--team", "web", "--start", "01/06/2026"), "--start"),
        ((JIRA, "--team", "web", "--start", "2026-06-01", "--target", "2026-01-01"), "target"),
    ],
)
def test_an_error_names_the_field_and_writes_nothing(capsys, tmp_path: Path, argv, field: str):
    out = tmp_path / "plan.toml"
    code, text, err = run(capsys, "import", "features", *argv, "--out", str(out))
    assert code == 2
    assert err.startswith(f"flowray import: error: {field}: ")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_json_summary(capsys, tmp_path: Path):
    out = tmp_path / "plan.toml"
    code, text, err = run(
        capsys,
        *("import", "features", str(EXPORTS / "features_ado_tree.csv"), "--team", "app"),
        *("--out", str(out), "--json", "--db", str(tmp_path / "none.duckdb")),
    )
    assert code == 0, err
    data = json.loads(text)
    assert data["order"] == "export" and data["project"] == "app" and data["out"] == str(out)
    assert [f["key"] for f in data["features"]] == ["5", "3", "9"]
    assert data["feature_sizes"] == [1] and data["stored_periods"] == 0


def test_the_file_forecasts_with_the_history_imported_from_the_same_export(capsys, tmp_path):
    db, out = str(tmp_path / "ledger.duckdb"), str(tmp_path / "plan.toml")
    code, _, err = run(capsys, "import", "items", JIRA, "--project", "web", "--db", db)
    assert code == 0, err
    code, text, err = run(
        capsys,
        *("import", "features", JIRA, "--team", "web", "--db", db, "--out", out),
        *("--start", "2026-04-20", "--target", "2026-08-31"),
    )
    assert code == 0, err
    assert "has no stored history" not in text
    assert f"next: flowray portfolio {out} --db {db}" in text
    code, text, err = run(capsys, "portfolio", out, "--db", db, "--runs", "500", "--json")
    assert code == 0, err
    answer = json.loads(text)
    assert [f["name"] for f in answer["features"]] == ["Checkout", "Wishlist", "Reporting"]
    assert answer["target"] == "2026-08-31" and answer["cut_line"] is not None


def test_a_ledger_without_the_project_is_no_error_and_stays_unchanged(capsys, tmp_path: Path):
    db, out = str(tmp_path / "ledger.duckdb"), tmp_path / "plan.toml"
    assert run(capsys, "project", "add", "other", "--db", db)[0] == 0
    code, text, err = run(
        capsys, "import", "features", JIRA, "--team", "web", "--db", db, "--out", str(out)
    )
    assert code == 0, err
    assert "project 'web' has no stored history" in text and out.is_file()
    code, text, _ = run(capsys, "project", "list", "--db", db, "--json")
    assert [p["name"] for p in json.loads(text)] == ["other"]


def test_out_in_a_missing_folder_is_refused(capsys, tmp_path: Path):
    out = tmp_path / "nowhere" / "plan.toml"
    code, _, err = run(capsys, "import", "features", JIRA, "--team", "web", "--out", str(out))
    assert code == 2 and "--out" in err and "existing folder" in err
    assert list(tmp_path.iterdir()) == []
