"""Importing work items never loses a project's history: refusals, revisions, restore.

Every replacement of a project's throughput first keeps the rows it replaces as
an append-only revision; an import that derives no done items, or carries done
dates after today, changes nothing; a shrinking import needs `replace`; saved
forecasts keep the history they were made from.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
from pathlib import Path

import duckdb
import pytest

from flowray import store as store_module
from flowray.cli import main
from flowray.core.forecast import simulate
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError
from flowray.importers import WorkItem, read_work_items
from flowray.importers import work_items as work_items_module
from flowray.records import projects, schema
from flowray.store import SCHEMA_VERSION, Store

START = dt.date(2025, 1, 6)  # a Monday
TODAY = dt.date(2026, 12, 7)
HAND_HISTORY = [(START + dt.timedelta(weeks=i), i % 5 + 1) for i in range(20)]  # 60 items


def _rows(periods):
    return [(p.period_start, p.items) for p in periods]


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("item_id,done_date\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "history.duckdb")


@pytest.fixture
def web(store):
    """Project 'web' with 20 weeks of hand-entered history and one stored work item."""
    store.add_project("web")
    store.set_throughput("web", HAND_HISTORY)
    store.add_work_items("web", [WorkItem("W-1", START + dt.timedelta(days=1))])
    return store


# ----------------------------------------------------------------------------- Store API


def test_no_done_items_changes_nothing_and_names_the_file(web):
    items_before = web.get_work_items("web")
    with pytest.raises(InputError, match=r"empty\.csv.*no done items.*'web' are unchanged"):
        web.import_work_items("web", [WorkItem("W-9", None)], source="empty.csv", today=TODAY)
    with pytest.raises(InputError, match="no done items"):
        web.import_work_items("web", [], today=TODAY)
    assert _rows(web.get_throughput("web")) == HAND_HISTORY
    assert web.get_work_items("web") == items_before  # the open item was not stored either
    assert web.list_throughput_revisions("web") == []


def test_store_refuses_a_done_date_after_today_by_name(web):
    future = dt.date(2031, 5, 1)
    with pytest.raises(
        InputError, match=r"item 'W-3' done_on.*2031-05-01.*after today \(2026-12-07\)"
    ):
        web.import_work_items(
            "web",
            [WorkItem("W-2", START), WorkItem("W-3", future)],
            today=TODAY,
            replace=True,
        )
    assert _rows(web.get_throughput("web")) == HAND_HISTORY
    assert [w.item_id for w in web.get_work_items("web")] == ["W-1"]


def test_reader_rejects_each_future_row_with_its_reason(tmp_path):
    path = _csv(tmp_path / "f.csv", [("A-1", "2026-12-07"), ("A-2", "2031-05-01"), ("A-3", "")])
    report = read_work_items(path, today=TODAY)
    assert [i.item_id for i in report.items] == ["A-1", "A-3"]  # today itself is fine
    (rejected,) = report.rejected
    assert (rejected.row, rejected.code, rejected.item_id) == (2, "done_after_today", "A-2")
    assert rejected.reason == "done date 2031-05-01 is after today (2026-12-07)"
    assert report.last_done == TODAY


def test_a_shrinking_import_is_refused_without_replace_and_changes_nothing(web):
    one_week = [WorkItem("N-1", START + dt.timedelta(weeks=8))]
    with pytest.raises(
        InputError, match=r"from 20 periods .* to 9 periods .*periods 20 -> 9; items 60 -> 2"
    ):
        web.import_work_items("web", one_week, source="few.csv", today=TODAY)
    assert _rows(web.get_throughput("web")) == HAND_HISTORY
    assert [w.item_id for w in web.get_work_items("web")] == ["W-1"]  # rolled back whole
    assert web.list_throughput_revisions("web") == []


def test_replace_keeps_the_old_history_as_a_revision_and_restore_brings_it_back(web):
    done = web.import_work_items(
        "web",
        [WorkItem("N-1", START + dt.timedelta(weeks=8))],
        source="few.csv",
        replace=True,
        today=TODAY,
    )
    history = done.history
    assert history.revision == 1
    assert (history.before.periods, history.before.items) == (20, 60)
    assert (history.before.first_period, history.before.last_period) == (
        START,
        START + dt.timedelta(weeks=19),
    )
    assert (history.after.periods, history.after.items) == (9, 2)  # W-1 and N-1, gaps filled
    assert sum(n for _, n in _rows(web.get_throughput("web"))) == 2

    (kept,) = web.list_throughput_revisions("web")
    assert (kept.revision, kept.reason, kept.periods, kept.items, kept.period_days) == (
        1,
        "import items few.csv",
        20,
        60,
        7,
    )
    assert kept.created_by and kept.created_at <= dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert _rows(web.get_throughput_revision("web", 1)) == HAND_HISTORY

    derived = _rows(web.get_throughput("web"))
    restored = web.restore_throughput("web", 1)
    assert _rows(web.get_throughput("web")) == HAND_HISTORY
    assert restored.revision == 2  # restoring is a replacement: the derived history is kept
    assert _rows(web.get_throughput_revision("web", 2)) == derived
    assert [r.reason for r in web.list_throughput_revisions("web")] == [
        "import items few.csv",
        "throughput restore --revision 1",
    ]
    # the restored history is itself recoverable: nothing is ever lost
    web.restore_throughput("web", 2)
    assert _rows(web.get_throughput("web")) == derived
    assert _rows(web.get_throughput_revision("web", 3)) == HAND_HISTORY


def test_an_import_that_extends_the_history_still_keeps_the_old_one(store):
    store.import_work_items("p", [WorkItem("1", START), WorkItem("2", START)], today=TODAY)
    grown = store.import_work_items(
        "p", [WorkItem("3", START + dt.timedelta(weeks=2))], source="more.csv", today=TODAY
    )
    assert grown.history.revision == 1
    assert _rows(store.get_throughput_revision("p", 1)) == [(START, 2)]
    assert _rows(store.get_throughput("p")) == [
        (START, 2),
        (START + dt.timedelta(weeks=1), 0),
        (START + dt.timedelta(weeks=2), 1),
    ]
    # the first import replaced nothing (no history yet), the same file again changes nothing
    again = store.import_work_items(
        "p", [WorkItem("3", START + dt.timedelta(weeks=2))], today=TODAY
    )
    assert again.history.revision is None and again.history.before == again.history.after
    assert len(store.list_throughput_revisions("p")) == 1


def test_set_throughput_keeps_what_it_replaces_or_merges_over(web):
    web.set_throughput("web", HAND_HISTORY)  # unchanged: no revision
    assert web.list_throughput_revisions("web") == []
    web.set_throughput("web", [(START, 9)], replace=False, reason="throughput add fix.csv")
    web.set_throughput("web", [(START, 1)], reason="throughput add one.csv")
    assert [(r.revision, r.reason, r.periods) for r in web.list_throughput_revisions("web")] == [
        (1, "throughput add fix.csv", 20),
        (2, "throughput add one.csv", 20),
    ]
    assert _rows(web.get_throughput_revision("web", 1)) == HAND_HISTORY
    assert _rows(web.get_throughput_revision("web", 2))[0] == (START, 9)
    assert _rows(web.get_throughput("web")) == [(START, 1)]


def test_a_saved_forecast_keeps_the_history_it_was_made_from(web):
    old = [n for _, n in _rows(web.get_throughput("web"))]
    scenario = Scenario(throughput=old, backlog=30, start=dt.date(2025, 6, 2))
    fid = web.save_forecast(
        "web",
        simulate(scenario, runs=2000, seed=3).to_dict(),
        data_window=(START, HAND_HISTORY[-1][0]),
    )
    web.import_work_items(
        "web",
        [WorkItem(f"N-{i}", START + dt.timedelta(days=3 * i)) for i in range(10)],
        source="new.csv",
        replace=True,
        today=TODAY,
    )
    assert [n for _, n in _rows(web.get_throughput("web"))] != old
    record = web.get_forecast(fid)
    assert record.inputs is not None and record.inputs["throughput"] == old
    assert record.data_periods == 20
    (kept,) = web.list_throughput_revisions("web")
    assert [n for _, n in _rows(web.get_throughput_revision("web", kept.revision))] == old


def test_unknown_and_invalid_revisions_are_refused_by_name(web):
    with pytest.raises(InputError, match="no such revision of project 'web' .no revisions yet"):
        web.get_throughput_revision("web", 1)
    web.set_throughput("web", [(START, 1)])
    with pytest.raises(InputError, match=r"revision: got 5; no such revision .*revisions 1 to 1"):
        web.restore_throughput("web", 5)
    with pytest.raises(InputError, match="revision: got 0; must be a whole number >= 1"):
        web.restore_throughput("web", 0)
    with pytest.raises(InputError, match="no such project"):
        web.list_throughput_revisions("nope")
    assert _rows(web.get_throughput("web")) == [(START, 1)]


def test_revisions_are_append_only():
    """No statement outside the migration rewrites or deletes a kept revision."""
    source = "".join(inspect.getsource(m) for m in (store_module, projects, schema))
    assert not re.search(r"UPDATE\s+throughput_revision", source, re.IGNORECASE)
    assert not re.search(r"DELETE\s+FROM\s+throughput_revision", source, re.IGNORECASE)
    assert not re.search(r"(DROP|ALTER)\s+TABLE\s+throughput_revision", source, re.IGNORECASE)


def test_a_v2_file_migrates_and_its_history_becomes_revision_1(tmp_path):
    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    for migration in schema.MIGRATIONS[:2]:  # released steps are never edited
        for statement in migration.statements:
            con.execute(statement)
        con.execute(
            "INSERT INTO schema_version VALUES (?, ?, now())",
            [migration.version, migration.description],
        )
    con.execute("INSERT INTO projects (name, created_at) VALUES ('old', now())")
    con.execute("INSERT INTO throughput VALUES (1, '2025-01-06', 7, 3), (1, '2025-01-13', 7, 4)")
    con.close()

    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert _rows(store.get_throughput("old")) == [(START, 3), (START + dt.timedelta(weeks=1), 4)]
    assert store.list_throughput_revisions("old") == []
    store.set_throughput("old", [(START, 5)])
    assert _rows(store.get_throughput_revision("old", 1)) == [
        (START, 3),
        (START + dt.timedelta(weeks=1), 4),
    ]


# ---------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_db(tmp_path):
    """A database whose project 'web' holds 20 hand-entered weeks (via `throughput add`)."""
    db = tmp_path / "cli.duckdb"
    csv = tmp_path / "weeks.csv"
    csv.write_text(
        "week_start,throughput\n" + "".join(f"{d.isoformat()},{n}\n" for d, n in HAND_HISTORY)
    )
    assert main(["project", "add", "web", "--db", str(db)]) == 0
    assert (
        main(
            [
                "throughput",
                "add",
                "--project",
                "web",
                "--file",
                str(csv),
                "--replace",
                "--db",
                str(db),
            ]
        )
        == 0
    )
    return db


def _show(db, capsys, *extra):
    capsys.readouterr()
    assert main(["throughput", "show", "--project", "web", "--json", "--db", str(db), *extra]) == 0
    return [
        (dt.date.fromisoformat(p["period_start"]), p["items"])
        for p in json.loads(capsys.readouterr().out)
    ]


def test_cli_headers_only_file_exits_non_zero_and_changes_nothing(cli_db, tmp_path, capsys):
    empty = _csv(tmp_path / "empty.csv", [])
    capsys.readouterr()
    assert main(["import", "items", str(empty), "--project", "web", "--db", str(cli_db)]) == 2
    err = capsys.readouterr().err
    assert f"file: got '{empty}'; holds no done items" in err
    assert "'web' are unchanged" in err
    assert _show(cli_db, capsys) == HAND_HISTORY
    assert Store(cli_db).get_work_items("web") == []
    # a file naming a project that does not exist creates nothing either
    assert main(["import", "items", str(empty), "--project", "new", "--db", str(cli_db)]) == 2
    assert [p.name for p in Store(cli_db).list_projects()] == ["web"]


def test_cli_rejects_future_done_dates_by_name(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(work_items_module, "local_today", lambda: TODAY)
    db = tmp_path / "f.duckdb"
    path = _csv(tmp_path / "f.csv", [("A-1", "2025-01-07"), ("A-2", "2031-05-01")])
    assert main(["import", "items", str(path), "--project", "p", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "rejected row 2 (line 3): done date 2031-05-01 is after today (2026-12-07)" in out
    assert _rows(Store(db).get_throughput("p")) == [(START, 1)]
    only_future = _csv(tmp_path / "g.csv", [("A-3", "2031-05-01")])
    assert main(["import", "items", str(only_future), "--project", "p", "--db", str(db)]) == 2
    assert "holds no done items (1 rows read, 1 rejected, 0 open)" in capsys.readouterr().err
    assert [w.item_id for w in Store(db).get_work_items("p")] == ["A-1"]


def test_cli_shrinking_import_needs_replace_and_says_how_to_restore(cli_db, tmp_path, capsys):
    few = _csv(tmp_path / "few.csv", [("A-1", "2025-03-04"), ("A-2", "bad"), ("A-3", "")])
    capsys.readouterr()
    assert main(["import", "items", str(few), "--project", "web", "--db", str(cli_db)]) == 2
    captured = capsys.readouterr()
    assert "rejected row 2 (line 3)" in captured.out  # the user sees why the file gives so little
    assert (
        "from 20 periods of 7 days, 60 items (2025-01-06..2025-05-19) to 1 period of 7 days, "
        "1 item (2025-03-03..2025-03-03)" in captured.err
    )
    assert "--replace" in captured.err
    assert _show(cli_db, capsys) == HAND_HISTORY
    assert Store(cli_db).get_work_items("web") == []

    argv = ["import", "items", str(few), "--project", "web", "--replace", "--db", str(cli_db)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (
        "history: 20 periods of 7 days, 60 items (2025-01-06..2025-05-19) -> "
        "1 period of 7 days, 1 item (2025-03-03..2025-03-03)" in out
    )
    assert (
        "the previous history is kept as revision 1: flowray throughput restore web --revision 1"
        in out
    )

    assert main(["throughput", "revisions", "web", "--db", str(cli_db)]) == 0
    listing = capsys.readouterr().out
    assert re.search(
        r"^1 +\d{4}-\d\d-\d\d \d\d:\d\d +\S+ +import items \S*few\.csv +20 +60 +2025-01-06\.\.2025-05-19$",
        listing,
        re.MULTILINE,
    )
    assert _show(cli_db, capsys, "--revision", "1") == HAND_HISTORY

    assert main(["throughput", "restore", "web", "--revision", "1", "--db", str(cli_db)]) == 0
    out = capsys.readouterr().out
    assert "restored revision 1 of project 'web'" in out
    assert "kept as revision 2: flowray throughput restore web --revision 2" in out
    assert _show(cli_db, capsys) == HAND_HISTORY
    assert _show(cli_db, capsys, "--revision", "2") == [(dt.date(2025, 3, 3), 1)]

    assert main(["throughput", "revisions", "--project", "web", "--json", "--db", str(cli_db)]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert [(r["revision"], r["periods"], r["items"]) for r in kept] == [(1, 20, 60), (2, 1, 1)]
    assert kept[1]["reason"] == "throughput restore --revision 1"


def test_cli_import_json_reports_the_history_change(cli_db, tmp_path, capsys):
    path = _csv(
        tmp_path / "all.csv",
        [(f"A-{i}", (START + dt.timedelta(days=i * 7 // 3)).isoformat()) for i in range(75)],
    )
    capsys.readouterr()
    assert (
        main(["import", "items", str(path), "--project", "web", "--json", "--db", str(cli_db)]) == 0
    )
    history = json.loads(capsys.readouterr().out)["history"]
    assert history["revision"] == 1
    assert (history["before"]["periods"], history["before"]["items"]) == (20, 60)
    assert (history["after"]["periods"], history["after"]["items"]) == (25, 75)
    assert history["restore"] == "flowray throughput restore web --revision 1"


def test_cli_restore_hint_quotes_a_project_name_with_spaces(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    first = _csv(tmp_path / "a.csv", [("A-1", "2025-01-07")])
    more = _csv(tmp_path / "b.csv", [("A-2", "2025-01-14")])
    assert main(["import", "items", str(first), "--project", "my team", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["import", "items", str(more), "--project", "my team", "--db", str(db)]) == 0
    assert "flowray throughput restore 'my team' --revision 1" in capsys.readouterr().out
    assert (
        main(
            [
                "throughput",
                "restore",
                "my team",
                "--project",
                "other",
                "--revision",
                "1",
                "--db",
                str(db),
            ]
        )
        == 2
    )
    assert "differs from the PROJECT given" in capsys.readouterr().err


def test_cli_throughput_add_keeps_the_history_it_replaces(cli_db, tmp_path, capsys):
    one = tmp_path / "one.csv"
    one.write_text("week_start,throughput\n2025-01-06,9\n")
    argv = ["throughput", "add", "--project", "web", "--file", str(one), "--replace"]
    assert main([*argv, "--db", str(cli_db)]) == 0
    (kept,) = Store(cli_db).list_throughput_revisions("web")
    assert (kept.reason, kept.periods, kept.items) == (f"throughput add {one}", 20, 60)
    assert _show(cli_db, capsys, "--revision", "1") == HAND_HISTORY


@pytest.mark.parametrize(
    "argv",
    [
        ["throughput", "show", "--project", "P", "--revision", "abc"],
        ["throughput", "restore", "P", "--revision", "-1"],
        ["throughput", "restore", "P", "--revision", "2.5"],
    ],
)
def test_revision_numbers_get_the_validators_named_error(argv, tmp_path, capsys):
    from flowray.cli import main
    from flowray.store import Store

    db = tmp_path / "ledger.duckdb"
    Store(db).add_project("P")
    assert main([*argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "revision" in err and "whole number" in err


def test_a_bad_period_length_is_refused_before_any_ledger_is_created(tmp_path, capsys):
    from flowray.cli import main

    items = tmp_path / "items.csv"
    items.write_text("item_id,done_date\nA-1,2026-01-05\nA-2,2026-01-06\n")
    db = tmp_path / "new.duckdb"
    code = main(
        ["import", "items", str(items), "--project", "P", "--period-days", "abc", "--db", str(db)]
    )
    assert code == 2 and "--period-days" in capsys.readouterr().err
    assert not db.exists()
