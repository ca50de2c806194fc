"""Features from a project's synced items: the same features, counts and sizes as the CSV export
of the same items, named errors without items or parents, and a file `flowray portfolio` reads."""

from __future__ import annotations

import csv
import datetime as dt
import json
import tomllib
from pathlib import Path

import pytest

from flowray.cli import main
from flowray.exceptions import InputError
from flowray.importers.features import (
    FeatureImport,
    features_from_items,
    read_features,
    synced_state,
)
from flowray.pipeline import features_from_project
from flowray.records.sources import SyncedItem
from flowray.store import Store

TODAY = dt.date(2026, 5, 20)
CREATED = dt.datetime(2026, 3, 1, 9, 0)

# key, title, type, status, done date, parent
ITEMS: list[tuple[str, str, str, str, str, str]] = [
    ("SHOP-10", "Checkout", "Epic", "In Progress", "", ""),
    ("SHOP-20", "Search", "Epic", "Done", "2026-04-20", ""),
    ("SHOP-30", "Wishlist", "Epic", "To Do", "", ""),
    ("SHOP-40", "Legacy cart", "Epic", "Won't Do", "", ""),
    ("SHOP-11", "Pay by card", "Story", "Done", "2026-03-12", "SHOP-10"),
    ("SHOP-12", "Pay by invoice", "Story", "Done", "2026-03-19", "SHOP-10"),
    ("SHOP-13", "Show totals", "Story", "In Progress", "", "SHOP-10"),
    ("SHOP-14", "Gift cards", "Story", "To Do", "", "SHOP-10"),
    ("SHOP-15", "Crash on empty cart", "Bug", "Cancelled", "", "SHOP-10"),
    ("SHOP-16", "Write the tax table", "Sub-task", "Done", "2026-03-09", "SHOP-13"),
    ("SHOP-21", "Index products", "Story", "Done", "2026-03-18", "SHOP-20"),
    ("SHOP-22", "Search box", "Story", "Done", "2026-04-01", "SHOP-20"),
    ("SHOP-23", "Typo tolerance", "Story", "Done", "2026-04-15", "SHOP-20"),
    ("SHOP-41", "Old cart cleanup", "Task", "Done", "2026-03-09", "SHOP-40"),
    ("SHOP-61", "Sign-up form", "Story", "Done", "2026-03-10", "SHOP-5"),
    ("SHOP-62", "Welcome e-mail", "Story", "Done", "2026-03-17", "SHOP-5"),
    ("SHOP-71", "Monthly sales report", "Story", "To Do", "", "SHOP-7"),
    ("SHOP-50", "Upgrade the build image", "Task", "Done", "2026-03-04", ""),
    ("SHOP-51", "Flaky login test", "Bug", "In Progress", "", ""),
]


def synced(rows=ITEMS) -> list[SyncedItem]:
    """The items as a Jira sync hands them to the store."""
    out = []
    for key, title, kind, status, done, parent in rows:
        done_on = dt.date.fromisoformat(done) if done else None
        out.append(
            SyncedItem(
                item_id=key,
                title=title,
                item_type=kind,
                status=status,
                started_on=done_on - dt.timedelta(days=2) if done_on else None,
                done_on=done_on,
                parent_key=parent or None,
                labels=(),
                created_at=CREATED,
                updated_at=CREATED + dt.timedelta(days=60),
            )
        )
    return out


def store_synced(db: Path, project: str = "shop", rows=ITEMS) -> Store:
    """Stores the items through the Store calls a sync makes: connect a source, apply a read."""
    store = Store(db)
    source = store.connect_source(project, "jira", {"site": "https://jira.example", "jql": "x"})
    store.apply_sync(source.source_id, synced(rows), cursor=None, today=TODAY)
    return store


def export_csv(path: Path, rows=ITEMS) -> Path:
    """The same items as a tracker's CSV export with a parent column."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "title", "type", "status", "done", "parent"])
        writer.writerows(rows)
    return path


def table(imported: FeatureImport) -> list[tuple[str, str, int, int, int, bool]]:
    return [(f.key, f.name, f.done, f.remaining, f.removed, f.closed) for f in imported.features]


def test_synced_items_give_the_features_of_the_same_items_exported(tmp_path: Path):
    store_synced(tmp_path / "ledger.duckdb")
    from_sync = features_from_project("shop", tmp_path / "ledger.duckdb", today=TODAY)
    from_csv = read_features(export_csv(tmp_path / "shop.csv"), "generic", today=TODAY)

    assert table(from_sync) == table(from_csv)
    assert table(from_sync) == [
        ("SHOP-5", "SHOP-5", 2, 0, 0, True),
        ("SHOP-7", "SHOP-7", 0, 1, 0, False),
        ("SHOP-10", "Checkout", 2, 2, 1, False),
        ("SHOP-20", "Search", 3, 0, 0, True),
        ("SHOP-30", "Wishlist", 0, 0, 0, False),
    ]
    assert from_sync.feature_sizes == from_csv.feature_sizes == [2, 3]
    assert from_sync.order == from_csv.order == "key"
    assert (from_sync.items, from_sync.items_without_parent, from_sync.subtasks) == (
        from_csv.items,
        from_csv.items_without_parent,
        from_csv.subtasks,
    )
    assert (from_sync.items, from_sync.items_without_parent, from_sync.subtasks) == (14, 2, 1)
    assert from_sync.removed_features == from_csv.removed_features == ["SHOP-40"]
    assert from_sync.notes == from_csv.notes
    assert from_sync.path == "shop" and from_sync.format == "jira"
    assert from_sync.parent_column == "parent_key"


def test_the_store_reads_what_a_sync_stored(tmp_path: Path):
    store = store_synced(tmp_path / "ledger.duckdb")
    details = {d.item_id: d for d in store.get_work_item_details("shop")}
    assert len(details) == len(ITEMS)
    story = details["SHOP-11"]
    assert (story.title, story.item_type, story.status, story.parent_key) == (
        "Pay by card",
        "Story",
        "Done",
        "SHOP-10",
    )
    assert story.done_on == dt.date(2026, 3, 12) and story.source == "jira"
    assert details["SHOP-10"].parent_key is None and details["SHOP-10"].done_on is None


@pytest.mark.parametrize(
    ("status", "done_on", "state"),
    [
        ("Removed", None, "removed"),  # Azure DevOps
        ("not planned", None, "removed"),  # GitHub
        ("Canceled", None, "removed"),  # Linear
        ("Won\u2019t Do", None, "removed"),
        ("Done", None, "open"),  # the workflow gave no done date: re-opened or not done here
        ("Closed", dt.date(2026, 3, 1), "done"),
        ("Removed", dt.date(2026, 3, 1), "done"),  # the workflow mapped it to done
        ("In Progress", None, "open"),
    ],
)
def test_a_synced_item_is_done_by_its_done_date_and_removed_by_its_status(status, done_on, state):
    assert synced_state(status, done_on) == state


def test_an_item_done_after_today_is_not_done_yet(tmp_path: Path):
    store_synced(tmp_path / "ledger.duckdb")
    earlier = features_from_project("shop", tmp_path / "ledger.duckdb", today="2026-04-10")
    search = next(f for f in earlier.features if f.key == "SHOP-20")
    assert (search.done, search.remaining, search.closed) == (
        2,
        1,
        False,
    )  # the epic closes later too
    assert "done after 2026-04-10" in earlier.notes[0] and "SHOP-23" in earlier.notes[0]


def test_a_repeated_item_or_an_item_without_key_is_refused():
    items = synced()
    with pytest.raises(InputError) as raised:
        features_from_items([*items, items[0]])
    assert raised.value.field == f"items[{len(items)}].item_id"
    with pytest.raises(InputError) as raised:
        features_from_items([items[0]._replace(item_id=" ")])
    assert raised.value.field == "items[0].item_id"


def test_a_project_without_items_or_parents_is_a_named_error(tmp_path: Path):
    db = tmp_path / "ledger.duckdb"
    store = Store(db)
    store.add_project("empty")
    with pytest.raises(InputError) as raised:
        features_from_project("empty", db, today=TODAY)
    assert raised.value.field == "project" and "no work items" in str(raised.value)
    store_synced(db, "flat", [r[:5] + ("",) for r in ITEMS])
    with pytest.raises(InputError) as raised:
        features_from_project("flat", db, today=TODAY)
    assert raised.value.field == "parent_key" and "'flat'" in str(raised.value)
    with pytest.raises(InputError) as raised:
        features_from_project("shop", tmp_path / "missing.duckdb", today=TODAY)
    assert raised.value.field == "db"
    assert not (tmp_path / "missing.duckdb").exists()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_writes_the_csv_paths_file_and_portfolio_forecasts_it(capsys, tmp_path: Path):
    db = tmp_path / "ledger.duckdb"
    store_synced(db)
    synced_out, csv_out = tmp_path / "synced.toml", tmp_path / "csv.toml"
    dates = ("--start", "2026-05-20", "--target", "2026-09-30")
    code, text, err = run(
        capsys,
        *("import", "features", "--from-project", "shop", "--team", "web"),
        *(*dates, "--out", str(synced_out), "--db", str(db)),
    )
    assert code == 0, err
    assert "project 'shop': 5 features by 'parent_key' (3 open, 2 closed)" in text
    assert "feature sizes found (closed features): [2, 3]" in text
    assert "items without parent: 2 (of 14)" in text
    assert "has no stored history" not in text
    code, _, err = run(
        capsys,
        *("import", "features", str(export_csv(tmp_path / "shop.csv")), "--team", "web"),
        *("--project", "shop", *dates, "--out", str(csv_out), "--db", str(db)),
    )
    assert code == 0, err
    from_sync = tomllib.loads(synced_out.read_text(encoding="utf-8"))
    assert from_sync == tomllib.loads(csv_out.read_text(encoding="utf-8"))
    assert from_sync["teams"] == [{"name": "web", "project": "shop"}]
    assert from_sync["feature_sizes"] == [2, 3]
    assert [(f["name"], f.get("size"), f.get("done")) for f in from_sync["features"]] == [
        ("SHOP-7", 1, 0),
        ("Checkout", 4, 2),
        ("Wishlist", None, None),
    ]
    code, text, err = run(
        capsys, "portfolio", str(synced_out), "--db", str(db), "--runs", "500", "--json"
    )
    assert code == 0, err
    answer = json.loads(text)
    assert [f["name"] for f in answer["features"]] == ["SHOP-7", "Checkout", "Wishlist"]
    assert answer["target"] == "2026-09-30"


def test_the_cli_json_and_its_refusals(capsys, tmp_path: Path):
    db, out = tmp_path / "ledger.duckdb", tmp_path / "plan.toml"
    store_synced(db)
    base = ("import", "features", "--team", "web", "--db", str(db), "--out", str(out))
    code, text, err = run(capsys, *base, "--from-project", "shop", "--json")
    assert code == 0, err
    data = json.loads(text)
    assert data["feature_sizes"] == [2, 3] and data["project"] == "shop"
    assert data["stored_periods"] > 0 and out.is_file()
    out.unlink()
    export = str(export_csv(tmp_path / "shop.csv"))
    for argv, field in [
        ((), "EXPORT"),
        ((export, "--from-project", "shop"), "EXPORT"),
        (("--from-project", "shop", "--parent-column", "parent"), "--parent-column"),
        (("--from-project", "shop", "--source", "jira"), "--source"),
        (("--from-project", "nobody"), "project"),
    ]:
        code, _, err = run(capsys, *base, *argv)
        assert code == 2
        assert err.startswith(f"flowray import: error: {field}: "), err
        assert not out.exists()


def test_a_syncs_throughput_leaves_out_epics_as_import_items_does(tmp_path: Path, capsys):
    from flowray.cli import main

    synced_store = store_synced(tmp_path / "synced.duckdb")
    exported = export_csv(tmp_path / "items.csv")
    db = tmp_path / "imported.duckdb"
    assert main(["project", "add", "shop", "--db", str(db)]) == 0
    assert main(["import", "items", str(exported), "--project", "shop", "--db", str(db)]) == 0
    assert "epic row" in capsys.readouterr().out  # the done epic SHOP-20 is not an item
    imported = Store(db).get_throughput("shop")
    synced_weeks = synced_store.get_throughput("shop")
    assert [(p.period_start, p.items) for p in synced_weeks] == [
        (p.period_start, p.items) for p in imported
    ]
    done_items = [r for r in ITEMS if r[4] and r[2] != "Epic"]
    assert sum(p.items for p in synced_weeks) == len(done_items)


def test_importing_a_csv_into_a_synced_project_keeps_what_the_sync_stored(tmp_path: Path):
    from flowray.importers import read_work_items

    db = tmp_path / "ledger.duckdb"
    store = store_synced(db)
    before = {d.item_id: d for d in store.get_work_item_details("shop")}
    items = [i for i in read_work_items(export_csv(tmp_path / "items.csv"), today=TODAY).items]
    store.import_work_items("shop", items, today=TODAY)
    after = {d.item_id: d for d in store.get_work_item_details("shop")}
    for key in ("SHOP-11", "SHOP-13", "SHOP-21"):
        assert (after[key].title, after[key].item_type, after[key].parent_key) == (
            before[key].title,
            before[key].item_type,
            before[key].parent_key,
        )
