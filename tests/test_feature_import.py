"""Features from tracker exports: parent columns of Jira and Azure DevOps, states, order, the file."""

from __future__ import annotations

import csv
import datetime as dt
import tomllib
from pathlib import Path

import pytest

from flowray import forecast_portfolio
from flowray.exceptions import InputError
from flowray.importers.features import FeatureImport, portfolio_definition, read_features
from flowray.importers.portfolio_file import HistoryPeriod, dump_portfolio, parse_portfolio
from flowray.importers.work_items import item_state

EXPORTS = Path(__file__).parent / "fixtures" / "tracker_exports"
TODAY = dt.date(2026, 6, 1)


def read(name: str, **options: object) -> FeatureImport:
    return read_features(EXPORTS / name, today=TODAY, **options)  # type: ignore[arg-type]


def table(imported: FeatureImport) -> list[tuple[str, str, int, int, int, bool]]:
    return [(f.key, f.name, f.done, f.remaining, f.removed, f.closed) for f in imported.features]


def test_jira_parent_key_gives_features_in_rank_order_with_closed_sizes():
    imported = read("features_jira_parent.csv")
    assert imported.format == "jira_all_fields"
    assert imported.parent_column == "Parent key"
    assert imported.order == "rank"
    # Ranked epic rows first (by LexoRank), then parents outside the export by key.
    assert table(imported) == [
        ("SHOP-20", "Search", 3, 0, 0, True),  # the epic row says Done
        ("SHOP-10", "Checkout", 2, 2, 1, False),  # a Won't Do bug is neither done nor remaining
        ("SHOP-30", "Wishlist", 0, 0, 0, False),  # an epic with no items yet: size unknown
        ("SHOP-5", "Onboarding", 2, 0, 0, True),  # not in the export: closed as all items done
        ("SHOP-7", "Reporting", 0, 1, 0, False),
    ]
    assert imported.feature_sizes == [3, 2]
    assert imported.removed_features == ["SHOP-40"]
    assert imported.items == 14 and imported.items_without_parent == 2
    assert imported.subtasks == 1
    assert "2 items have no parent: they are in no feature." in imported.notes
    assert "1 feature was removed or cancelled and left out with 1 item: SHOP-40." in imported.notes


def test_jira_parent_ids_match_parent_rows_by_issue_id(tmp_path: Path):
    """Without `Parent key`, Jira's `Parent` holds the parent's issue id."""
    with (EXPORTS / "features_jira_parent.csv").open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    drop = rows[0].index("Parent key")
    path = tmp_path / "jira.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows([r[:drop] + r[drop + 1 :] for r in rows])
    imported = read_features(path, "jira", today=TODAY)
    assert imported.parent_column == "Parent"
    keys = [f.key for f in imported.features]
    # Epic rows are found by their issue id and named by key; others keep the id they are known by.
    assert keys == ["SHOP-20", "SHOP-10", "SHOP-30", "10005", "10007"]
    assert [f.name for f in imported.features][3:] == ["Onboarding", "Reporting"]


def test_jira_epic_link_orders_parents_by_key_creation_and_names_them_by_epic_name():
    imported = read("features_jira_epic_link.csv", source="jira")
    assert imported.parent_column == "Custom field (Epic Link)"
    assert imported.order == "key"
    assert table(imported) == [
        ("OPS-2", "Backups", 3, 0, 0, True),
        ("OPS-9", "Monitoring", 1, 1, 0, False),
        ("OPS-10", "Alerting", 0, 2, 1, False),  # OPS-10 after OPS-9: numbers, not text
    ]
    assert imported.feature_sizes == [3]
    assert imported.items_without_parent == 1


def test_ado_parent_ids_skip_epics_over_features_and_tasks_under_stories():
    imported = read("features_ado_parent.csv", source="ado")
    assert imported.format == "azure_devops"
    assert table(imported) == [
        ("100", "Billing", 1, 2, 1, False),  # Removed story left out; its Task not counted
        ("150", "Exports", 0, 0, 0, False),
        ("200", "Reports", 2, 0, 0, True),
    ]
    assert imported.subtasks == 1
    assert any(
        n.startswith("Parent rows whose children are features") and "90" in n
        for n in imported.notes
    )
    # "Resolved" is not done in Azure DevOps: the bug without parent is open, and counted.
    assert imported.items_without_parent == 1 and imported.items == 7


def test_ado_tree_query_reads_the_hierarchy_from_title_columns_in_export_order():
    imported = read("features_ado_tree.csv")
    assert imported.parent_column == "Title 1, Title 2, Title 3"
    assert imported.order == "export"
    assert table(imported) == [
        ("5", "Auth", 1, 1, 0, False),
        ("3", "Audit", 1, 0, 0, True),
        ("9", "Offline mode", 0, 0, 0, False),
    ]
    assert imported.items_without_parent == 0


def test_generic_parent_column_with_cancelled_items():
    imported = read("features_generic.csv", source="generic")
    assert imported.parent_column == "parent"
    assert table(imported) == [
        ("F-1", "Bank sync", 2, 1, 1, False),
        ("F-2", "Ledger export", 2, 0, 0, True),
    ]
    assert imported.items_without_parent == 1


def test_parent_column_can_be_named_and_must_exist():
    imported = read("features_generic.csv", parent_column="parent title")
    assert [f.key for f in imported.features] == ["Bank sync", "Ledger export"]
    with pytest.raises(InputError) as caught:
        read("features_generic.csv", parent_column="epic")
    assert caught.value.field == "parent_column" and "not a column" in str(caught.value)


def test_every_item_is_counted_once_in_the_shared_jira_export():
    imported = read_features(EXPORTS / "jira_all_fields.csv", today=dt.date(2026, 6, 15))
    counted = sum(f.done + f.remaining + f.removed for f in imported.features)
    assert counted + imported.items_without_parent == imported.items
    assert [f.key for f in imported.features] == ["PYT-290", "PYT-338", "PYT-498", "PYT-577"]
    # Of the 3 rows `import items` rejects, the one without a key is not counted; the two with
    # an unreadable Resolved date are items all the same, done by their status category.
    assert [r.code for r in imported.rejected] == ["missing_key"]
    assert imported.items == 264
    by_status = [n for n in imported.notes if n.endswith("counted by its status.")]
    assert len(by_status) == 2 and "Row 80 (line 251)" in by_status[0]


@pytest.mark.parametrize(
    ("name", "looked_for"),
    [("azure_devops_query.csv", "Title 1"), ("jira_current_fields.csv", "Epic Link")],
)
def test_a_file_without_parent_column_names_the_columns_looked_for(name: str, looked_for: str):
    with pytest.raises(InputError) as caught:
        read(name)
    assert caught.value.field == "parent_column"
    assert "no parent or epic column" in str(caught.value) and looked_for in str(caught.value)


def test_a_source_that_does_not_match_the_file_is_refused():
    with pytest.raises(InputError) as caught:
        read("features_jira_parent.csv", source="ado")
    assert caught.value.field == "source" and "jira_all_fields" in str(caught.value)
    with pytest.raises(InputError):
        read("features_jira_parent.csv", source="linear")


def test_item_state_removed_wins_then_done_date_or_status():
    assert item_state("Done", "Won\u2019t Do", True) == "removed"
    assert item_state("Removed", None, False) == "removed"
    assert item_state("Closed", None, False) == "done"
    assert item_state("In Progress", None, True) == "done"
    assert item_state("Resolved", None, False) == "open"
    assert item_state("", "", False) == "open"


# ------------------------------------------------------------------------------ the portfolio file
WEB_HISTORY = [HistoryPeriod(dt.date(2026, 1, 5) + dt.timedelta(weeks=i), n, 7) for i, n in
               enumerate([2, 3, 0, 4, 1, 3, 2, 5])]  # fmt: skip


def test_the_definition_holds_open_features_only_with_sizes_and_the_team():
    imported = read("features_jira_parent.csv")
    definition = portfolio_definition(
        imported, "web", start="2026-06-01", target=dt.date(2026, 9, 30)
    )
    assert definition == {
        "start": "2026-06-01",
        "target": "2026-09-30",
        "feature_sizes": [3, 2],
        "teams": [{"name": "web", "project": "web"}],
        "features": [
            {"name": "Checkout", "size": 4, "done": 2, "teams": ["web"]},
            {"name": "Wishlist", "teams": ["web"]},
            {"name": "Reporting", "size": 1, "done": 0, "teams": ["web"]},
        ],
    }


def test_the_toml_round_trip_parses_and_forecasts_serially():
    imported = read("features_jira_parent.csv")
    definition = portfolio_definition(
        imported, "web", project="shop", start="2026-06-01", target="2026-09-30"
    )
    text = dump_portfolio(definition, comments=["from features_jira_parent.csv"])
    data = tomllib.loads(text)
    assert data == definition
    asked: list[str] = []

    def history(project: str) -> list[HistoryPeriod]:
        asked.append(project)
        return WEB_HISTORY

    portfolio = parse_portfolio(data, history=history)
    assert asked == ["shop"]
    assert [f.name for f in portfolio.features] == ["Checkout", "Wishlist", "Reporting"]
    assert portfolio.features[0].size == 4 and portfolio.features[0].done == 2
    assert portfolio.features[1].size is None  # drawn from feature_sizes per run
    assert portfolio.feature_sizes == (3, 2)
    result = forecast_portfolio(portfolio, runs=2_000, seed=1)
    answer = result.to_dict()
    assert [f["name"] for f in answer["features"]] == ["Checkout", "Wishlist", "Reporting"]
    joint = answer["all_done_by_target"]
    assert all(0 < p <= 1 for p in joint) and joint == sorted(joint, reverse=True)


def test_repeated_names_get_their_key_and_names_are_escaped_in_toml():
    imported = read("features_jira_parent.csv")
    features = [f for f in imported.features if not f.closed]
    hostile = 'Say "hi"\\ \n\x1b[31m'
    imported.features = [
        type(f)(f.key, hostile if i < 2 else f.name, f.done, f.remaining, f.removed, f.closed)
        for i, f in enumerate(features)
    ] + imported.closed_features
    definition = portfolio_definition(imported, "web", start="2026-06-01")
    names = [f["name"] for f in definition["features"]]
    assert names[:2] == [
        f'Say "hi"\\ \x1b[31m ({features[0].key})',
        f'Say "hi"\\ \x1b[31m ({features[1].key})',
    ]
    text = dump_portfolio(definition, comments=["two\nlines \x1b"])
    assert text.count("\n#") == 0 and text.startswith("# two\\nlines \\x1b\n")
    assert tomllib.loads(text) == definition


def test_nothing_open_or_no_sizes_for_unsized_features_is_refused():
    closed = read("features_jira_parent.csv")
    closed.features = closed.closed_features
    with pytest.raises(InputError) as caught:
        portfolio_definition(closed, "web", start="2026-06-01")
    assert caught.value.field == "features"
    unsized = read("features_ado_tree.csv")
    unsized.features = [f for f in unsized.features if not f.closed]
    with pytest.raises(InputError) as caught:
        portfolio_definition(unsized, "web", start="2026-06-01")
    assert caught.value.field == "feature_sizes" and "9" in str(caught.value)
    with pytest.raises(InputError) as caught:
        portfolio_definition(read("features_ado_tree.csv"), " ", start="2026-06-01")
    assert caught.value.field == "team"
    with pytest.raises(InputError) as caught:
        portfolio_definition(
            read("features_ado_tree.csv"), "web", start="2026-06-01", target="2026-05-01"
        )
    assert caught.value.field == "target"


def test_dump_portfolio_refuses_keys_and_values_a_portfolio_file_does_not_hold():
    with pytest.raises(InputError) as caught:
        dump_portfolio({"start": "2026-01-05", "colour": "red"})
    assert caught.value.field == "file.colour"
    with pytest.raises(InputError) as caught:
        dump_portfolio({"start": "2026-01-05", "level": True})
    assert caught.value.field == "level"


def test_localised_jira_types_and_rows_naming_themselves_as_parent(tmp_path: Path):
    path = tmp_path / "jira_pt.csv"
    path.write_text(
        "Issue Type,Issue key,Issue id,Summary,Status,Resolution,Created,Resolved,Parent\r\n"
        "Épico,LOJ-1,1,Carrinho,Em andamento,,02/Mar/26 9:00 AM,,\r\n"
        "História,LOJ-2,2,Adicionar item,Concluído,Feito,02/Mar/26 9:00 AM,05/Mar/26 9:00 AM,LOJ-1\r\n"
        "Subtarefa,LOJ-3,3,Botão,Concluído,Feito,02/Mar/26 9:00 AM,04/Mar/26 9:00 AM,LOJ-2\r\n"
        "História,LOJ-4,4,Remover item,A fazer,,02/Mar/26 9:00 AM,,LOJ-1\r\n"
        "Tarefa,LOJ-5,5,Limpeza,A fazer,,02/Mar/26 9:00 AM,,LOJ-5\r\n",
        encoding="utf-8",
    )
    imported = read_features(path, "jira", today=TODAY)
    assert table(imported) == [("LOJ-1", "Carrinho", 1, 1, 0, False)]
    assert imported.subtasks == 1
    assert imported.items_without_parent == 1  # LOJ-5 named itself: read as no parent
    assert any("LOJ-5" in note for note in imported.notes)


def test_an_export_without_open_features_says_what_it_found():
    imported = read("features_generic.csv")
    imported.features = imported.closed_features
    with pytest.raises(InputError) as caught:
        portfolio_definition(imported, "web", start="2026-06-01")
    assert "all closed; items without parent: 1" in str(caught.value)


def test_rows_rejected_for_their_done_date_alone_count_by_their_status(tmp_path: Path):
    path = tmp_path / "items.csv"
    path.write_text(
        "id,status,done,parent\n"
        "A-1,Done,31/02/2026,F-1\n"  # no such day: still done, by its status
        "A-2,Doing,01/01/2099,F-1\n"  # after today: open, by its status
        "A-3,Done,01/02/2026,F-1\n"
        ",Done,01/02/2026,F-1\n"  # no key: not an item, listed
        "A-1,Done,yesterday,F-1\n",  # the same key again: counted once
        encoding="utf-8",
    )
    imported = read_features(path, today=TODAY)
    assert table(imported) == [("F-1", "F-1", 2, 1, 0, False)]
    assert [r.code for r in imported.rejected] == ["missing_key", "not_a_date"]
    assert sum(n.endswith("counted by its status.") for n in imported.notes) == 2


def test_binary_empty_and_missing_files_are_named_errors(tmp_path: Path):
    binary, empty = tmp_path / "x.csv", tmp_path / "empty.csv"
    binary.write_bytes(b"id,parent\n\x00\x01\x02")
    empty.write_text("", encoding="utf-8")
    for path, rule in (
        (binary, "binary"),
        (empty, "no header"),
        (tmp_path / "missing.csv", "existing file"),
    ):
        with pytest.raises(InputError) as caught:
            read_features(path, today=TODAY)
        assert caught.value.field == "path" and rule in str(caught.value)
