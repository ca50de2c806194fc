"""`flowray batch` refuses bad parameters before the notebook runs and reports every project's outcome."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from flowray import pipeline
from flowray.cli import main
from flowray.core.limits import MAX_RUNS
from flowray.exceptions import InputError
from flowray.pipeline import batch as pipeline_batch
from tests.test_batch import RUNS, write_notebook


@pytest.fixture
def demo_db(demo_template, tmp_path) -> Path:
    path = tmp_path / "db" / "flowray.duckdb"
    path.parent.mkdir()
    shutil.copyfile(demo_template, path)
    return path


def refused(capsys, argv: list[str], reports: Path) -> str:
    """Run `flowray batch`, expect exit 2 with one line on stderr and no report; return the line."""
    assert main(["batch", *argv, "--reports", str(reports)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not reports.exists(), "nothing runs before the parameters are checked"
    return err


@pytest.mark.parametrize("value", ["-5", "0", str(MAX_RUNS + 1), "1.5"])
def test_bad_runs_exit_2(demo_db, tmp_path, capsys, value):
    err = refused(capsys, ["--db", str(demo_db), "-p", "runs", value], tmp_path / "r")
    assert "runs" in err and value in err and "whole number" in err


@pytest.mark.parametrize(
    "value", ["1900-01-01", (dt.date.today() + dt.timedelta(days=1)).isoformat(), "2026-13-01"]
)
def test_bad_as_of_exit_2(demo_db, tmp_path, capsys, value):
    err = refused(capsys, ["--db", str(demo_db), "-p", "as_of", value], tmp_path / "r")
    assert "as_of" in err and value in err


@pytest.mark.parametrize("value", ["1.5", "-0.1", "70", "nan"])
def test_bad_alert_threshold_exit_2(demo_db, tmp_path, capsys, value):
    err = refused(capsys, ["--db", str(demo_db), "-p", "alert_threshold", value], tmp_path / "r")
    assert "alert_threshold" in err and "from 0 to 1" in err


@pytest.mark.parametrize("value", ["0", "-3", "1e9"])
def test_bad_timeout_exit_2(demo_db, tmp_path, capsys, value):
    err = refused(capsys, ["--db", str(demo_db), "--timeout", value], tmp_path / "r")
    assert "timeout" in err


def test_bad_seed_method_and_unknown_names_exit_2(demo_db, tmp_path, capsys):
    assert "seed" in refused(capsys, ["--db", str(demo_db), "-p", "seed", "-1"], tmp_path / "r")
    assert "method" in refused(
        capsys, ["--db", str(demo_db), "-p", "method", "magic"], tmp_path / "r"
    )
    err = refused(capsys, ["--db", str(demo_db), "-p", "runz", "5"], tmp_path / "r")
    assert "runz" in err and "known" in err


def test_a_missing_db_exits_2_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "typo" / "flowray.duckdb"
    err = refused(capsys, ["--db", str(missing)], tmp_path / "r")
    assert f"no ledger at {missing}" in err and "flowray project add NAME" in err
    assert not missing.exists() and not missing.parent.exists()
    with pytest.raises(InputError, match="no ledger at"):
        pipeline.run_batch(missing, runs=RUNS)
    assert not missing.exists()


def test_a_project_without_history_is_listed_as_skipped_and_the_run_passes(
    demo_db, tmp_path, capsys
):
    assert main(["project", "add", "Empty plan", "--db", str(demo_db)]) == 0
    capsys.readouterr()
    reports = tmp_path / "r"
    code = main(["batch", "--db", str(demo_db), "-p", "runs", str(RUNS), "--reports", str(reports)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "skipped: 1 project(s)" in out
    assert "Empty plan: project: got 'Empty plan'; has no throughput history yet" in out
    assert "failed: 0 project(s)" in out
    forecast = [p.name for p in pipeline.list_projects(demo_db, active_only=True)]
    assert f"forecast: {len(forecast) - 1} project(s)" in out
    summary = json.loads(next(reports.glob("*/batch_forecast.summary.json")).read_text())
    assert sorted(summary["forecast"]) == sorted(set(forecast) - {"Empty plan"})


def test_a_project_that_errors_is_reported_as_failed(demo_db, monkeypatch):
    real = pipeline_batch.reforecast_project
    names = [p.name for p in pipeline.list_projects(demo_db, active_only=True)]
    broken = names[0]

    def reforecast(project, **kwargs):
        if project == broken:
            raise RuntimeError("the engine died")
        return real(project, **kwargs)

    monkeypatch.setattr(pipeline_batch, "reforecast_project", reforecast)
    report = pipeline.run_batch(demo_db, runs=RUNS)
    assert report.failed == [f"{broken}: RuntimeError: the engine died"]
    assert broken not in report.to_summary()["forecast"]
    assert len(report.to_summary()["forecast"]) == len(names) - 1


def test_flowray_batch_exits_1_when_the_notebook_reports_a_failed_project(
    demo_db, tmp_path, capsys
):
    summary = {"forecast": ["A"], "skipped": [], "failed": ["B: RuntimeError: boom"], "alerts": []}
    notebook = write_notebook(
        tmp_path / "nb.ipynb",
        f"import json, pathlib\npathlib.Path(summary_path).write_text(json.dumps({summary!r}))",
        parameters='db_path: str = ""\nsummary_path: str = ""',
    )
    code = main(
        [
            "batch",
            "--db",
            str(demo_db),
            "--notebook",
            str(notebook),
            "--reports",
            str(tmp_path / "r"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "failed: 1 project(s)" in captured.out and "B: RuntimeError: boom" in captured.out
    assert "forecast: 1 project(s): A" in captured.out
    assert "1 project(s) failed" in captured.err


def test_a_bad_stored_plan_fails_rather_than_skips(demo_db, monkeypatch):
    names = [p.name for p in pipeline.list_projects(demo_db, active_only=True)]

    def reforecast(project, **kwargs):
        raise InputError("backlog", -1, "must be a whole number >= 0")

    monkeypatch.setattr(pipeline_batch, "reforecast_project", reforecast)
    report = pipeline.run_batch(demo_db, runs=RUNS)
    assert report.skipped == []
    assert len(report.failed) == len(names)
    assert all("InputError: backlog: got -1" in entry for entry in report.failed)
