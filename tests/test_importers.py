"""Importers against the fixtures' manifests (tracker exports, plain item files, the old app's DB)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from flowray.core.throughput import derive_throughput
from flowray.exceptions import InputError
from flowray.importers import (
    DateParseError,
    ImportReport,
    WorkItem,
    parse_date,
    read_flow_forecaster,
    read_throughput_csv,
    read_throughput_file,
    read_work_items,
)
from flowray.importers.work_items import read_table, work_items_from_table

FIXTURES = Path(__file__).parent / "fixtures"
EXPORTS = FIXTURES / "tracker_exports"
EXPORTS_MANIFEST = json.loads((EXPORTS / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
ITEM_SERIES = FIXTURES / "throughput_items"
OLD_DB = FIXTURES / "flow_forecaster" / "sample.db"
OLD_DB_MANIFEST = json.loads((OLD_DB.parent / "MANIFEST.json").read_text(encoding="utf-8"))

# The format each export must be recognised as (from the manifest's `format` text).
EXPECTED_FORMAT = {
    "jira_all_fields.csv": "jira_all_fields",
    "jira_current_fields.csv": "jira_current_fields",
    "azure_devops_query.csv": "azure_devops",
    "generic_items.csv": "generic",
}


def reason_category(manifest_reason: str) -> str:
    """Translate the manifest's per-file reason names into the importer's codes."""
    if manifest_reason == "missing_key":
        return "missing_key"
    if manifest_reason.endswith(("_invalid_day", "_invalid_date")):
        return "invalid_date"
    if manifest_reason.endswith("_bad_month"):
        return "unknown_month"
    if manifest_reason.endswith("_text"):
        return "not_a_date"
    raise AssertionError(f"unmapped manifest reason {manifest_reason!r}")


@pytest.fixture(scope="module")
def reports() -> dict[str, ImportReport]:
    return {name: read_work_items(EXPORTS / name) for name in EXPORTS_MANIFEST}


# --------------------------------------------------------------------------- tracker exports


@pytest.mark.parametrize("name", sorted(EXPORTS_MANIFEST))
def test_export_matches_manifest_counts(reports: dict[str, ImportReport], name: str) -> None:
    expected, report = EXPORTS_MANIFEST[name], reports[name]
    assert report.format == EXPECTED_FORMAT[name]
    assert report.data_rows == expected["data_rows"]
    assert len(report.done_items) == expected["valid_done_items"]
    assert len(report.open_items) == expected["open_rows"]
    # every record is accounted for: imported, rejected or not counted, none silently dropped
    total = len(report.items) + len(report.rejected) + len(report.not_counted)
    assert total == expected["data_rows"]
    # these exports hold only Story/Bug/Task rows, none removed: the manifest's counts are
    # delivered work as they stand
    assert report.not_counted == []
    assert len(report.done_items) + len(report.rejected) == expected["done_rows_total"]
    assert report.columns == {
        "id": expected["columns"]["key"],
        "done": expected["columns"]["done"],
        "start": expected["columns"]["start"],
    }
    assert report.first_done == dt.date.fromisoformat(expected["first_done"])
    assert report.last_done == dt.date.fromisoformat(expected["last_done"])


@pytest.mark.parametrize("name", sorted(EXPORTS_MANIFEST))
def test_export_rejects_exactly_the_malformed_rows(
    reports: dict[str, ImportReport], name: str
) -> None:
    expected = [
        (m["row"], m["line"], reason_category(m["reason"]), m["key"])
        for m in EXPORTS_MANIFEST[name]["malformed_rows"]
    ]
    got = [(r.row, r.line, r.code, r.item_id) for r in reports[name].rejected]
    assert got == expected
    for rejected in reports[name].rejected:
        assert rejected.reason  # a human-readable reason, naming the column
        assert rejected.column in rejected.reason


@pytest.mark.parametrize("name", sorted(EXPORTS_MANIFEST))
def test_export_weekly_throughput_matches_manifest(
    reports: dict[str, ImportReport], name: str
) -> None:
    expected = EXPORTS_MANIFEST[name]["weekly_throughput"]
    weekly = derive_throughput(reports[name].items)
    assert {start.isoformat(): n for start, n in weekly} == expected
    assert all(start.weekday() == 0 for start, _ in weekly)
    assert sum(n for _, n in weekly) == EXPORTS_MANIFEST[name]["weekly_throughput_sum"]


def test_open_items_are_work_in_progress_not_throughput(reports: dict[str, ImportReport]) -> None:
    report = reports["azure_devops_query.csv"]
    assert report.open_items and all(i.done_on is None for i in report.open_items)
    # Azure "Active" rows have an Activated Date: kept as the start of work in progress
    assert any(i.started_on is not None for i in report.open_items)
    total = sum(n for _, n in derive_throughput(report.items))
    assert total == len(report.done_items)


def test_report_to_dict_is_json_and_complete(reports: dict[str, ImportReport]) -> None:
    report = reports["generic_items.csv"]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["format"] == "generic"
    assert data["columns"] == {"id": "id", "done": "done", "start": "started"}
    assert data["items_imported"] == len(report.items)
    assert data["done"] == len(report.done_items)
    assert data["open"] == len(report.open_items)
    assert data["rows_rejected"] == len(report.rejected) == len(data["rejected"])
    assert {"row", "line", "reason", "code"} <= set(data["rejected"][0])
    assert data["dayfirst"] is True
    assert "day-first" in data["date_format"]
    # the report says how an ambiguous date was read, with an example
    assert any("ambiguous" in note and "day-first" in note for note in data["notes"])
    ambiguous = data["ambiguous_dates"]
    assert ambiguous["read_as"] == "day-first" and ambiguous["count"] == len(report.ambiguous_dates)
    text, read = ambiguous["example"]["text"], ambiguous["example"]["date"]
    day, month, year = (int(part) for part in text.split("/"))
    assert day != month and day <= 12 and month <= 12
    assert read == dt.date(year, month, day).isoformat()
    # imported items only: rejected rows are not counted as read
    assert all(cell.count("/") == 2 for cell, _ in report.ambiguous_dates)


def test_generic_ambiguous_dates_read_day_first(reports: dict[str, ImportReport]) -> None:
    report = reports["generic_items.csv"]
    by_id = {item.item_id: item for item in report.items}
    # row "MCK-3447,...,18/09/2024,20/09/2024,27/09/2024" and an ambiguous row
    assert by_id["MCK-3447"].done_on == dt.date(2024, 9, 27)
    assert by_id["MCK-3447"].started_on == dt.date(2024, 9, 20)
    line = next(
        ln for ln in (EXPORTS / "generic_items.csv").read_text().splitlines() if ",06/01/2025" in ln
    )
    key, done = line.split(",")[0], line.rsplit(",", 1)[1]
    assert done == "06/01/2025"
    assert by_id[key].done_on == dt.date(2025, 1, 6)


def test_azure_dates_read_month_first(reports: dict[str, ImportReport]) -> None:
    report = reports["azure_devops_query.csv"]
    assert report.dayfirst is False
    assert ("12/4/2025 9:52:15 AM", dt.date(2025, 12, 4)) in report.ambiguous_dates
    assert report.to_dict()["ambiguous_dates"]["read_as"] == "month-first"
    assert reports["jira_all_fields.csv"].to_dict()["ambiguous_dates"] is None
    by_id = {item.item_id: item for item in report.items}
    assert by_id["11355"].done_on == dt.date(2025, 12, 4)  # "12/4/2025 9:52:15 AM"
    assert by_id["11355"].started_on == dt.date(2025, 11, 29)


# --------------------------------------------------------------------------- plain item files


@pytest.mark.parametrize("series", ["vuejs__core", "mockito__mockito"])
def test_plain_items_reproduce_weekly_series(series: str) -> None:
    report = read_work_items(ITEM_SERIES / "items" / f"{series}.csv")
    assert report.format == "items"
    assert report.rejected == [] and report.open_items == []
    weekly = read_throughput_csv(ITEM_SERIES / "weekly" / f"{series}.csv")
    assert derive_throughput(report.items) == [(start, int(n)) for start, n in weekly]


# --------------------------------------------------------------------------- date parser


@pytest.mark.parametrize(
    ("text", "dayfirst", "expected"),
    [
        ("06/01/2025", True, dt.date(2025, 1, 6)),
        ("06/01/2025", False, dt.date(2025, 6, 1)),
        ("12/4/2025 9:52:15 AM", False, dt.date(2025, 12, 4)),
        ("12/4/2025 9:52:15 AM", True, dt.date(2025, 4, 12)),
        ("2025-01-06", True, dt.date(2025, 1, 6)),
        ("2025-01-06", False, dt.date(2025, 1, 6)),  # ISO is never ambiguous
        ("2025-01-06T23:30:00-05:00", True, dt.date(2025, 1, 6)),  # no zone conversion
        ("2025-01-06 23:59:59.123456", True, dt.date(2025, 1, 6)),
        ("05/Mar/26 9:07 AM", True, dt.date(2026, 3, 5)),
        ("05/Mar/26 11:59 PM", False, dt.date(2026, 3, 5)),  # kept as written, not shifted
        ("5/mar/2026", True, dt.date(2026, 3, 5)),
        ("25/Sept/99", True, dt.date(1999, 9, 25)),
        ("05/fev/26 9:07 AM", True, dt.date(2026, 2, 5)),  # Jira in a Portuguese profile
        ("05/Mär/26", True, dt.date(2026, 3, 5)),
        ("3/déc./2025", True, dt.date(2025, 12, 3)),
        (" 31/12/2024 ", True, dt.date(2024, 12, 31)),
        ("29/02/2024", True, dt.date(2024, 2, 29)),
    ],
)
def test_parse_date_reads_dates_as_written(text: str, dayfirst: bool, expected: dt.date) -> None:
    assert parse_date(text, dayfirst=dayfirst) == expected


@pytest.mark.parametrize(
    ("text", "dayfirst", "code"),
    [
        ("31/02/2024", True, "invalid_date"),
        ("29/02/2025", True, "invalid_date"),
        ("2/30/2025 12:48:47 PM", False, "invalid_date"),
        ("13/01/2025", False, "invalid_date"),  # month 13 when read month-first
        ("32/May/26 9:09 AM", True, "invalid_date"),
        ("10/Foo/25 11:24 AM", True, "unknown_month"),
        ("05/Mar/26 13:07 PM", True, "invalid_date"),
        ("2025-01-06 24:00", True, "invalid_date"),
        ("yesterday", True, "not_a_date"),
        ("resolved (see comment)", True, "not_a_date"),
        ("n/a", True, "not_a_date"),
        ("2025-01", True, "not_a_date"),
        ("", True, "not_a_date"),
    ],
)
def test_parse_date_rejects_invalid_dates(text: str, dayfirst: bool, code: str) -> None:
    with pytest.raises(DateParseError) as caught:
        parse_date(text, dayfirst=dayfirst)
    assert caught.value.code == code
    assert isinstance(caught.value, InputError)
    assert repr(text) in str(caught.value)


def write(tmp_path: Path, text: str, name: str = "items.csv", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def test_only_ambiguous_dates_fall_back_to_format_default_and_say_so(tmp_path: Path) -> None:
    path = write(tmp_path, "id,done\nA,06/01/2025\nB,07/02/2025\n")
    report = read_work_items(path)
    assert [i.done_on for i in report.items] == [dt.date(2025, 1, 6), dt.date(2025, 2, 7)]
    note = " ".join(report.notes)
    assert "No date in the file settles the order" in note
    assert "06/01/2025 read as 2025-01-06" in note
    assert "dayfirst=" in note


def test_month_first_detected_from_unambiguous_dates(tmp_path: Path) -> None:
    path = write(tmp_path, "id,done\nA,06/01/2025\nB,12/31/2025\n")
    report = read_work_items(path)
    assert report.dayfirst is False
    assert [i.done_on for i in report.items] == [dt.date(2025, 6, 1), dt.date(2025, 12, 31)]
    assert any("month-first" in n and "12/31/2025" in n for n in report.notes)


def test_forced_order_against_the_evidence_rejects_and_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "id,done\nA,06/01/2025\nB,21/01/2025\n")
    report = read_work_items(path, dayfirst=False)
    assert [i.done_on for i in report.items] == [dt.date(2025, 6, 1)]
    assert [(r.row, r.line, r.code) for r in report.rejected] == [(2, 3, "invalid_date")]
    assert any("Warning" in n and "21/01/2025" in n for n in report.notes)


# --------------------------------------------------------------------------- CSV details


def test_quotes_commas_multiline_crlf_bom_and_repeated_columns(tmp_path: Path) -> None:
    text = (
        "\ufeffIssue key,Summary,Resolved,Resolved,Labels,Labels\n"
        'K-1,"Update docs, examples and changelog",03/Mar/26 9:00 AM,,a,b\n'
        'K-2,"Improve error for missing ""name"" key",,04/Mar/26 9:00 AM,,\n'
        'K-3,"line one\nline two, with comma\nline three",05/Mar/26 10:00 PM,,,\n'
        "K-4,plain,not a date,,,\n"
    )
    path = write(tmp_path, text, newline="\r\n")
    report = read_work_items(path)
    assert report.format == "jira_current_fields"
    assert report.columns["done"] == "Resolved"
    by_id = {i.item_id: i for i in report.items}
    assert by_id["K-1"].done_on == dt.date(2026, 3, 3)
    assert by_id["K-2"].done_on is None  # the first Resolved column is the one used
    assert by_id["K-3"].done_on == dt.date(2026, 3, 5)
    assert [(r.row, r.line, r.code) for r in report.rejected] == [(4, 7, "not_a_date")]
    assert any("'Resolved' appears 2 times" in n for n in report.notes)


def test_non_english_month_names_are_read_and_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "Issue key,Resolved\nK-1,05/fev/26 9:07 AM\nK-2,06/Mar/26 9:07 AM\n")
    report = read_work_items(path)
    assert [i.done_on for i in report.items] == [dt.date(2026, 2, 5), dt.date(2026, 3, 6)]
    assert any("'fev' as February" in n for n in report.notes)
    english = read_work_items(EXPORTS / "jira_current_fields.csv")
    assert not any("outside English" in n for n in english.notes)


def test_semicolon_separated_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'id;title;done\nA;"x; y";2025-01-06\nB;z;\n')
    report = read_work_items(path)
    assert [(i.item_id, i.done_on) for i in report.items] == [
        ("A", dt.date(2025, 1, 6)),
        ("B", None),
    ]


def test_configurable_column_names(tmp_path: Path) -> None:
    path = write(
        tmp_path, "Ticket No,Finished At,Began\nT1,2025-01-07,2025-01-02\nT2,,2025-01-03\n"
    )
    report = read_work_items(
        path, id_column="Ticket No", done_column="Finished At", start_column="Began"
    )
    assert report.format == "custom"
    assert report.columns == {"id": "Ticket No", "done": "Finished At", "start": "Began"}
    assert report.items == [
        WorkItem("T1", dt.date(2025, 1, 7), dt.date(2025, 1, 2)),
        WorkItem("T2", None, dt.date(2025, 1, 3)),
    ]


def test_override_on_a_known_format(reports: dict[str, ImportReport]) -> None:
    report = read_work_items(EXPORTS / "jira_all_fields.csv", done_column="Status Category Changed")
    assert report.columns["done"] == "Status Category Changed"
    assert report.format == "jira_all_fields"
    assert any("Columns named by the caller" in n for n in report.notes)
    # every row has that date, so only the row without a key is rejected
    manifest = EXPORTS_MANIFEST["jira_all_fields.csv"]
    missing = [m["row"] for m in manifest["malformed_rows"] if m["reason"] == "missing_key"]
    assert [r.row for r in report.rejected] == missing
    assert len(report.done_items) == manifest["data_rows"] - len(missing)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"done_column": "Nope"}, "done_column"),
        ({"id_column": "Nope"}, "id_column"),
        ({"start_column": ""}, "start_column"),
        ({"dayfirst": "yes"}, "dayfirst"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as caught:
        read_work_items(EXPORTS / "generic_items.csv", **kwargs)
    assert caught.value.field == field


def test_unrecognised_header_asks_for_columns(tmp_path: Path) -> None:
    path = write(tmp_path, "foo,bar\n1,2\n")
    with pytest.raises(InputError) as caught:
        read_work_items(path)
    assert caught.value.field == "id_column"
    assert "2 columns" in str(caught.value)
    assert "foo" not in str(caught.value)  # the first line is never echoed: it may hold a token


def test_binary_file_is_refused_without_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    with pytest.raises(InputError) as caught:
        read_work_items(path)
    assert "is a binary file" in str(caught.value)
    assert "IHDR" not in str(caught.value) and len(str(caught.value)) < 200


def test_jira_without_resolved_column_names_done_column(tmp_path: Path) -> None:
    path = write(tmp_path, "Issue key,Summary,Status\nK-1,x,Done\n")
    with pytest.raises(InputError) as caught:
        read_work_items(path)
    assert caught.value.field == "done_column"


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_work_items(tmp_path / "absent.csv")
    assert caught.value.field == "path"
    with pytest.raises(InputError):
        read_work_items(write(tmp_path, ""))


def test_duplicates_short_rows_and_bad_start_dates_are_reported(tmp_path: Path) -> None:
    text = (
        "id,started,done\n"
        "A,2025-01-01,2025-01-06\n"
        "A,2025-01-01,2025-01-08\n"
        "B\n"
        ",,\n"
        "C,soon,2025-01-07\n"
        "D,2025-01-09,2025-01-07\n"
    )
    report = read_work_items(write(tmp_path, text))
    assert [(r.row, r.code) for r in report.rejected] == [
        (2, "duplicate_key"),
        (3, "short_row"),
        (4, "empty_row"),
    ]
    assert [(w.row, w.code) for w in report.warnings] == [
        (5, "bad_start_date"),
        (6, "start_after_done"),
    ]
    assert [i.item_id for i in report.done_items] == ["A", "C", "D"]
    assert report.to_dict()["warnings"][0]["item_id"] == "C"


# --------------------------------------------------------------------------- delivered work only


def test_jira_export_counts_neither_epics_nor_wont_do_as_throughput() -> None:
    # A Jira all-fields export with 4 epics (2 of them resolved) and a bug resolved "Won't Do".
    # Counting every row with a Resolved date gave 13 done items and 6 open; only 10 items
    # were delivered and 4 are in progress.
    report = read_work_items(EXPORTS / "features_jira_parent.csv", today=dt.date(2026, 6, 1))
    assert report.format == "jira_all_fields"
    assert sorted(i.item_id for i in report.done_items) == [
        "SHOP-11", "SHOP-12", "SHOP-16", "SHOP-21", "SHOP-22",
        "SHOP-23", "SHOP-41", "SHOP-50", "SHOP-61", "SHOP-62",
    ]  # fmt: skip
    assert sorted(i.item_id for i in report.open_items) == [
        "SHOP-13",
        "SHOP-14",
        "SHOP-51",
        "SHOP-71",
    ]
    got = [(r.row, r.code, r.column, r.value, r.item_id) for r in report.not_counted]
    assert got == [
        (1, "container", "Issue Type", "Epic", "SHOP-10"),
        (2, "container", "Issue Type", "Epic", "SHOP-20"),
        (3, "container", "Issue Type", "Epic", "SHOP-30"),
        (4, "container", "Issue Type", "Epic", "SHOP-40"),
        (9, "removed", "Resolution", "Won't Do", "SHOP-15"),
    ]
    assert len(report.items) + len(report.not_counted) + len(report.rejected) == report.data_rows
    assert sum(n for _, n in report.throughput()) == 10
    assert report.not_counted_summary() == (
        "1 removed item (Won't Do) and 4 epic rows were not counted as throughput "
        "or work in progress"
    )


def test_azure_devops_removed_items_with_a_closed_date_and_features_are_left_out(
    tmp_path: Path,
) -> None:
    text = (
        "ID,Work Item Type,Title,State,Closed Date\n"
        "1,User Story,Pay,Closed,1/6/2026 9:00:00 AM\n"
        "2,Bug,Crash,Removed,1/7/2026 9:00:00 AM\n"
        "3,Feature,Checkout,Closed,1/8/2026 9:00:00 AM\n"
        "4,Epic,Shop,Active,\n"
        "5,Task,Docs,Removed,\n"
        "6,User Story,Refunds,Active,\n"
    )
    report = read_work_items(write(tmp_path, text, newline="\r\n"), today=dt.date(2026, 2, 1))
    assert report.format == "azure_devops"
    assert [i.item_id for i in report.done_items] == ["1"]
    # removed work is not in progress either, open or closed
    assert [i.item_id for i in report.open_items] == ["6"]
    assert [(r.code, r.column, r.value) for r in report.not_counted] == [
        ("removed", "State", "Removed"),
        ("container", "Work Item Type", "Feature"),
        ("container", "Work Item Type", "Epic"),
        ("removed", "State", "Removed"),
    ]
    assert report.not_counted_by_reason() == {
        "removed": {"Removed": 2},
        "container": {"Feature": 1, "Epic": 1},
    }
    assert report.not_counted_summary() == (
        "2 removed items (Removed), 1 epic row and 1 feature row were not counted as "
        "throughput or work in progress"
    )


@pytest.mark.parametrize(
    ("status", "resolution"),
    [
        ("Done", "Won't Do"),
        ("Done", "Duplicate"),
        ("Closed", "Cannot Reproduce"),
        ("Won\u2019t Do", ""),
        ("Cancelled", ""),
    ],
)
def test_a_removed_status_or_resolution_wins_over_a_done_date(
    tmp_path: Path, status: str, resolution: str
) -> None:
    text = (
        "Issue Type,Issue key,Status,Resolution,Resolved\n"
        "Story,A-1,Done,Done,05/Jan/26 9:00 AM\n"
        f"Story,A-2,{status},{resolution},06/Jan/26 9:00 AM\n"
    )
    report = read_work_items(write(tmp_path, text), today=dt.date(2026, 2, 1))
    assert [i.item_id for i in report.items] == ["A-1"]
    (left_out,) = report.not_counted
    assert (left_out.row, left_out.code, left_out.item_id) == (2, "removed", "A-2")
    assert left_out.value == (resolution or status)
    assert left_out.column in left_out.reason and repr(left_out.value) in left_out.reason


def test_generic_sheet_type_and_status_columns(tmp_path: Path) -> None:
    text = (
        "id,type,status,done\n"
        "1,story,Done,06/01/2025\n"
        "2,initiative,Done,07/01/2025\n"
        "3,EPIC,Doing,\n"
        "4,bug,Rejected,08/01/2025\n"
        "5,feature request,Done,09/01/2025\n"
    )
    report = read_work_items(write(tmp_path, text), today=dt.date(2026, 1, 1))
    # "feature request" is a kind of item, not the Feature container
    assert [i.item_id for i in report.done_items] == ["1", "5"]
    assert report.open_items == []
    assert report.not_counted_by_reason() == {
        "removed": {"Rejected": 1},
        "container": {"initiative": 1, "EPIC": 1},
    }
    assert report.not_counted_summary() == (
        "1 removed item (Rejected), 1 epic row and 1 initiative row were not counted as "
        "throughput or work in progress"
    )


def test_done_date_rules_come_before_the_removed_and_epic_rules(tmp_path: Path) -> None:
    text = (
        "Issue Type,Issue key,Status,Resolution,Resolved\n"
        "Story,A-1,Done,Done,05/Jan/26 9:00 AM\n"
        "Epic,A-2,Done,Done,32/Jan/26 9:00 AM\n"
        "Story,A-3,Done,Won't Do,05/Jan/31 9:00 AM\n"
        "Epic,A-4,Done,Done,06/Jan/26 9:00 AM\n"
        "Story,A-4,Done,Done,07/Jan/26 9:00 AM\n"
    )
    report = read_work_items(write(tmp_path, text), today=dt.date(2026, 2, 1))
    assert [(r.row, r.code) for r in report.rejected] == [
        (2, "invalid_date"),
        (3, "done_after_today"),
        (5, "duplicate_key"),
    ]
    # the key of a row not counted is taken: a second row with it is a duplicate
    assert "already read from row 4 (line 5)" in report.rejected[2].reason
    assert [(r.row, r.code) for r in report.not_counted] == [(4, "container")]
    assert [i.item_id for i in report.items] == ["A-1"]


def test_report_json_carries_the_counts_by_reason(tmp_path: Path) -> None:
    text = (
        "Issue Type,Issue key,Status,Resolution,Resolved\n"
        "Story,A-1,Done,Done,05/Jan/26 9:00 AM\n"
        "Story,A-2,Done,Won't Do,06/Jan/26 9:00 AM\n"
        "Bug,A-3,Done,Won't Do,06/Jan/26 9:00 AM\n"
        "Bug,A-4,Done,Duplicate,07/Jan/26 9:00 AM\n"
        "Epic,A-5,Done,Done,07/Jan/26 9:00 AM\n"
    )
    report = read_work_items(write(tmp_path, text), today=dt.date(2026, 2, 1))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["done"] == 1 and data["items_imported"] == 1
    assert data["rows_not_counted"] == 4
    assert data["not_counted"] == {
        "removed": {"count": 3, "values": {"Won't Do": 2, "Duplicate": 1}},
        "container": {"count": 1, "values": {"Epic": 1}},
    }
    assert [r["item_id"] for r in data["not_counted_rows"]] == ["A-2", "A-3", "A-4", "A-5"]
    assert data["not_counted_summary"] == (
        "3 removed items (Won't Do, Duplicate) and 1 epic row were not counted as "
        "throughput or work in progress"
    )


def test_throughput_file_of_items_counts_delivered_work_only(tmp_path: Path) -> None:
    text = "id,type,status,done\n1,story,Done,2025-01-06\n2,epic,Done,2025-01-07\n"
    history = read_throughput_file(write(tmp_path, text))
    assert history.values == [1.0]


def test_table_reader_keeps_every_row_unless_asked_for_delivered_work(tmp_path: Path) -> None:
    # The features reader sizes features from epic rows and removed items, so the table
    # reader's default keeps them; read_work_items asks for delivered work only.
    path = write(tmp_path, "id,type,status,done\n1,story,Done,2025-01-06\n2,epic,Cancelled,\n")
    table = read_table(path)
    every = work_items_from_table(table, today=dt.date(2026, 1, 1))
    assert [i.item_id for i in every.items] == ["1", "2"] and every.not_counted == []
    delivered = work_items_from_table(table, today=dt.date(2026, 1, 1), delivered_only=True)
    assert [i.item_id for i in delivered.items] == ["1"]
    assert [r.code for r in delivered.not_counted] == ["container"]


# --------------------------------------------------------------------------- derive_throughput


def test_derive_throughput_fills_zero_weeks_from_monday() -> None:
    items = [
        WorkItem("a", dt.date(2025, 1, 8), None),  # Wednesday
        WorkItem("b", dt.date(2025, 1, 12), None),  # Sunday, same ISO week
        WorkItem("c", dt.date(2025, 1, 27), None),
        WorkItem("open", None, dt.date(2025, 1, 2)),
    ]
    assert derive_throughput(items) == [
        (dt.date(2025, 1, 6), 2),
        (dt.date(2025, 1, 13), 0),
        (dt.date(2025, 1, 20), 0),
        (dt.date(2025, 1, 27), 1),
    ]


def test_derive_throughput_other_period_lengths_anchor_on_first_monday() -> None:
    days = [dt.date(2025, 1, 8), dt.date(2025, 1, 19), dt.date(2025, 1, 20), dt.date(2025, 2, 4)]
    periods = derive_throughput(days, period_days=14)
    assert periods == [
        (dt.date(2025, 1, 6), 2),
        (dt.date(2025, 1, 20), 1),
        (dt.date(2025, 2, 3), 1),
    ]
    assert derive_throughput(days, period_days=1)[0] == (dt.date(2025, 1, 6), 0)


def test_derive_throughput_start_end_select_whole_periods() -> None:
    days = [dt.date(2025, 1, 8), dt.date(2025, 1, 20)]
    got = derive_throughput(days, start=dt.date(2024, 12, 31), end=dt.date(2025, 1, 29))
    assert got == [
        (dt.date(2024, 12, 30), 0),
        (dt.date(2025, 1, 6), 1),
        (dt.date(2025, 1, 13), 0),
        (dt.date(2025, 1, 20), 1),
        (dt.date(2025, 1, 27), 0),
    ]
    # items outside the selected periods do not count
    assert derive_throughput(days, start=dt.date(2025, 1, 13)) == [
        (dt.date(2025, 1, 13), 0),
        (dt.date(2025, 1, 20), 1),
    ]
    assert derive_throughput([]) == []
    assert derive_throughput([], start=dt.date(2025, 1, 6), end=dt.date(2025, 1, 12)) == [
        (dt.date(2025, 1, 6), 0)
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"period_days": 0}, "period_days"),
        ({"period_days": 7.5}, "period_days"),
        ({"period_days": True}, "period_days"),
        ({"start": dt.date(2025, 2, 1), "end": dt.date(2025, 1, 1)}, "end"),
        ({"start": "01/02/2025"}, "start"),
    ],
)
def test_derive_throughput_bad_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as caught:
        derive_throughput([dt.date(2025, 1, 8)], **kwargs)
    assert caught.value.field == field


# --------------------------------------------------------------------------- throughput files


def test_read_throughput_csv_and_its_errors(tmp_path: Path) -> None:
    rows = read_throughput_csv(ITEM_SERIES / "weekly" / "vuejs__core.csv")
    assert len(rows) == 118 and rows[0][0] == dt.date(2019, 9, 30)
    assert all(isinstance(v, float) for _, v in rows)
    bad_value = write(tmp_path, "week_start,throughput\n2025-01-06,3\n2025-01-13,-1\n", "a.csv")
    with pytest.raises(InputError, match="line 3"):
        read_throughput_csv(bad_value)
    unsorted = write(tmp_path, "week_start,throughput\n2025-01-13,3\n2025-01-06,1\n", "b.csv")
    with pytest.raises(InputError, match="ascending"):
        read_throughput_csv(unsorted)
    with pytest.raises(InputError, match="week_start"):
        read_throughput_csv(write(tmp_path, "a,b\n1,2\n", "c.csv"))


def test_read_throughput_file_accepts_every_shape(tmp_path: Path) -> None:
    weekly = read_throughput_file(ITEM_SERIES / "weekly" / "mockito__mockito.csv")
    assert weekly.source == "throughput_csv" and weekly.period_days == 7
    assert weekly.pairs() == read_throughput_csv(ITEM_SERIES / "weekly" / "mockito__mockito.csv")

    headed = read_throughput_file(write(tmp_path, "throughput\n3\n0\n5.5\n", "v1.csv"))
    bare = read_throughput_file(write(tmp_path, "3\n0\n5.5\n", "v2.csv"))
    assert headed.values == bare.values == [3.0, 0.0, 5.5]
    assert headed.period_starts is None and headed.source == "values"
    assert list(headed) == [(None, 3.0), (None, 0.0), (None, 5.5)] and len(headed) == 3
    assert list(weekly) == weekly.pairs()  # iterating gives (period_start, value) pairs
    with pytest.raises(InputError):
        read_throughput_file(write(tmp_path, "throughput\n3\nlots\n", "v3.csv"))

    items = read_throughput_file(ITEM_SERIES / "items" / "vuejs__core.csv")
    assert items.source == "work_items" and items.import_report is not None
    assert items.pairs() == read_throughput_csv(ITEM_SERIES / "weekly" / "vuejs__core.csv")

    export = read_throughput_file(EXPORTS / "generic_items.csv")
    expected = EXPORTS_MANIFEST["generic_items.csv"]["weekly_throughput"]
    assert {d.isoformat(): int(v) for d, v in export.pairs()} == expected
    assert len(export.import_report.rejected) == 3


# --------------------------------------------------------------------------- Flow Forecaster DB


@pytest.fixture(scope="module")
def old_app():
    return read_flow_forecaster(OLD_DB)


def dmy(text: str | None) -> dt.date | None:
    return dt.datetime.strptime(text, "%d/%m/%Y").date() if text else None


def test_old_db_counts_users_projects(old_app) -> None:
    assert old_app.counts == OLD_DB_MANIFEST["counts"]
    assert [(u.id, u.email, u.name, u.role) for u in old_app.users] == [
        (u["id"], u["email"], u["name"], u["role"]) for u in OLD_DB_MANIFEST["users"]
    ]
    assert all(isinstance(u.created_at, dt.datetime) for u in old_app.users)
    assert [(p.id, p.name, p.owner_email, p.team_size, p.status) for p in old_app.projects] == [
        (p["id"], p["name"], p["owner_email"], p["team_size"], p["status"])
        for p in OLD_DB_MANIFEST["projects"]
    ]
    for project, expected in zip(old_app.projects, OLD_DB_MANIFEST["projects"], strict=True):
        assert expected["source_series"] in project.description
        assert isinstance(project.start_date, dt.date) and isinstance(project.target_date, dt.date)
        assert project.start_date < project.target_date
        assert project.tags and all(isinstance(t, str) for t in project.tags)


def test_old_db_forecasts_match_manifest(old_app) -> None:
    project_names = {p.id: p.name for p in old_app.projects}
    assert len(old_app.forecasts) == len(OLD_DB_MANIFEST["forecasts"])
    for got, want in zip(old_app.forecasts, OLD_DB_MANIFEST["forecasts"], strict=True):
        assert got.id == want["id"]
        assert project_names[got.project_id] == want["project"]
        assert got.name == want["name"]
        assert got.type == want["forecast_type"]
        assert got.backlog == want["backlog"]
        assert got.start_date == dmy(want["start_date"])
        assert got.deadline_date == dmy(want["deadline_date"])
        assert got.weeks_to_deadline == want["weeks_to_deadline"]
        assert got.can_meet_deadline == want["can_meet_deadline"]
        assert got.scope_completion_pct == want["scope_completion_pct"]
        assert got.percentiles["p85"] == want["percentile_stats_p85"]
        assert len(got.tp_samples) == want["tp_samples_count"]
        assert sum(got.tp_samples) == want["tp_samples_sum"]
        assert isinstance(got.input_data, dict) and isinstance(got.forecast_data, dict)
        if want["projected_weeks_p85"] is None:
            assert got.projected_weeks_p85 == want["percentile_stats_p85"]
            assert got.p85_source == "forecast_data.percentile_stats.p85"
        else:
            assert got.projected_weeks_p85 == want["projected_weeks_p85"]
            assert got.p85_source == "column"
        assert got.saved_via == ("celery_task" if want["saved_via"] == "celery_task" else "web")
        assert (got.created_by is None) == (want["saved_via"] == "celery_task")
        team = got.team
        assert team.history_size and team.min_contributors <= team.max_contributors
        assert 0 < team.focus <= 1


def test_old_db_celery_forecast_11(old_app) -> None:
    forecast = next(f for f in old_app.forecasts if f.id == 11)
    assert forecast.created_by is None and forecast.deadline_date is None
    assert forecast.projected_weeks_p85 == 10.0
    assert any("forecast 11" in n and "percentile_stats.p85" in n for n in old_app.notes)


def test_old_db_risks_and_team_normalised(old_app) -> None:
    raw = {
        row[0]: json.loads(row[1])
        for row in sqlite3.connect(f"file:{OLD_DB}?mode=ro", uri=True).execute(
            "SELECT id, input_data FROM forecasts"
        )
    }
    risky = [f for f in old_app.forecasts if raw[f.id].get("risks")]
    assert risky, "the sample DB has at least one forecast with risks"
    for forecast in risky:
        for risk, stored in zip(forecast.risks, raw[forecast.id]["risks"], strict=True):
            assert risk.likelihood == pytest.approx(stored["likelihood"] / 100)
            assert 0 <= risk.likelihood <= 1
            assert (risk.low, risk.mode, risk.high) == (
                stored["lowImpact"],
                stored["mediumImpact"],
                stored["highImpact"],
            )
    for forecast in old_app.forecasts:
        inputs = raw[forecast.id]
        size = inputs.get("historical_team_size", inputs.get("teamSize"))
        assert forecast.team.history_size == size
        if inputs.get("minContributors") is not None:
            assert forecast.team.min_contributors == inputs["minContributors"]


def test_old_db_actuals_match_manifest(old_app) -> None:
    assert len(old_app.actuals) == len(OLD_DB_MANIFEST["actuals"])
    forecasts = {f.id: f for f in old_app.forecasts}
    for got, want in zip(old_app.actuals, OLD_DB_MANIFEST["actuals"], strict=True):
        assert (got.id, got.forecast_id) == (want["id"], want["forecast_id"])
        assert got.project_id == forecasts[got.forecast_id].project_id
        assert got.completion_date == dmy(want["actual_completion_date"])
        assert got.weeks_taken == want["actual_weeks_taken"]
        assert got.items_completed == want["actual_items_completed"]
        assert got.scope_delivered_pct == want["actual_scope_delivered_pct"]
        assert got.weeks_error == want["weeks_error"]
        assert got.weeks_error_pct == want["weeks_error_pct"]
        assert got.scope_error_pct == want["scope_error_pct"]
        assert got.recorded_by == want["recorded_by"]
        assert got.recorded_at == dt.datetime.fromisoformat(want["recorded_at"])
        assert got.kind == want["kind"]
        assert got.notes  # free text, Portuguese in the sample


def test_old_db_non_ascii_and_json(old_app) -> None:
    assert "Júlia Campos" in {u.name for u in old_app.users}
    assert any("–" in f.name for f in old_app.forecasts)
    data = json.loads(json.dumps(old_app.to_dict()))
    assert data["forecasts"][0]["start_date"] == "2025-09-01"
    assert data["counts"]["forecasts"] == 14


def test_old_db_is_opened_read_only(tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    shutil.copy(OLD_DB, copy)
    copy.chmod(0o444)
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    data = read_flow_forecaster(copy)
    assert len(data.forecasts) == 14
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.db"]  # no journal left behind


def test_old_db_variants_iso_dates_null_columns_missing_table(tmp_path: Path) -> None:
    copy = tmp_path / "variant.db"
    shutil.copy(OLD_DB, copy)
    with sqlite3.connect(copy) as db:
        db.execute(
            "UPDATE forecasts SET start_date = ?, deadline_date = ?, projected_weeks_p85 = NULL "
            "WHERE id = ?",
            ("2025-09-01", "2025-10-22", 1),
        )
        db.execute(
            "UPDATE projects SET start_date = ?, user_id = NULL WHERE id = ?", ("2025-08-04", 1)
        )
        db.execute("UPDATE forecasts SET start_date = ? WHERE id = ?", ("someday", 2))
        db.execute("DROP TABLE actuals")
    data = read_flow_forecaster(copy)
    first = data.forecasts[0]
    assert (first.start_date, first.deadline_date) == (dt.date(2025, 9, 1), dt.date(2025, 10, 22))
    assert first.p85_source == "forecast_data.percentile_stats.p85"
    assert first.projected_weeks_p85 == 8.0
    assert data.projects[0].start_date == dt.date(2025, 8, 4)
    assert data.projects[0].owner_email is None
    assert data.forecasts[1].start_date is None
    assert data.actuals == []
    notes = "\n".join(data.notes)
    assert "forecast 2 start_date: date 'someday'" in notes
    assert "Table actuals is missing" in notes
    assert "project 1: owner user None not found" in notes


def test_old_db_rejects_other_files(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_flow_forecaster(EXPORTS / "generic_items.csv")
    assert caught.value.field == "path"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(InputError, match="not a Flow Forecaster database"):
        read_flow_forecaster(other)
    with pytest.raises(InputError):
        read_flow_forecaster(tmp_path / "absent.db")


def test_old_db_hostile_values_become_notes_not_tracebacks(tmp_path: Path) -> None:
    copy = tmp_path / "hostile.db"
    shutil.copy(OLD_DB, copy)
    with sqlite3.connect(copy) as db:
        payload = json.loads(
            db.execute("SELECT input_data FROM forecasts WHERE id = 1").fetchone()[0]
        )
        payload["risks"] = 5
        db.execute(
            "UPDATE forecasts SET input_data = ?, created_at = ? WHERE id = 1",
            (json.dumps(payload), 1e20),
        )
        db.execute("UPDATE forecasts SET created_at = ? WHERE id = 2", ("9999-12-31 23:59:59",))
    data = read_flow_forecaster(copy)
    first, second = data.forecasts[0], data.forecasts[1]
    assert first.created_at is None and second.created_at is None
    assert first.risks == []
    notes = "\n".join(data.notes)
    assert "timestamp 1e+20 unreadable" in notes
    assert "must lie from 1970-01-01 to 2200-12-31" in notes
    assert "risks is a int, not a list" in notes
