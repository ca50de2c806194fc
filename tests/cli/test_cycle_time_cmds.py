"""`flowray cycle-time` and `flowray.cycle_time_report`: a stored project's items, in words and JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowray
from flowray.cli import main
from flowray.importers import WorkItem
from flowray.store import Store

TODAY = dt.date(2027, 3, 1)


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A project whose finished items took 1..20 days, two items in progress and two left out."""
    items = [WorkItem(f"F-{d}", day(-d), day(-d - d + 1)) for d in range(1, 21)]
    items += [
        WorkItem("OPEN-OLD", None, day(-17)),  # age 18: past the 85th percentile (17 days)
        WorkItem("OPEN-NEW", None, day(-2)),  # age 3
        WorkItem("NO-START", day(-1), None),
        WorkItem("REOPENED", day(-5), day(-2)),
    ]
    path = tmp_path / "flowray.duckdb"
    Store(path).import_work_items("Team A", items, today=TODAY)
    return path


def test_the_report_from_python(ledger: Path):
    report = flowray.cycle_time_report("Team A", ledger, today=TODAY)
    assert isinstance(report, flowray.CycleTimeReport)
    assert report.percentiles == {50: 10, 70: 14, 85: 17, 95: 19}
    assert report.finished == 20 and report.items_stored == 24
    assert [(a.item_id, a.age, a.band) for a in report.in_progress] == [
        ("OPEN-OLD", 18, 85),
        ("OPEN-NEW", 3, None),
    ]
    old = report.in_progress[0].forecast
    assert old.rests_on == 3 and not old.reliable  # only 18, 19 and 20 days took as long
    new = report.in_progress[1].forecast
    assert new.rests_on == 18 and new.date(85) >= TODAY


def test_text_names_percentiles_items_and_what_it_rests_on(ledger: Path, capsys):
    code = main(["cycle-time", "--project", "Team A", "--db", str(ledger), "--today", "2027-03-01"])
    out = capsys.readouterr().out
    assert code == 0
    assert "cycle time of 20 finished items, as of 1 March 2027" in out
    assert "85% of items finished within 17 days  (95% range 14-20)" in out
    old_line = next(line for line in out.splitlines() if "OPEN-OLD" in line)
    assert "past 85%" in old_line and "cannot be said: 3 finished took as long" in old_line
    new_line = next(line for line in out.splitlines() if "OPEN-NEW" in line)
    assert "(from 18 items)" in new_line
    assert "1 item: done, but without a start date" in out
    assert "1 item: done before it was started" in out
    assert out.index("OPEN-OLD") < out.index("OPEN-NEW")  # oldest first


def test_json(ledger: Path, capsys):
    code = main(
        [
            "cycle-time",
            "--project",
            "Team A",
            "--db",
            str(ledger),
            "--today",
            "2027-03-01",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["percentiles"] == {"50": 10, "70": 14, "85": 17, "95": 19}
    assert data["percentile_ranges"]["50"] == [6, 15]
    assert data["finished"] == 20
    assert data["left_out"] == {"done_before_start": 1, "no_start_date": 1}
    new = data["in_progress"][1]
    assert new["item_id"] == "OPEN-NEW" and new["forecast"]["rests_on"] == 18
    assert new["forecast"]["dates"]["85"] >= "2027-03-01"


@pytest.mark.parametrize(
    ("words", "field"),
    [
        (["--project", "Nobody"], "project: got 'Nobody'"),
        (["--project", "Team A", "--today", "1st of May"], "--today: got '1st of May'"),
        (["--project", "Team A", "--today", "2020-01-01"], "items: got '24 items'"),
    ],
)
def test_bad_input_is_one_named_line(ledger: Path, capsys, words, field):
    before = ledger.read_bytes()
    code = main(["cycle-time", "--db", str(ledger), *words])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("flowray cycle-time: error: ") and field in err
    assert "Traceback" not in err
    assert ledger.read_bytes() == before  # a read saves nothing


def test_a_project_without_work_items_says_how_to_import_them(ledger: Path, capsys):
    Store(ledger).add_project("Throughput only")
    assert main(["cycle-time", "--project", "Throughput only", "--db", str(ledger)]) == 2
    err = capsys.readouterr().err
    assert "project: got 'Throughput only'; holds no work items" in err
    assert "flowray import items" in err


def test_a_missing_ledger_is_not_created(tmp_path: Path, capsys):
    path = tmp_path / "typo.duckdb"
    assert main(["cycle-time", "--project", "Team A", "--db", str(path)]) == 2
    assert "no ledger at" in capsys.readouterr().err
    assert not path.exists()


def test_a_damaged_ledger_is_reported_and_left_unchanged(tmp_path: Path, capsys):
    path = tmp_path / "flowray.duckdb"
    path.write_bytes(b"not a database at all" * 200)
    before = path.read_bytes()
    assert main(["cycle-time", "--project", "Team A", "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} is not a flowray ledger or is damaged" in err and "Traceback" not in err
    assert path.read_bytes() == before


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    option=st.sampled_from(["--today", "--project"]),
    value=st.one_of(
        st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "today", "", "nan"]),
        st.text(max_size=30),
    ),
)
def test_any_value_ends_in_an_answer_or_one_named_error(ledger: Path, capsys, option, value):
    words = ["cycle-time", "--db", str(ledger), "--project", "Team A", f"{option}={value}"]
    code = main(words)
    err = capsys.readouterr().err
    assert code in (0, 2)
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("flowray cycle-time: error: ") and err.count("\n") == 1
