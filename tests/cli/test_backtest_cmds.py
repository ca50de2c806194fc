"""`flowray backtest` and `flowray deadline`: JSON shapes, defaults, guards and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowray.cli import main
from flowray.core import backtest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "throughput"
BLOCK_KEYS = {"coverage", "crps", "pinball", "median_abs_error", "origins"}


def _json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _check_block(block: dict) -> None:
    assert set(block) == BLOCK_KEYS
    assert set(block["coverage"]) == {"50", "70", "85", "95"}
    assert all(0.0 <= share <= 1.0 for share in block["coverage"].values())
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
    # series come in the loader's order (case-insensitive); the fixtures now mix "Homebrew" and "aio"
    assert names == sorted((p.stem for p in FIXTURES.glob("*.csv")), key=str.lower)
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
