"""flowray.runners.papermill and `flowray batch`: parameters, report naming, failures, the real batch notebook."""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
import subprocess
import threading
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from flowray import pipeline
from flowray.cli import build_parser, main
from flowray.core import backtest
from flowray.exceptions import InputError
from flowray.runners import papermill as batch

ROOT = Path(__file__).resolve().parents[1]
RUNS = 2000  # per project: the batch notebook at its smallest useful size


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def demo_db(demo_template, tmp_path) -> Path:
    path = tmp_path / "db" / "flowray.duckdb"
    path.parent.mkdir()
    shutil.copyfile(demo_template, path)
    return path


def write_notebook(path: Path, *sources: str, parameters: str) -> Path:
    cells = [new_markdown_cell("A tiny notebook")]
    cells.append(new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    cells.extend(new_code_cell(s) for s in sources)
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, path)
    return path


# -- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["12", "-3", "1.5", "1e3", "True", "False", "None", "2026-03-02", "abc", "", "0x10", " 7 "],
)
def test_values_are_parsed_like_papermills_command_line(text):
    from papermill.cli import _resolve_type

    ours, theirs = batch.parse_parameter_value(text), _resolve_type(text)
    assert ours == theirs and type(ours) is type(theirs)


def test_the_batch_notebook_declares_the_documented_typed_parameters():
    declared = batch.notebook_parameters(batch.DEFAULT_NOTEBOOK)
    types = {name: info["type"] for name, info in declared.items()}
    assert types == {
        "db_path": "str",
        "project_filter": "str",
        "runs": "int",
        "seed": "int",
        "as_of": "str",
        "alert_threshold": "float",
        "method": "str",
        "window": "str",
        "summary_path": "str",
        "sync_trackers": "bool",
    }
    assert declared["method"]["default"].strip("'\"") == "default", (
        "the batch uses flowray's chosen method"
    )
    assert all(info["help"] for info in declared.values()), "every parameter is commented"


def test_parameters_are_checked_against_their_declared_types():
    declared = batch.notebook_parameters(batch.DEFAULT_NOTEBOOK)
    values = batch.resolve_parameters(
        [
            ("runs", "5000"),
            ("alert_threshold", "1"),
            ("project_filter", "2026"),
            ("as_of", "2026-03-02"),
        ],
        declared,
    )
    assert values == {
        "runs": 5000,
        "alert_threshold": 1.0,
        "project_filter": "2026",
        "as_of": "2026-03-02",
    }
    assert type(values["alert_threshold"]) is float
    with pytest.raises(InputError, match="runs"):
        batch.resolve_parameters([("runs", "many")], declared)
    with pytest.raises(InputError, match="runs"):
        batch.resolve_parameters([("runs", "1.5")], declared)
    with pytest.raises(InputError, match="runz.*not a parameter"):
        batch.resolve_parameters([("runz", "5")], declared)
    for word, meaning in (("false", False), ("False", False), ("no", False), ("TRUE", True)):
        assert batch.resolve_parameters([("sync_trackers", word)], declared) == {
            "sync_trackers": meaning
        }
    with pytest.raises(InputError, match="sync_trackers: got 'maybe'; must be True or False"):
        batch.resolve_parameters([("sync_trackers", "maybe")], declared)


# -- report naming ----------------------------------------------------------------------------


def test_reports_of_the_same_day_get_new_names(tmp_path):
    day = dt.date(2026, 3, 2)
    paths = [batch.reserve_report_path(tmp_path, day, "batch_forecast") for _ in range(3)]
    assert [p.name for p in paths] == [
        "batch_forecast.ipynb",
        "batch_forecast-2.ipynb",
        "batch_forecast-3.ipynb",
    ]
    assert all(p.parent == tmp_path / "2026-03-02" and p.exists() for p in paths)
    assert (
        batch.reserve_report_path(tmp_path, day + dt.timedelta(days=1), "batch_forecast").name
        == "batch_forecast.ipynb"
    )


def test_runs_started_together_never_share_a_report(tmp_path):
    day = dt.date(2026, 3, 2)
    found: list[Path] = []
    barrier = threading.Barrier(8)

    def reserve() -> None:
        barrier.wait()
        found.append(batch.reserve_report_path(tmp_path, day, "batch_forecast"))

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 8


# -- running notebooks --------------------------------------------------------------------------


def test_list_parameters_read_python_literals_only():
    declared = {"sizes": {"type": "list"}, "options": {"type": "dict"}}
    assert batch.resolve_parameters([("sizes", "[3, 4.5]"), ("options", "{'a': 1}")], declared) == {
        "sizes": [3, 4.5],
        "options": {"a": 1},
    }
    with pytest.raises(InputError, match="sizes"):
        batch.resolve_parameters([("sizes", "__import__('os').getcwd()")], declared)
    with pytest.raises(InputError, match="must be a list"):
        batch.resolve_parameters([("sizes", "{'a': 1}")], declared)


def test_a_run_injects_parameters_and_writes_the_notebook_and_html(tmp_path):
    nb = write_notebook(
        tmp_path / "tiny.ipynb",
        "print('answer', n * 2, repr(label))",
        parameters='n: int = 1  # a number\nlabel: str = "x"  # some text',
    )
    run = batch.run_batch_notebook(
        [("n", "21"), ("label", "7")],
        reports_dir=tmp_path / "reports",
        notebook=nb,
        day=dt.date(2026, 3, 2),
    )
    assert run.ok, run.failure
    assert run.notebook == tmp_path / "reports" / "2026-03-02" / "tiny.ipynb"
    assert "answer 42 '7'" in run.notebook.read_text()
    assert run.html is not None and "answer 42" in run.html.read_text()


def test_a_failing_cell_is_reported_with_its_place_and_source(tmp_path):
    nb = write_notebook(
        tmp_path / "failing.ipynb",
        "x = 1",
        "raise RuntimeError(f'boom {n}')",
        "print('never')",
        parameters="n: int = 3  # a number",
    )
    run = batch.run_batch_notebook(
        [], reports_dir=tmp_path / "reports", notebook=nb, day=dt.date(2026, 3, 2)
    )
    assert not run.ok
    failure = run.failure
    assert failure.error_name == "RuntimeError" and failure.error_value == "boom 3"
    assert "raise RuntimeError" in failure.source
    executed = nbformat.read(run.notebook, as_version=4)
    assert executed.cells[failure.cell_index].source == failure.source
    assert failure.execution_count == 3  # In [3]: after the parameters cell and "x = 1"
    text = failure.describe()
    assert (
        f"cell index {failure.cell_index} (In [3]) failed: RuntimeError: boom 3" in text
        and "raise RuntimeError" in text
    )
    assert run.html is not None and run.html.exists()  # the failure can be read in a browser


def test_a_missing_notebook_is_a_clear_error(tmp_path):
    with pytest.raises(batch.BatchError, match="not found"):
        batch.run_batch_notebook([], notebook=tmp_path / "nope.ipynb", reports_dir=tmp_path)
    assert not (tmp_path / dt.date.today().isoformat()).exists()


def test_db_given_twice_is_refused(tmp_path):
    with pytest.raises(InputError, match="--db or -p db_path"):
        batch.run_batch_notebook(
            [("db_path", "/a.duckdb")], db_path=tmp_path / "b.duckdb", reports_dir=tmp_path
        )


# -- the command, on the real batch notebook ------------------------------------------------------


def test_flowray_batch_twice_the_same_day_keeps_both_reports_and_writes_the_ledger(
    demo_db, tmp_path, capsys
):
    reports = tmp_path / "reports"
    before = pipeline.forecast_ledger(None, demo_db)
    active = [p.name for p in pipeline.list_projects(demo_db, active_only=True)]
    argv = [
        "batch",
        "--db",
        str(demo_db),
        "-p",
        "runs",
        str(RUNS),
        "-p",
        "seed",
        "5",
        "--reports",
        str(reports),
    ]

    assert main(argv) == 0
    first_out = capsys.readouterr().out
    assert "portfolios: 1: Release plan (forecast" in first_out  # the demo's stored portfolio
    assert main(argv) == 0
    second_out = capsys.readouterr().out

    notebooks = sorted(reports.glob("*/batch_forecast*.ipynb"))
    htmls = sorted(reports.glob("*/batch_forecast*.html"))
    assert len(notebooks) == 2 and len(htmls) == 2
    if notebooks[0].parent == notebooks[1].parent:  # not straddling midnight
        assert {p.name for p in notebooks} == {"batch_forecast.ipynb", "batch_forecast-2.ipynb"}
    for report in notebooks:
        assert str(report) in first_out + second_out
        executed = nbformat.read(report, as_version=4)
        injected = [
            c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])
        ]
        assert f"runs = {RUNS}" in injected[0].source

    after = pipeline.forecast_ledger(None, demo_db)
    new = after[~after["id"].isin(before["id"])]
    assert len(new) == 2 * len(active)
    assert sorted(new["project"].unique()) == sorted(active)
    assert (new["runs"] == RUNS).all()
    # each run re-forecast every project from the same data and seed: identical answers
    for _, rows in new.groupby("project"):
        assert rows["p85"].nunique() == 1 and rows["p_deadline"].nunique() == 1
    # with flowray's chosen method, recorded in each ledger row
    store = pipeline.open_store(demo_db)
    # each run re-made the project's plan and its forecast became the plan: the second run
    # followed the first run's forecast, and the plan history says so
    for project, rows in new.groupby("project"):
        first, second = sorted(int(i) for i in rows["id"])
        plans = store.list_plans(str(project))
        assert [(p.forecast_id, p.how) for p in plans[-2:]] == [(first, "batch"), (second, "batch")]
        assert store.get_plan(str(project)).forecast_id == second
    for forecast_id in new["id"]:
        method = store.get_forecast(int(forecast_id)).result["method"]
        assert (method["name"], method["window"]) == (
            backtest.DEFAULT_METHOD,
            backtest.DEFAULT_WINDOW,
        )


def test_a_malformed_as_of_exits_2_before_any_report(demo_db, tmp_path, capsys):
    reports = tmp_path / "reports"
    code = main(
        ["batch", "--db", str(demo_db), "-p", "as_of", "31/12/2026", "--reports", str(reports)]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "as_of" in err and "31/12/2026" in err and "YYYY-MM-DD" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not reports.exists()


def test_bad_options_exit_2_before_any_report(tmp_path, capsys):
    assert main(["batch", "-p", "runs", "lots", "--reports", str(tmp_path / "r")]) == 2
    assert "runs" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_list_parameters(capsys):
    assert main(["batch", "--list-parameters"]) == 0
    out = capsys.readouterr().out
    assert "runs: int" in out and "alert_threshold: float" in out


# -- scheduling examples ------------------------------------------------------------------------------


def batch_argv(command: str) -> list[str]:
    """The `flowray batch ...` part of a shell command line."""
    words = shlex.split(command)
    start = next(
        i
        for i, w in enumerate(words)
        if w.endswith("flowray") and words[i + 1 : i + 2] == ["batch"]
    )
    end = next(
        (
            i
            for i, w in enumerate(words[start:], start)
            if w in (">>", ">", "2>&1", "&&", "||", ";")
        ),
        len(words),
    )
    return words[start + 1 : end]


def test_the_cron_example_runs_a_valid_flowray_batch():
    lines = [
        line
        for line in (ROOT / "deploy/cron/flowray-batch.cron").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6  # five time fields and the command
    args = build_parser().parse_args(batch_argv(fields[5]))
    assert args.command == "batch" and args.db is not None and args.reports is not None


def test_the_systemd_example_is_a_oneshot_service_with_a_persistent_timer():
    service = (ROOT / "deploy/systemd/flowray-batch.service").read_text()
    timer = (ROOT / "deploy/systemd/flowray-batch.timer").read_text()
    assert "Type=oneshot" in service
    exec_start = next(
        line.split("=", 1)[1] for line in service.splitlines() if line.startswith("ExecStart=")
    )
    args = build_parser().parse_args(batch_argv(exec_start))
    assert args.command == "batch" and args.db is not None
    assert "Persistent=true" in timer and "Unit=flowray-batch.service" in timer
    calendar = next(
        line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("OnCalendar=")
    )
    if shutil.which("systemd-analyze"):
        checked = subprocess.run(
            ["systemd-analyze", "calendar", calendar], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr


# -- stored portfolios ------------------------------------------------------------------------


def _portfolio_ledger(path: Path, weekly: int) -> Path:
    """A ledger with project Web (20 weeks of `weekly` items) and a stored portfolio on it."""
    from flowray.importers.portfolio_file import parse_portfolio
    from flowray.store import Store

    store = Store(path)
    store.add_project("Web")
    today = dt.date.today()
    weeks = [today - dt.timedelta(weeks=20 - i) for i in range(20)]
    store.set_throughput("Web", [(d, weekly) for d in weeks])
    definition = {
        "start": today.isoformat(),
        "target": (today + dt.timedelta(weeks=6)).isoformat(),
        "level": 85,
        "teams": [{"name": "web", "project": "Web"}],
        "features": [
            {"name": "Login", "size": 10, "teams": ["web"]},
            {"name": "Search", "size": 20, "teams": ["web"]},
            {"name": "Payments", "size": 200, "teams": ["web"]},
        ],
    }
    portfolio = parse_portfolio(definition, history=lambda p: store.get_throughput(p))
    pipeline.save_portfolio("Release", portfolio, path)
    return path


def test_the_batch_re_forecasts_stored_portfolios_and_alerts_on_the_cut_line(tmp_path):
    from flowray.store import Store

    db = _portfolio_ledger(tmp_path / "ledger.duckdb", weekly=10)
    first = pipeline.run_batch(db, runs=RUNS, seed=2, engine="serial")
    (saved,) = pipeline.list_portfolio_forecasts("Release", db)
    assert first.portfolios == [f"Release (forecast {saved.forecast_id}, cut line 2 of 3)"]
    assert saved.name.startswith("batch as of") and saved.revision == 1
    assert first.alerts.empty and first.to_summary()["portfolios"] == first.portfolios
    # the team slows down: Login and Search, inside the last cut line, now miss the level
    Store(db, create=False).set_throughput(
        "Web", [(dt.date.today() - dt.timedelta(weeks=20 - i), i % 2) for i in range(20)]
    )
    second = pipeline.run_batch(db, runs=RUNS, seed=2, engine="serial")
    assert len(pipeline.list_portfolio_forecasts("Release", db)) == 2
    alerts = second.alerts[second.alerts["project"] == "portfolio Release"]
    assert [why.split(":")[0] for why in alerts["why"]] == ["Login", "Search"]
    login = alerts["why"].iloc[0]
    assert f"in forecast {saved.forecast_id} (inside its cut line)" in login
    assert ">99%" in login and "below the level 85%" in login and "100%" not in login
    summary = second.to_summary()
    assert any(
        a.startswith("portfolio Release: Login: P(done by the target)") for a in summary["alerts"]
    )
    assert summary["failed"] == []


def test_a_portfolio_that_cannot_be_forecast_fails_the_batch(tmp_path, capsys):
    from flowray.store import Store

    db = _portfolio_ledger(tmp_path / "ledger.duckdb", weekly=10)
    # the project's history now has 14-day periods: the 7-day portfolio cannot use it
    Store(db, create=False).set_throughput(
        "Web",
        [(dt.date.today() - dt.timedelta(weeks=40 - 2 * i), 9) for i in range(20)],
        period_days=14,
    )
    report = pipeline.run_batch(db, runs=RUNS, engine="serial")
    assert report.portfolios == []
    (failure,) = [f for f in report.failed if f.startswith("portfolio Release")]
    assert "14-day periods" in failure
    assert pipeline.list_portfolio_forecasts("Release", db) == []
    reports = tmp_path / "reports"
    code = main(["batch", "--db", str(db), "-p", "runs", str(RUNS), "--reports", str(reports)])
    captured = capsys.readouterr()
    assert code == 1
    assert "portfolio Release: InputError" in captured.out  # listed under failed
    assert "failed: portfolio Release" in captured.err


def test_with_as_of_the_batch_skips_stored_portfolios_and_says_why(tmp_path):
    db = _portfolio_ledger(tmp_path / "ledger.duckdb", weekly=10)
    as_of = (dt.date.today() - dt.timedelta(weeks=2)).isoformat()
    report = pipeline.run_batch(db, runs=RUNS, as_of=as_of, engine="serial")
    assert report.portfolios == [] and report.failed == []
    assert f"portfolio Release: forecast as of today only, not as_of {as_of}" in report.skipped
    assert pipeline.list_portfolio_forecasts("Release", db) == []
