"""Typos and hostile numbers on the forecast commands end in one named error (exit 2), never a traceback."""

from __future__ import annotations

import pytest

from flowray.cli import attach_negative_values, main

HISTORY = ["--throughput", "5,6,0,7,3,4,5,6,7,8"]


@pytest.mark.parametrize(
    ("args", "field", "rule"),
    [
        (["when", *HISTORY, "--backlog", "10", "--runs", "nan"], "--runs", "whole number"),
        (["when", *HISTORY, "--backlog", "inf"], "--backlog", "whole number"),
        (["when", *HISTORY, "--backlog", "1e12"], "backlog", "to 10000000"),
        (["when", *HISTORY, "--backlog", "10", "--split", "1e9:1e9"], "split_rate", "<= 100"),
        (["when", *HISTORY, "--backlog", "10", "--risk", "0.5:1:2:1e12"], "risks.high", "<="),
        (
            ["when", *HISTORY, "--backlog", "10", "--risk", "-0.1:1:2:3"],
            "risks.likelihood",
            "[0, 1]",
        ),
        (["when", *HISTORY, "--backlog", "10", "--start", "9999-12-25"], "start", "2200-12-31"),
        (["when", *HISTORY, "--backlog", "10", "--period-days", "100000"], "period_days", "to 366"),
        (["when", *HISTORY, "--backlog", "10", "--runs", "1e12"], "runs", "to 1000000000"),
        (["when", *HISTORY, "--backlog", "10", "--seed", str(2**63)], "seed", "from 0 to"),
        (["when", *HISTORY, "--backlog", "10", "--focus", "nan"], "focus", "finite"),
        (["when", *HISTORY, "--backlog", "10", "--max-periods", "1e9"], "max_periods", "100000"),
        (["how-many", *HISTORY, "--periods", "1e9"], "periods", "to 100000"),
        (["how-many", *HISTORY, "--periods", "abc"], "periods", "whole number"),
        (["when", "--throughput", "5,nan,3", "--backlog", "10"], "--throughput", "finite"),
        (
            ["when", *HISTORY, "--backlog", "10", "--percentiles", "10,100"],
            "--percentiles",
            "(0, 100)",
        ),
    ],
)
def test_bad_numbers_get_named_errors(args, field, rule, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"error: {field}" in err and rule in err, err
    assert "Traceback" not in err


def test_percentiles_shape_the_text_table(capsys):
    assert (
        main(["when", *HISTORY, "--backlog", "10", "--runs", "2000", "--percentiles", "10,99"]) == 0
    )
    out = capsys.readouterr().out
    assert "     10%" in out and "     99%" in out
    assert "     85%" not in out


def test_negative_values_are_attached_to_their_option():
    assert attach_negative_values(["when", "--risk", "-0.1:1:2:3", "--backlog", "5"]) == [
        "when",
        "--risk=-0.1:1:2:3",
        "--backlog",
        "5",
    ]
    # Short options and words that only look negative after "=" are left alone.
    assert attach_negative_values(["-h"]) == ["-h"]
    assert attach_negative_values(["--risk=-1:2:3:4"]) == ["--risk=-1:2:3:4"]
