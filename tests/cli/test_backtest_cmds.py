"""`flowray backtest` and `flowray deadline`: JSON shapes, defaults, guards and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowray.cli import main
from flowray.core import backtest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "throughput"
BLOCK_KEYS = {
    "coverage",
    "ideal",
    "pit_coverage",
    "crps",
    "pinball",
    "median_abs_error",
    "origins",
}


def _json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _check_block(block: dict) -> None:
    assert set(block) == BLOCK_KEYS
    for key in ("coverage", "ideal", "pit_coverage"):
        assert set(block[key]) == {"50", "70", "85", "95"}
        assert all(0.0 <= share <= 1.0 for share in block[key].values())
    # a forecast's own probability of being met is at least its level on whole numbers
    assert all(block["ideal"][k] >= int(k) / 100 - 1e-9 for k in block["ideal"])
    assert block["origins"] > 0 and block["crps"] >= 0


def test_backtest_json_shape_on_a_folder(capsys):
    data = _json(
        capsys,
        [
            "backtest",
            "--data",
            str(FIXTURES),
            "--horizon",
            "8",
            "--window",
            "26",
            "--method",
            "block",
            "--step",
            "26",
            "--runs",
            "300",
            "--json",
        ],
    )
    assert data["method"] == "block" and data["window"] == 26 and data["horizon"] == 8
    assert set(data["pooled"]) == {"how_many", "when"}
    for question in ("how_many", "when"):
        _check_block(data["pooled"][question])
    names = [row["name"] for row in data["series"]]
    metadata = {"MANIFEST", "SPLIT"}
    assert names == sorted(
        (p.stem for p in FIXTURES.glob("*.csv") if p.stem not in metadata), key=str.lower
    )
    assert len(names) == 49
    for row in data["series"]:
        assert set(row) >= {"name", "how_many", "when"}
        _check_block(row["how_many"])
        _check_block(row["when"])
    assert data["pooled"]["when"]["origins"] == sum(r["when"]["origins"] for r in data["series"])


def test_backtest_without_method_and_window_uses_the_default(capsys):
    data = _json(
        capsys,
        [
            "backtest",
            "--data",
            str(FIXTURES / "psf__black.csv"),
            "--horizon",
            "4",
            "--step",
            "52",
            "--runs",
            "200",
            "--json",
        ],
    )
    assert data["method"] == backtest.DEFAULT_METHOD
    assert data["window"] == backtest.window_label(backtest.DEFAULT_WINDOW)
    assert [row["name"] for row in data["series"]] == ["psf__black"]


def test_backtest_text_output_and_calibrated_method(capsys):
    argv = [
        "backtest",
        "--data",
        str(FIXTURES / "psf__black.csv"),
        "--horizon",
        "4",
        "--window",
        "all",
        "--method",
        "recency+cal",
        "--step",
        "52",
        "--runs",
        "200",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "recency+cal" in out and "pooled" in out and "CRPS" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "prophet"], "method"),
        (["--window", "zero"], "window"),
        (["--horizon", "0"], "--horizon"),
    ],
)
def test_backtest_bad_input_is_one_clear_line(capsys, extra, message):
    assert main(["backtest", "--data", str(FIXTURES / "psf__black.csv"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


BLACK = ["backtest", "--data", str(FIXTURES / "psf__black.csv"), "--runs", "200"]


def test_young_histories_only_with_first_and_last_origin(capsys):
    argv = [*BLACK, "--method", "bootstrap", "--window", "26", "--horizon", "8"]
    data = _json(
        capsys, [*argv, "--first-origin", "10", "--last-origin", "64", "--step", "2", "--json"]
    )
    assert data["first_origin"] == 10 and data["last_origin"] == 64
    # origins 10, 12, ..., 64
    assert data["pooled"]["how_many"]["origins"] == len(range(10, 65, 2))
    _check_block(data["pooled"]["when"])
    full = _json(capsys, [*argv, "--first-origin", "10", "--step", "2", "--json"])
    assert full["last_origin"] is None
    assert full["pooled"]["how_many"]["origins"] > data["pooled"]["how_many"]["origins"]


def test_text_output_shows_met_ideal_and_pit_coverage(capsys):
    argv = [*BLACK, "--method", "bootstrap", "--horizon", "2", "--step", "26"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "met/ideal/PIT" in out and "ideal = what a perfectly calibrated forecast" in out
    data = _json(capsys, [*argv, "--json"])
    block = data["pooled"]["when"]
    cell = "/".join(
        f"{100 * block[key]['85']:3.0f}" for key in ("coverage", "ideal", "pit_coverage")
    )
    assert f"85%:{cell}" in out


def test_text_output_never_shows_an_ideal_probability_of_100(capsys, tmp_path):
    # a team that finishes 5 items every week: its forecasts are certain, and say ">99", not 100
    steady = tmp_path / "steady.csv"
    weeks = (FIXTURES / "psf__black.csv").read_text().splitlines()[1:61]
    steady.write_text("week_start,throughput\n" + "".join(f"{w.split(',')[0]},5\n" for w in weeks))
    argv = ["backtest", "--data", str(steady), "--method", "bootstrap", "--horizon", "1"]
    argv += ["--step", "1", "--runs", "100"]
    data = _json(capsys, [*argv, "--json"])
    assert data["pooled"]["when"]["ideal"]["50"] == 1.0
    assert main(argv) == 0
    out = capsys.readouterr().out
    when = out.split("when (within w periods):")[1].splitlines()[1]
    assert when.strip().startswith("pooled") and "50%:100/>99/" in when
    assert "/100/" not in out


def test_horizon_26_is_accepted_and_reported(capsys):
    data = _json(
        capsys, [*BLACK, "--method", "bootstrap", "--horizon", "26", "--step", "52", "--json"]
    )
    assert data["horizon"] == 26 and data["pooled"]["how_many"]["origins"] > 0


@pytest.mark.parametrize(
    ("extra", "field", "rule"),
    [
        (["--first-origin", "-3"], "--first-origin", ">= 8"),
        (["--last-origin", "-1"], "--last-origin", ">= 0"),
        (["--first-origin", "30", "--last-origin", "20"], "--last-origin", "before --first-origin"),
        (["--first-origin", "5000"], "--first-origin", "beyond the series"),
        (["--horizon", "27"], "--horizon", "from 1 to 26"),
        (["--horizon", "26", "--first-origin", "420"], "--first-origin", "beyond the series"),
    ],
)
def test_bad_origins_and_horizons_are_named(capsys, extra, field, rule):
    assert main([*BLACK, *extra]) == 2
    err = capsys.readouterr().err
    assert field in err and rule in err and "Traceback" not in err
    value = extra[extra.index(field) + 1]
    assert value in err


def test_a_horizon_beyond_what_the_history_allows_is_named(capsys, tmp_path):
    short = tmp_path / "short.csv"
    lines = (FIXTURES / "psf__black.csv").read_text().splitlines()[:31]  # header + 30 weeks
    short.write_text("\n".join(lines) + "\n")
    assert main(["backtest", "--data", str(short), "--horizon", "24", "--first-origin", "8"]) == 2
    err = capsys.readouterr().err
    assert "--horizon" in err and "at most 22" in err


def test_backtest_missing_data_path(capsys, tmp_path):
    assert main(["backtest", "--data", str(tmp_path / "nothing")]) == 2
    assert "data" in capsys.readouterr().err


DEADLINE = ["deadline", "--backlog", "40", "--start", "2026-01-05", "--deadline", "2026-03-02"]


def test_deadline_monte_carlo_json(capsys):
    data = _json(
        capsys,
        [
            *DEADLINE,
            "--method",
            "mc",
            "--throughput-file",
            str(FIXTURES / "psf__black.csv"),
            "--window",
            "52",
            "--runs",
            "3000",
            "--json",
        ],
    )
    assert data["method"] == "mc" and data["ml"] is None and data["consensus"] is None
    assert set(data["mc"]["percentiles"]) == {"50", "70", "85", "95"}
    assert "percentile_error" in data["mc"]
    assert data["mc"]["probability_by_deadline_text"] != "100%"


def test_deadline_both_side_by_side_text(capsys):
    argv = [
        *DEADLINE,
        "--method",
        "both",
        "--ml-method",
        "forest",
        "--throughput-file",
        str(FIXTURES / "psf__black.csv"),
        "--window",
        "52",
        "--runs",
        "3000",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Monte Carlo" in out and "ML (forest)" in out and "±" in out
    assert "ML and Monte Carlo" in out
    assert "100%" not in out


def test_deadline_refuses_short_history_unless_forced(capsys):
    short = [*DEADLINE, "--method", "mc", "--throughput", "5,6,4,7,5", "--runs", "1000", "--json"]
    assert main(short) == 2
    assert "8" in capsys.readouterr().err
    data = _json(capsys, [*short, "--force"])
    assert data["warnings"] and "only 5 periods" in data["warnings"][0]


def test_deadline_ml_refuses_short_history_recommending_monte_carlo(capsys):
    argv = [*DEADLINE, "--method", "ml", "--throughput", ",".join(["5"] * 10), "--runs", "1000"]
    assert main(argv) == 2
    assert "Monte Carlo" in capsys.readouterr().err


def test_deadline_with_an_empty_deadline_is_one_clear_line(capsys):
    argv = [
        "deadline",
        "--backlog",
        "40",
        "--start",
        "2026-01-05",
        "--deadline",
        "",
        "--method",
        "mc",
    ]
    code = main([*argv, "--throughput-file", str(FIXTURES / "psf__black.csv"), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "--deadline" in err and "needs a deadline" in err
    assert "Traceback" not in err
