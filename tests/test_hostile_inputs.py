"""Random hostile values at every command and API entry point: a result or a FlowrayError, nothing else.

Each example puts one value (NaN, infinity, huge, negative, empty, random text
or bytes, impossible dates) into one option of one command, or one field of a
scenario. The outcome must be exit 0 or a named error (exit 2), in bounded
time (hypothesis' deadline guards against hangs) and bounded memory (the
largest resident size of the whole test stays far below the machine's).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import resource
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowray.cli import main
from flowray.core.forecast import how_many, simulate
from flowray.core.scenario import Scenario
from flowray.exceptions import FlowrayError
from flowray.importers import read_throughput_file, read_work_items

HISTORY = "5,6,0,7,3,4,5,6,7,8"

_NUMBERS = st.sampled_from(
    ["nan", "-nan", "inf", "-inf", "1e12", "1e300", "-1", "-0.1", "0", "2.5", str(2**64), "1e-300"]
)
_DATES = st.sampled_from(
    ["0001-01-01", "1900-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "26-1-1", "today"]
)
_TEXT = st.text(min_size=0, max_size=40)
_BYTES_AS_TEXT = st.binary(max_size=40).map(lambda b: b.decode("latin-1"))
HOSTILE = st.one_of(_NUMBERS, _DATES, _TEXT, _BYTES_AS_TEXT, st.integers().map(str))

# Each command with its other options valid; the fuzzed option is appended last.
COMMANDS: dict[str, list[str]] = {
    "when": ["when", "--throughput", HISTORY, "--backlog", "20", "--runs", "500"],
    "how-many": ["how-many", "--throughput", HISTORY, "--runs", "500"],
    "project add": ["project", "add", "hostile"],
    "actual add": ["actual", "add", "--project", "hostile"],
    "forecasts list": ["forecasts", "list"],
}
OPTIONS: dict[str, list[str]] = {
    "when": [
        "--backlog",
        "--split",
        "--split-samples",
        "--risk",
        "--history-team",
        "--contributors",
        "--s-curve",
        "--focus",
        "--lead-time",
        "--start",
        "--deadline",
        "--max-periods",
        "--percentiles",
        "--seed",
        "--period-days",
        "--throughput",
        "--window",
        "--method",
    ],
    "how-many": ["--periods", "--start", "--focus", "--contributors", "--seed", "--period-days"],
    "project add": ["--team-size", "--start-date", "--target-date", "--description"],
    "actual add": ["--completed-on", "--items", "--forecast"],
    "forecasts list": ["--project", "--kind"],
}
CASES = [(command, option) for command, options in OPTIONS.items() for option in options]
RSS_LIMIT_KB = 6 * 1024 * 1024  # 6 GiB: an unbounded allocation (a TiB histogram) fails long before


def _run(words: list[str]) -> int:
    try:
        return main(words)
    except SystemExit as exit_:  # argparse's own usage errors (a missing value, an unknown choice)
        code = exit_.code
        return code if isinstance(code, int) else 2


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> str:
    db = str(tmp_path_factory.mktemp("hostile") / "ledger.duckdb")
    assert main(["project", "add", "hostile", "--db", db]) == 0
    return db


@pytest.mark.slow
@pytest.mark.parametrize(("command", "option"), CASES)
@settings(
    max_examples=12,
    deadline=dt.timedelta(seconds=30),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=HOSTILE)
def test_cli_options_take_any_value(command, option, value, ledger, capsys):
    words = [*COMMANDS[command], "--db", ledger]
    if command == "actual add" and option != "--items":
        words += ["--items", "3"]
    if command == "actual add" and option != "--completed-on":
        words += ["--completed-on", "2026-01-05"]
    if command == "how-many" and option != "--periods":
        words += ["--periods", "4"]
    if command == "when" and option == "--throughput":
        words = [w for w in words if w not in ("--throughput", HISTORY)]
    code = _run([*words, f"{option}={value}"])
    captured = capsys.readouterr()
    assert code in (0, 2), (code, captured.err)
    assert "Traceback" not in captured.err
    if code == 2:
        assert "error:" in captured.err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < RSS_LIMIT_KB


_FIELD_VALUES: st.SearchStrategy[Any] = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([None, "", "abc", [], {}, [1, "x"], {"low": 1}, True, "9999-12-31"]),
    _TEXT,
)
SCENARIO_FIELDS = [
    f.name for f in dataclasses.fields(Scenario) if f.init and f.name != "throughput"
]


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIO_FIELDS)
@settings(max_examples=25, deadline=dt.timedelta(seconds=30))
@given(value=_FIELD_VALUES)
def test_scenario_fields_take_any_value(name, value):
    fields: dict[str, Any] = {"throughput": [5, 6, 0, 7, 3, 4, 5, 6], "backlog": 20, name: value}
    try:
        scenario = Scenario(**fields)
        simulate(scenario, runs=300, seed=1)
        how_many(scenario, periods=3, runs=300, seed=1)
    except FlowrayError:
        pass
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < RSS_LIMIT_KB


@pytest.mark.slow
@settings(max_examples=200, deadline=dt.timedelta(seconds=30))
@given(content=st.one_of(st.binary(max_size=400), _TEXT.map(str.encode)))
def test_files_of_any_bytes_are_read_or_refused_by_name(content, tmp_path_factory):
    path = Path(tmp_path_factory.mktemp("bytes")) / "input.csv"
    path.write_bytes(content)
    for reader in (read_throughput_file, read_work_items):
        try:
            reader(path)
        except FlowrayError as error:
            assert len(str(error)) < 600  # never a dump of the file
