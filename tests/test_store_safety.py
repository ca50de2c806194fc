"""The ledger file is never lost or created by accident.

Exports never replace the ledger or its sidecar files, nor an existing file
without --force, and go through a temporary file; commands that only read never
create a ledger; a damaged file or another program's database is refused and
left byte-for-byte unchanged; the store commands' numbers get named errors.
CLI commands run through flowray.cli.main, as in tests/test_store_cli.py.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from flowray.cli import main
from flowray.exceptions import InputError, StoreError
from flowray.records import export
from flowray.store import Store, require_ledger

NEW_LEDGER = "create one with `flowray project add NAME`"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("flowray "), err


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A ledger with one project and a throughput history."""
    path = tmp_path / "flowray.duckdb"
    store = Store(path)
    store.add_project("P", team_size=3)
    store.set_throughput("P", [(f"2025-01-{d:02d}", 3 + d % 4) for d in range(6, 31, 7)])
    return path


# ------------------------------------------------------------------------------------- export
def test_export_refuses_an_existing_file_unless_forced(capsys, ledger, tmp_path):
    out = tmp_path / "projects.parquet"
    out.write_bytes(b"someone's report")
    code, _, err = run(capsys, "export", "projects", "--out", str(out), "--db", str(ledger))
    assert_one_line_error(code, err)
    assert f"error: out: got '{out}'; exists; pass --force to replace it" in err
    assert out.read_bytes() == b"someone's report"

    code, printed, err = run(
        capsys, "export", "projects", "--out", str(out), "--force", "--db", str(ledger)
    )
    assert code == 0, err
    assert str(out) in printed
    assert pq.read_table(out).column("name").to_pylist() == ["P"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name) == []


def test_the_default_export_file_is_not_replaced_either(capsys, ledger, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "export", "throughput", "--format", "csv", "--db", str(ledger))[0] == 0
    first = (tmp_path / "throughput.csv").read_text()
    assert first.count("\n") == 5
    code, _, err = run(capsys, "export", "throughput", "--format", "csv", "--db", str(ledger))
    assert_one_line_error(code, err)
    assert "throughput.csv" in err and "exists; pass --force" in err
    assert (tmp_path / "throughput.csv").read_text() == first
    assert stat.S_IMODE((tmp_path / "throughput.csv").stat().st_mode) == 0o600


def ledger_aliases(ledger: Path) -> dict[str, Path]:
    """Every way of naming the ledger or one of its sidecars that an export must refuse."""
    folder = ledger.parent
    (folder / "x").mkdir(exist_ok=True)
    symlink = folder / "link.parquet"
    symlink.symlink_to(ledger)
    hardlink = folder / "hard.parquet"
    os.link(ledger, hardlink)
    wal_link = folder / "wal-link.parquet"
    wal_link.symlink_to(folder / "flowray.duckdb.wal")  # dangling: there is no WAL now
    return {
        "the ledger": ledger,
        "x/../ledger": folder / "x" / ".." / ledger.name,
        "a symlink to it": symlink,
        "a hard link to it": hardlink,
        "its lock file": folder / "flowray.duckdb.lock",
        "its gate file": folder / "flowray.duckdb.gate",
        "its WAL": folder / "flowray.duckdb.wal",
        "a symlink to its WAL": wal_link,
        "its spill folder": folder / "flowray.duckdb.tmp",
    }


@pytest.mark.parametrize(
    "alias",
    [
        "the ledger",
        "x/../ledger",
        "a symlink to it",
        "a hard link to it",
        "its lock file",
        "its gate file",
        "its WAL",
        "a symlink to its WAL",
        "its spill folder",
    ],
)
def test_export_never_writes_over_the_ledger_even_with_force(capsys, ledger, alias):
    target = ledger_aliases(ledger)[alias]
    before = snapshot(ledger)
    sidecars = {p: snapshot(p) for p in ledger.parent.glob("flowray.duckdb.*")}
    code, _, err = run(
        capsys, "export", "forecasts", "--out", str(target), "--force", "--db", str(ledger)
    )
    assert_one_line_error(code, err)
    assert "error: out:" in err and "is the ledger or one of its sidecar files" in err
    assert snapshot(ledger) == before
    assert {p: snapshot(p) for p in ledger.parent.glob("flowray.duckdb.*")} == sidecars
    assert not (ledger.parent / "flowray.duckdb.wal").exists()
    assert [p.name for p in Store(ledger, create=False).list_projects()] == ["P"]


def test_export_to_a_folder_or_a_missing_folder_is_a_named_error(capsys, ledger, tmp_path):
    code, _, err = run(capsys, "export", "projects", "--out", str(tmp_path), "--db", str(ledger))
    assert_one_line_error(code, err)
    assert f"error: out: got '{tmp_path}'; is a folder" in err
    missing = tmp_path / "no" / "such" / "folder.parquet"
    code, _, err = run(capsys, "export", "projects", "--out", str(missing), "--db", str(ledger))
    assert_one_line_error(code, err)
    assert f"error: out: got '{missing}'; its folder does not exist" in err
    assert not (tmp_path / "no").exists()


def test_a_failed_export_leaves_the_old_file_and_no_temporary_file(
    capsys, ledger, tmp_path, monkeypatch
):
    out = tmp_path / "old.parquet"
    out.write_bytes(b"the previous export")

    def write_half_then_fail(data, handle, format):
        handle.write(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "_write", write_half_then_fail)
    code, _, err = run(
        capsys, "export", "projects", "--out", str(out), "--force", "--db", str(ledger)
    )
    assert_one_line_error(code, err)
    assert "error: out:" in err and "cannot be written: No space left on device" in err
    assert out.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["old.parquet", "flowray.duckdb", "flowray.duckdb.lock", "flowray.duckdb.gate"]
    )


CRASHING_EXPORT = """
import os, signal, sys
from flowray.cli import main
from flowray.records import export

def write_half_then_die(data, handle, format):
    handle.write(b"PAR1 half a file")
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)

export._write = write_half_then_die
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("existing", [True, False], ids=["over an old file", "a new file"])
def test_an_export_killed_mid_write_leaves_no_half_file(ledger, tmp_path, existing):
    out = tmp_path / "report.parquet"
    if existing:
        out.write_bytes(b"the previous export")
    args = ["export", "projects", "--out", str(out), "--force", "--db", str(ledger)]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CRASHING_EXPORT), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    if existing:
        assert out.read_bytes() == b"the previous export"
    else:
        assert not out.exists()
    # What the killed process left is a hidden temporary file, never the target.
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".report.parquet.")]
    assert len(leftovers) == 1 and leftovers[0].endswith(".part")


def test_a_file_that_appears_during_an_export_is_kept(ledger, tmp_path):
    """Without force the final step creates the name only if it is still free."""
    out = tmp_path / "race.parquet"
    store = Store(ledger, create=False)
    target = export.export_target(out, protected=[ledger], force=False)
    out.write_bytes(b"written by someone else meanwhile")
    with pytest.raises(InputError, match="exists; pass --force"):
        export.write_export(store.read_table("projects"), target, format="parquet")
    assert out.read_bytes() == b"written by someone else meanwhile"
    assert [p.name for p in tmp_path.iterdir() if ".part" in p.name] == []


# ------------------------------------------------------------------- read-only commands
READ_ONLY_COMMANDS = {
    "project list": ["project", "list"],
    "throughput show": ["throughput", "show", "--project", "P"],
    "forecasts list": ["forecasts", "list"],
    "forecasts show": ["forecasts", "show", "1"],
    "calibration": ["calibration"],
    "export": ["export", "projects", "--out", "{folder}/projects.parquet"],
    "throughput add": ["throughput", "add", "--project", "P", "--file", "{csv}"],
    "actual add": [
        "actual",
        "add",
        "--project",
        "P",
        "--completed-on",
        "2025-03-03",
        "--items",
        "5",
    ],
    "when --project": ["when", "--project", "P", "--backlog", "10", "--runs", "100"],
    "how-many --project": ["how-many", "--project", "P", "--periods", "4", "--runs", "100"],
    "deadline --project": [
        "deadline",
        "--project",
        "P",
        "--backlog",
        "10",
        "--start",
        "2025-03-03",
        "--deadline",
        "2025-06-02",
        "--method",
        "mc",
        "--runs",
        "100",
    ],
}


@pytest.fixture
def throughput_csv(tmp_path: Path) -> Path:
    path = tmp_path / "input" / "tp.csv"
    path.parent.mkdir()
    path.write_text("week_start,throughput\n2025-01-06,3\n2025-01-13,4\n")
    return path


@pytest.mark.parametrize("command", list(READ_ONLY_COMMANDS))
def test_commands_that_need_a_ledger_never_create_one(capsys, tmp_path, throughput_csv, command):
    folder = tmp_path / "work"
    folder.mkdir()
    typo = folder / "flowray.duckbd"
    words = [w.format(folder=folder, csv=throughput_csv) for w in READ_ONLY_COMMANDS[command]]
    code, _, err = run(capsys, *words, "--db", str(typo))
    assert_one_line_error(code, err)
    assert f"no ledger at {typo}; {NEW_LEDGER}" in err
    assert list(folder.iterdir()) == []  # no ledger, no lock files, no export


def test_the_default_ledger_is_not_created_by_a_read_either(capsys, tmp_path, monkeypatch):
    missing = tmp_path / "typo" / "ledger.duckdb"
    monkeypatch.setenv("FLOWRAY_DB", str(missing))
    code, _, err = run(capsys, "forecasts", "list")
    assert_one_line_error(code, err)
    assert f"no ledger at {missing}" in err
    assert not missing.parent.exists()


def test_commands_that_start_a_ledger_still_create_it(capsys, tmp_path):
    fresh = tmp_path / "new.duckdb"
    code, _, err = run(capsys, "project", "add", "Apollo", "--db", str(fresh))
    assert code == 0, err
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    code, out, _ = run(capsys, "project", "list", "--db", str(fresh))
    assert code == 0 and "Apollo" in out


def test_require_ledger_is_the_one_check(tmp_path):
    with pytest.raises(InputError, match="no ledger at") as missing:
        require_ledger(tmp_path / "absent.duckdb")
    assert missing.value.field == "db"
    with pytest.raises(InputError, match="is a folder"):
        require_ledger(tmp_path)
    with pytest.raises(InputError, match="no ledger at"):
        Store(tmp_path / "absent.duckdb", create=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ damaged files
def damaged_bytes(kind: str, tmp_path: Path) -> bytes:
    if kind.startswith("first "):
        real = tmp_path / "real" / "flowray.duckdb"
        real.parent.mkdir()
        Store(real).add_project("P")
        return real.read_bytes()[: int(kind.split()[1])]
    return {
        "random bytes": bytes(range(256)) * 40,
        "a text file": b"week_start,throughput\n2025-01-06,3\n" * 50,
        "zero bytes": b"",
    }[kind]


DAMAGED = ["first 4096", "first 20000", "random bytes", "a text file", "zero bytes"]
COMMANDS_ON_A_DAMAGED_FILE = {
    "project list (read)": ["project", "list"],
    "forecasts show (read)": ["forecasts", "show", "1"],
    "export (read)": ["export", "projects", "--out", "{folder}/out.parquet"],
    "project add (write)": ["project", "add", "Apollo"],
    "actual add (write)": [
        "actual",
        "add",
        "--project",
        "P",
        "--completed-on",
        "2025-03-03",
        "--items",
        "5",
    ],
    "when --project (read)": ["when", "--project", "P", "--backlog", "5", "--runs", "100"],
}


@pytest.mark.parametrize("kind", DAMAGED)
@pytest.mark.parametrize("command", list(COMMANDS_ON_A_DAMAGED_FILE))
def test_a_damaged_file_is_reported_and_left_unchanged(capsys, tmp_path, kind, command):
    folder = tmp_path / "ledger"
    folder.mkdir()
    path = folder / "flowray.duckdb"
    path.write_bytes(damaged_bytes(kind, tmp_path))
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = snapshot(path)
    words = [w.format(folder=tmp_path) for w in COMMANDS_ON_A_DAMAGED_FILE[command]]
    code, _, err = run(capsys, *words, "--db", str(path))
    assert_one_line_error(code, err)
    assert f"{path} is not a flowray ledger or is damaged: " in err
    assert snapshot(path) == before
    assert sorted(p.name for p in folder.iterdir()) == [
        "flowray.duckdb",
        "flowray.duckdb.gate",
        "flowray.duckdb.lock",
    ]  # no WAL, no export


def test_a_damaged_file_under_a_folder_named_like_a_lock_fails_at_once(tmp_path):
    """DuckDB's reason quotes the path: a folder called "blocks" is no lock error to retry."""
    path = tmp_path / "blocks" / "flowray.duckdb"
    path.parent.mkdir()
    path.write_bytes(b"not a database")
    with pytest.raises(StoreError, match="is not a flowray ledger or is damaged"):
        Store(path, timeout=5)


def foreign_database(path: Path, *, tables: bool) -> None:
    con = duckdb.connect(str(path))
    if tables:
        con.execute("CREATE TABLE invoices (id INTEGER, amount DOUBLE)")
        con.execute("INSERT INTO invoices VALUES (1, 9.5)")
    con.close()


def test_another_programs_duckdb_file_is_refused_unchanged(capsys, tmp_path):
    path = tmp_path / "accounts.duckdb"
    foreign_database(path, tables=True)
    before = snapshot(path)
    for words in (["project", "add", "Apollo"], ["project", "list"]):
        code, _, err = run(capsys, *words, "--db", str(path))
        assert_one_line_error(code, err)
        assert f"{path} is not a flowray ledger: it is a DuckDB database with 1 table" in err
        assert snapshot(path) == before
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    finally:
        con.close()
    assert names == ["invoices"]


def test_an_empty_duckdb_file_becomes_a_ledger_only_when_asked(capsys, tmp_path):
    path = tmp_path / "empty.duckdb"
    foreign_database(path, tables=False)
    before = snapshot(path)
    code, _, err = run(capsys, "forecasts", "list", "--db", str(path))
    assert_one_line_error(code, err)
    assert f"no ledger at {path} (an empty DuckDB file); {NEW_LEDGER}" in err
    assert snapshot(path) == before
    code, _, err = run(capsys, "project", "add", "Apollo", "--db", str(path))
    assert code == 0, err
    assert [p.name for p in Store(path, create=False).list_projects()] == ["Apollo"]


# ------------------------------------------------------------- numbers on store commands
@pytest.mark.parametrize(
    ("words", "field", "value", "rule"),
    [
        (["project", "add", "X", "--team-size", "-3"], "--team-size", "-3", "from 1 to 100000"),
        (["project", "add", "X", "--team-size", "nan"], "--team-size", "nan", "whole number"),
        (["project", "add", "X", "--team-size", "4.5"], "--team-size", "4.5", "whole number"),
        (["actual", "add", "--items", "nan"], "--items", "nan", "whole number"),
        (["actual", "add", "--items", "1e12"], "--items", "1e12", "from 0 to 10000000"),
        (["actual", "add", "--items", "-1"], "--items", "-1", "from 0 to 10000000"),
        (["actual", "add", "--items", "5", "--forecast", "abc"], "--forecast", "abc", "whole"),
        (["throughput", "add", "--period-days", "0"], "--period-days", "0", "from 1 to 366"),
        (["throughput", "add", "--period-days", "inf"], "--period-days", "inf", "from 1 to 366"),
        (["forecasts", "show", "1.5"], "id", "1.5", "whole number"),
    ],
)
def test_store_command_numbers_get_named_errors(capsys, ledger, words, field, value, rule):
    if words[0] == "actual":
        words = [*words, "--project", "P", "--completed-on", "2025-03-03"]
    if words[0] == "throughput":
        csv = ledger.parent / "tp.csv"
        csv.write_text("week_start,throughput\n2025-02-03,3\n")
        words = [*words, "--project", "P", "--file", str(csv)]
    before = snapshot(ledger)
    code, _, err = run(capsys, *words, "--db", str(ledger))
    assert_one_line_error(code, err)
    assert f"error: {field}: got '{value}'; " in err and rule in err, err
    assert snapshot(ledger) == before


def test_a_bad_number_creates_no_ledger(capsys, tmp_path):
    fresh = tmp_path / "new.duckdb"
    code, _, err = run(capsys, "project", "add", "X", "--team-size", "1e12", "--db", str(fresh))
    assert_one_line_error(code, err)
    assert "error: --team-size: got '1e12'" in err
    assert list(tmp_path.iterdir()) == []


def test_throughput_file_values_get_named_errors(capsys, ledger):
    csv = ledger.parent / "tp.csv"
    csv.write_text("week_start,throughput\n2025-02-03,3\n2025-02-10,1e12\n")
    code, _, err = run(
        capsys, "throughput", "add", "--project", "P", "--file", str(csv), "--db", str(ledger)
    )
    assert_one_line_error(code, err)
    assert f"error: {csv} 2025-02-10: got 1000000000000.0" in err and "from 0 to 1000000" in err


def test_a_forecast_from_an_existing_ledger_still_runs(capsys, ledger):
    code, out, err = run(
        capsys,
        *["when", "--project", "P", "--backlog", "10", "--runs", "200", "--json"],
        *["--db", str(ledger)],
    )
    assert code == 0, err
    assert '"percentiles"' in out
