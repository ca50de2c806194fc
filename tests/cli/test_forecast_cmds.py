"""`flowray when` / `flowray how-many`: options, JSON shape, readable output and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowray import Scenario, how_many, simulate
from flowray.cli import main

ROOT = Path(__file__).resolve().parents[2]
TP = "3,5,0,7,2,4,6,1,8,5"
PLAIN_MODEL = ("--method", "bootstrap", "--window", "all")  # what `simulate` / `how_many` compute


def run_json(capsys, *args: str) -> dict:
    assert main(list(args) + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_when_json_has_the_documented_keys(capsys):
    data = run_json(
        capsys,
        "when",
        "--throughput",
        TP,
        "--backlog",
        "50",
        "--start",
        "2026-01-05",
        "--deadline",
        "2026-03-30",
        "--runs",
        "20000",
        "--seed",
        "7",
        *PLAIN_MODEL,
    )
    for key in (
        "percentiles",
        "dates",
        "histogram",
        "runs",
        "seed",
        "not_done",
        "probability_by_deadline",
    ):
        assert key in data
    assert set(data["percentiles"]) == {"50", "70", "85", "95"}
    assert data["runs"] == 20000 and data["seed"] == 7
    assert sum(data["histogram"]["counts"]) == 20000
    expected = simulate(
        Scenario(
            throughput=[float(v) for v in TP.split(",")],
            backlog=50,
            start="2026-01-05",
            deadline="2026-03-30",
        ),
        runs=20000,
        seed=7,
    )
    assert data["percentiles"] == expected.percentiles()
    assert data["dates"]["85"] == expected.date_at(85).isoformat()
    assert data["probability_by_deadline"] == expected.probability_by_deadline


def test_when_every_option(capsys):
    data = run_json(
        capsys,
        "when",
        "--throughput",
        TP,
        "--period-days",
        "14",
        "--backlog",
        "80:120",
        "--split",
        "1.0:1.5",
        "--risk",
        "0.3:2:5:10",
        "--risk",
        "0.1:1:1:1",
        "--history-team",
        "5",
        "--contributors",
        "2:5",
        "--s-curve",
        "20",
        "--focus",
        "0.8",
        "--lead-time",
        "3,5,8",
        "--start",
        "2026-01-05",
        "--deadline",
        "2026-09-07",
        "--max-periods",
        "300",
        "--runs",
        "5000",
        "--seed",
        "1",
        "--percentiles",
        "10,50,99",
    )
    scenario = data["scenario"]
    assert scenario["period_days"] == 14
    assert scenario["backlog"] == {"low": 80, "high": 120}
    assert scenario["split_rate"] == {"low": 1.0, "high": 1.5}
    assert len(scenario["risks"]) == 2
    assert scenario["team"] == {
        "history_size": 5.0,
        "min_contributors": 2.0,
        "max_contributors": 5.0,
        "s_curve": 20.0,
    }
    assert scenario["lead_time_days"] == [3, 5, 8]
    assert set(data["percentiles"]) == {"10", "50", "99"}


def test_split_samples(capsys):
    data = run_json(
        capsys,
        "when",
        "--throughput",
        TP,
        "--backlog",
        "40",
        "--split-samples",
        "1,1.2,1.1",
        "--runs",
        "1000",
    )
    assert data["scenario"]["split_rate"] == {"samples": [1.0, 1.2, 1.1]}


def test_how_many_json(capsys):
    data = run_json(
        capsys,
        "how-many",
        "--throughput",
        TP,
        "--periods",
        "8",
        "--runs",
        "20000",
        "--seed",
        "3",
        *PLAIN_MODEL,
    )
    expected = how_many(
        Scenario(throughput=[float(v) for v in TP.split(",")]), periods=8, runs=20000, seed=3
    )
    assert data["at_least"] == expected.at_least_table()
    assert sum(data["items_histogram"]["counts"]) == 20000
    assert data["at_least"]["95"] <= data["at_least"]["50"]


def test_how_many_with_dates(capsys):
    data = run_json(
        capsys,
        "how-many",
        "--throughput",
        TP,
        "--start",
        "2026-01-05",
        "--end",
        "2026-03-02",
        "--runs",
        "1000",
    )
    assert data["periods"] == 8 and data["end"] == "2026-03-02"


def test_readable_table_has_dates(capsys):
    assert (
        main(
            [
                "when",
                "--throughput",
                TP,
                "--backlog",
                "50",
                "--start",
                "2026-01-05",
                "--runs",
                "2000",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "85%" in out and "2026-" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["when", "--throughput", "", "--backlog", "5"], "--throughput"),
        (["when", "--throughput", "1,-2", "--backlog", "5"], "throughput[1]"),
        (["when", "--throughput", "0,0", "--backlog", "5"], "all 0"),
        (["when", "--throughput", TP, "--backlog", "5", "--focus", "0"], "focus"),
        (["when", "--throughput", TP, "--backlog", "9:3"], "backlog"),
        (["when", "--throughput", TP, "--backlog", "2.5"], "--backlog"),
        (["when", "--throughput", TP, "--backlog", "5", "--risk", "2:1:2:3"], "likelihood"),
        (["when", "--throughput", TP, "--backlog", "5", "--risk", "0.5:1"], "--risk"),
        (["when", "--throughput", TP, "--backlog", "5", "--runs", "0"], "runs"),
        (
            [
                "when",
                "--throughput",
                TP,
                "--backlog",
                "5",
                "--start",
                "2026-03-01",
                "--deadline",
                "2026-01-01",
            ],
            "deadline",
        ),
        (
            [
                "when",
                "--throughput",
                TP,
                "--backlog",
                "5",
                "--contributors",
                "0:3",
                "--s-curve",
                "20",
            ],
            "min_contributors",
        ),
        (["how-many", "--throughput", TP, "--periods", "0"], "periods"),
        (
            ["when", "--throughput", TP, "--backlog", "5", "--method", "magic"],
            "--method: got 'magic'; must be 'default' or one of",
        ),
        (
            ["when", "--throughput", TP, "--backlog", "5", "--method", "gbm"],
            "flowray deadline --method ml",
        ),
        (
            ["how-many", "--throughput", TP, "--periods", "4", "--method", "block+cal+cal"],
            "optionally with +cal",
        ),
        (
            ["when", "--throughput", TP, "--backlog", "5", "--method", "default", "--window", "0"],
            "--window: got '0'",
        ),
        (
            ["how-many", "--throughput", TP, "--periods", "4", "--window", "ten"],
            "--window: got 'ten'",
        ),
        (
            [
                "when",
                "--throughput",
                TP,
                "--backlog",
                "5",
                "--method",
                "default",
                "--sampler",
                "block",
            ],
            "not both",
        ),
        (
            ["when", "--throughput", TP, "--backlog", "5", "--sampler", "magic"],
            "sampler: got 'magic'; must be one of",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(capsys, args, needle):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_console_script_runs_in_a_fresh_process():
    exe = Path(sys.executable).with_name("flowray")
    out = subprocess.run(
        [str(exe), "when", "--throughput", TP, "--backlog", "30", "--runs", "1000", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["runs"] == 1000


def test_help_of_every_command_renders(capsys):
    """A stray % in a help text breaks `flowray --help`; render them all."""
    from flowray.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["--help"])
    assert done.value.code == 0
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in sub.choices.items():
        assert command.format_help(), name
    assert "when" in capsys.readouterr().out


# -- forecast methods: the CLI keeps the plain model unless --method is given ----------------

HISTORY = ",".join(
    str(v)
    for v in [
        3,
        5,
        0,
        7,
        2,
        4,
        6,
        1,
        8,
        5,
        4,
        6,
        3,
        7,
        5,
        2,
        6,
        4,
        8,
        3,
        5,
        6,
        2,
        7,
        4,
        5,
        3,
        6,
        9,
        4,
        2,
        5,
        7,
        3,
        6,
        4,
        5,
        8,
        2,
        6,
    ]
)


def _values(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def test_without_a_method_the_cli_uses_flowrays_default_as_the_pages_do(capsys):
    from flowray.core import backtest

    args = ("when", "--throughput", HISTORY, "--backlog", "60", "--runs", "5000", "--seed", "2")
    plain = run_json(capsys, *args)
    explicit = run_json(capsys, *args, "--method", "default")
    assert plain["method"]["name"] == backtest.DEFAULT_METHOD
    assert plain["method"]["window"] == backtest.DEFAULT_WINDOW
    assert plain["histogram"] == explicit["histogram"]
    assert plain["scenario"]["start"] is not None  # the start defaults to today


def test_the_plain_model_is_one_option_away_and_says_so(capsys):
    data = run_json(
        capsys,
        "when",
        "--throughput",
        HISTORY,
        "--backlog",
        "60",
        "--runs",
        "5000",
        "--seed",
        "2",
        *PLAIN_MODEL,
    )
    expected = simulate(Scenario(throughput=_values(HISTORY), backlog=60), runs=5000, seed=2)
    assert data["histogram"]["counts"] == [int(c) for c in expected.counts[expected.counts > 0]]
    assert data["method"]["name"] == "bootstrap" and data["method"]["window"] == "all"
    assert not data["method"]["calibrated"] and "plain model" in data["method"]["description"]
    windowed = run_json(
        capsys,
        "how-many",
        "--throughput",
        HISTORY,
        "--periods",
        "6",
        "--window",
        "20",
        "--sampler",
        "block",
        "--runs",
        "3000",
    )
    assert windowed["method"]["name"] == "block" and windowed["method"]["window"] == 20
    assert (
        windowed["at_least"]
        == how_many(
            Scenario(throughput=_values(HISTORY)[-20:], sampler="block"),
            periods=6,
            runs=3000,
            seed=0,
        ).at_least_table()
    )
    everything = run_json(
        capsys,
        "how-many",
        "--throughput",
        HISTORY,
        "--periods",
        "6",
        "--window",
        "all",
        "--runs",
        "3000",
    )
    assert everything["scenario"]["throughput"] == _values(HISTORY)


def test_method_default_is_flowrays_calibrated_forecast(capsys):
    from flowray import pipeline
    from flowray.core import backtest
    from flowray.core.engine import Question

    data = run_json(
        capsys,
        "when",
        "--throughput",
        HISTORY,
        "--backlog",
        "60",
        "--runs",
        "5000",
        "--seed",
        "2",
        "--method",
        "default",
    )
    expected = pipeline.calibrated_forecast(
        Scenario(throughput=_values(HISTORY), backlog=60), Question("when"), 5000, 2
    )
    assert data["percentiles"] == expected.percentiles()
    assert data["histogram"]["counts"] == [int(c) for c in expected.counts[expected.counts > 0]]
    method = data["method"]
    assert method["name"] == backtest.DEFAULT_METHOD and method["window"] == backtest.DEFAULT_WINDOW
    assert method["calibrated"] == expected.method_report.calibrated
    assert len(data["scenario"]["throughput"]) == backtest.DEFAULT_WINDOW


def test_method_and_window_reach_the_forecast(capsys):
    from flowray import pipeline
    from flowray.core.engine import Question

    data = run_json(
        capsys,
        "how-many",
        "--throughput",
        HISTORY,
        "--periods",
        "4",
        "--runs",
        "3000",
        "--method",
        "weibull+cal",
        "--window",
        "26",
    )
    expected = pipeline.method_forecast(
        Scenario(throughput=_values(HISTORY)),
        Question("how_many", 4),
        3000,
        0,
        method=pipeline.ForecastMethod("weibull+cal", 26),
    )
    assert data["at_least"] == expected.at_least_table()
    assert data["method"]["name"] == "weibull+cal" and data["method"]["window"] == 26
    assert data["method"]["calibrated"] and data["method"]["calibration"]["horizon"] == 4


def test_the_readable_output_names_the_method(capsys):
    from flowray.core import backtest

    assert (
        main(
            [
                "how-many",
                "--throughput",
                HISTORY,
                "--periods",
                "4",
                "--runs",
                "2000",
                "--method",
                "default",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Method: " in out and f"of the last {backtest.DEFAULT_WINDOW} weeks, calibrated" in out


def _project_with_history(tmp_path, *, ends_weeks_ago: int, target_in_days: int) -> str:
    """A ledger with project "Web": 20 weeks of history ending some weeks ago, and a target date."""
    import datetime as dt

    from flowray.data import last_full_week
    from flowray.store import Store

    db = str(tmp_path / "ledger.duckdb")
    today = dt.date.today()
    store = Store(db)
    store.add_project("Web", target_date=today + dt.timedelta(days=target_in_days))
    last = last_full_week(today) - dt.timedelta(weeks=ends_weeks_ago)
    weeks = [last - dt.timedelta(weeks=k) for k in range(19, -1, -1)]
    store.set_throughput("Web", [(w, 3 + k % 4) for k, w in enumerate(weeks)])
    return db


def test_a_projects_forecast_starts_today_and_asks_about_its_target_date(capsys, tmp_path):
    import datetime as dt

    db = _project_with_history(tmp_path, ends_weeks_ago=0, target_in_days=70)
    data = run_json(capsys, "when", "--project", "Web", "--backlog", "30", "--db", db)
    today = dt.date.today()
    assert data["scenario"]["start"] == today.isoformat()
    assert data["scenario"]["deadline"] == (today + dt.timedelta(days=70)).isoformat()
    assert data["probability_by_deadline"] is not None
    assert not any("history ends" in w for w in data.get("warnings", []))


def test_a_history_that_stopped_long_ago_is_said_in_words(capsys, tmp_path):
    db = _project_with_history(tmp_path, ends_weeks_ago=16, target_in_days=70)
    assert main(["when", "--project", "Web", "--backlog", "30", "--db", db]) == 0
    err = capsys.readouterr().err
    assert "The history ends 16 weeks before the start" in err
    assert "assumes nothing changed since" in err


def test_a_target_date_already_past_gives_no_deadline_and_says_why(capsys, tmp_path):
    db = _project_with_history(tmp_path, ends_weeks_ago=0, target_in_days=-3)
    assert main(["when", "--project", "Web", "--backlog", "30", "--db", db, "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["scenario"]["deadline"] is None
    assert "target date" in err and "is not after the start" in err
