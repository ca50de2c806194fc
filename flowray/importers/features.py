"""Portfolio features from a tracker export with a parent or epic column.

An export of a team's items that says each item's parent (Jira `Parent key`,
`Parent`, `Parent id`, `Epic Link`; Azure DevOps `Parent`, or a tree query's
`Title 1`, `Title 2`, ... columns) gives a portfolio its features: each
parent's items done and remaining, whether it is closed, and the sizes of the
closed ones, which the portfolio draws from for features of unknown size.

The rows are read by `work_items` (same decoding, keys, done dates and rejected
rows as `flowray import items`), and an item is done, removed or open by its
`item_state`. Nothing is dropped silently: items without a parent, sub-tasks,
removed items and rejected rows are counted in the result.

A project synced from its tracker gives the same features from its stored
items (`features_from_items`): both paths build `FeatureRow`s and hand them to
one builder, `build_features`, so the counting rules live in one place.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowray.core.portfolio import MAX_FEATURES
from flowray.core.validation import choice, parse_date, text
from flowray.exceptions import InputError
from flowray.importers.work_items import (
    CsvTable,
    RejectedRow,
    _find_column,
    detect_format,
    header_summary,
    item_state,
    local_today,
    read_table,
    status_columns,
    work_items_from_table,
)

SOURCES = ("auto", "jira", "ado", "generic")

_FORMATS_OF = {
    "jira": ("jira_all_fields", "jira_current_fields"),
    "ado": ("azure_devops",),
    "generic": ("items", "generic", None),
}

# Parent columns, best first: a key names the parent the way people do; an id still matches a
# parent row of the export.
PARENT_COLUMNS = {
    "jira": (
        "Parent key",
        "Parent",
        "Parent id",
        "Epic Link",
        "Custom field (Epic Link)",
    ),
    "ado": ("Parent",),
    "generic": (
        "parent",
        "parent key",
        "parent id",
        "epic",
        "epic key",
        "epic link",
        "feature",
        "feature key",
        "feature id",
    ),
}
_PARENT_NAME_COLUMNS = (
    "Parent summary",
    "Parent title",
    "Parent name",
    "Epic name",
    "Feature name",
)
_ROW_NAME_COLUMNS = ("Custom field (Epic Name)", "Epic Name", "Summary", "Title", "name")
_TYPE_COLUMNS = ("Issue Type", "Work Item Type", "type", "item type")
_RANK_COLUMNS = (
    "Rank",
    "Custom field (Rank)",
    "Backlog Priority",
    "Stack Rank",
    "rank",
    "order",
)
_ROW_ID_COLUMNS = ("Issue id",)  # Jira's `Parent` holds the parent's issue id, not its key
_DATE_CODES = frozenset({"not_a_date", "unknown_month", "invalid_date", "done_after_today"})
"""Rejections of `work_items` for the done date alone (see RejectedRow.code)."""
_TREE_TITLE = re.compile(r"^title\s*(\d+)$", re.IGNORECASE)

FEATURE_TYPES = frozenset(
    {
        "epic", "feature", "initiative", "capability",
        "épico", "epico", "épica", "epica", "épopée", "epopee", "epos",
    }
)  # fmt: skip
"""Work item types that are features (or groups of features), never items of one: English,
and Jira's Epic in the languages whose month names `dates` reads."""

_SUBTASK_WORDS = ("subtask", "subtarefa", "subtarea", "soustâche", "unteraufgabe", "sottotask")


def _is_subtask(kind: str) -> bool:
    word = kind.lower().replace(" ", "").replace("-", "")
    return any(w in word for w in _SUBTASK_WORDS)


@dataclass(frozen=True)
class ImportedFeature:
    """One parent of the export: its items done and remaining, and whether it is closed."""

    key: str
    name: str
    done: int
    remaining: int
    removed: int = 0
    closed: bool = False
    rank: str | None = None

    @property
    def size(self) -> int:
        """Items of the feature that count: done plus remaining (removed ones never count)."""
        return self.done + self.remaining

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "done": self.done,
            "remaining": self.remaining,
            "removed": self.removed,
            "size": self.size,
            "closed": self.closed,
            "rank": self.rank,
        }


@dataclass
class FeatureImport:
    """What `read_features` found: the features in `order`, and every row it did not count.

    `order` is "rank" (the parents' rank column), "export" (the row order of a
    tree query) or "key" (the parents' keys in creation order: Jira's number
    after the project key, Azure DevOps' ID).
    """

    path: str
    format: str
    parent_column: str
    order: str
    features: list[ImportedFeature]
    items: int
    items_without_parent: int
    subtasks: int = 0
    removed_features: list[str] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def open_features(self) -> list[ImportedFeature]:
        return [f for f in self.features if not f.closed]

    @property
    def closed_features(self) -> list[ImportedFeature]:
        return [f for f in self.features if f.closed]

    @property
    def feature_sizes(self) -> list[int]:
        """Items done in each closed feature (in feature order): the past feature sizes."""
        return [f.done for f in self.closed_features if f.done > 0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "parent_column": self.parent_column,
            "order": self.order,
            "features": [f.to_dict() for f in self.features],
            "open_features": len(self.open_features),
            "closed_features": len(self.closed_features),
            "feature_sizes": self.feature_sizes,
            "items": self.items,
            "items_without_parent": self.items_without_parent,
            "subtasks": self.subtasks,
            "removed_features": list(self.removed_features),
            "rows_rejected": len(self.rejected),
            "rejected": [r.to_dict() for r in self.rejected],
            "notes": list(self.notes),
        }


@dataclass
class FeatureRow:
    """One item as the feature builder sees it, whether read from an export or from the ledger.

    `state` is done, removed or open; `kind` the item type; `parent` the key (or,
    in a Jira export, the issue id) of its parent; `alt_id` a second id a parent
    may be named by.
    """

    row: int
    key: str
    state: str
    kind: str = ""
    parent: str = ""
    name: str = ""
    parent_name: str = ""
    rank: str = ""
    alt_id: str = ""


def _cell(cells: Sequence[str], index: int | None) -> str:
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _key_order(key: str) -> tuple[str, int, str]:
    """Creation order of keys: Jira's PYT-338 by project then number, Azure DevOps' IDs by number."""
    match = re.match(r"^(.*?)(\d+)$", key)
    if match is None:
        return (key.lower(), -1, key)
    return (match.group(1).lower(), int(match.group(2)), key)


def _rank_order(ranks: Sequence[str]) -> Any:
    """Numbers (Azure DevOps' Backlog Priority) compare as numbers; Jira's LexoRank as text."""
    try:
        [float(r) for r in ranks]
    except ValueError:
        return lambda rank: rank
    return float


def _parent_source(source: str, format_name: str | None) -> str:
    if source != "auto":
        return source
    if format_name in _FORMATS_OF["jira"]:
        return "jira"
    if format_name in _FORMATS_OF["ado"]:
        return "ado"
    return "generic"


def _looked_for(kind: str) -> list[str]:
    names = list(PARENT_COLUMNS[kind])
    if kind == "ado":
        names.append("Title 1, Title 2, ... (a tree query)")
    return names


def read_features(
    path: str | Path,
    source: str = "auto",
    *,
    parent_column: str | None = None,
    dayfirst: bool | None = None,
    today: dt.date | None = None,
) -> FeatureImport:
    """The features of a tracker export: per parent its items done and remaining, in a stated order.

    `source` is "auto" (from the header), "jira", "ado" or "generic"; a file
    that is not of the named kind is refused. The parent column is found by
    name (see PARENT_COLUMNS) unless `parent_column` names it. An item is done,
    removed or open by `work_items.item_state`; removed items are neither done
    nor remaining; a row `read_work_items` rejects for its done date alone is
    counted by its status (and said in the notes). A feature is closed by its own row's state when the parent
    row is in the export, else when it has items and all of them are done.

    Order: by the parents' rank column (Jira `Rank`, Azure DevOps `Backlog
    Priority` / `Stack Rank`, a sheet's `rank`) when parent rows with a rank are
    in the export; by the rows' order for a tree query; else by the parents'
    keys in creation order. Features without a rank follow the ranked ones in
    key order.
    """
    choice("source", source, SOURCES)
    if dayfirst is not None and not isinstance(dayfirst, bool):
        raise InputError("dayfirst", dayfirst, "must be True, False or None (detect)")
    latest = parse_date("today", today) or local_today()
    table = read_table(path)
    format_name = detect_format(table, need_done=False)
    if source != "auto" and format_name not in _FORMATS_OF[source]:
        raise InputError(
            "source",
            source,
            f"does not match the file, whose header reads as {format_name or 'no known export'}",
        )
    kind = _parent_source(source, format_name)
    header = table.header
    tree_levels = _tree_columns(header) if kind in ("ado", "generic") else []
    if parent_column is not None:
        named = text("parent_column", parent_column, required=True)
        parent_index = _find_column(header, (named,))
        if parent_index is None:
            raise InputError(
                "parent_column", named, f"is not a column of this file ({header_summary(header)})"
            )
        tree_levels = []
    else:
        parent_index = _find_column(header, PARENT_COLUMNS[kind])
        if parent_index is not None:
            tree_levels = []
        elif not tree_levels:
            raise InputError(
                "parent_column",
                None,
                f"no parent or epic column found (looked for {_looked_for(kind)}); "
                f"{header_summary(header)}",
            )
    report = work_items_from_table(table, dayfirst=dayfirst, today=latest, need_done=False)
    # A row rejected for its done date alone is still an item of its feature: its status says
    # whether it is done (the unreadable date is not used).
    keys = {item.item_id for item in report.items}
    by_status: list[RejectedRow] = []
    for rejected in report.rejected:
        if rejected.code in _DATE_CODES and rejected.item_id and rejected.item_id not in keys:
            keys.add(rejected.item_id)
            by_status.append(rejected)
    entries = sorted(
        [
            (row, item.item_id, item.is_done)
            for item, row in zip(report.items, report.item_rows, strict=True)
        ]
        + [(r.row, str(r.item_id), False) for r in by_status]
    )
    rows = _rows(table, entries, format_name, parent_index, tree_levels)
    parent_column_name = (
        header[parent_index]
        if parent_index is not None
        else ", ".join(header[i] for i in tree_levels)
    )
    result = build_features(rows, ordered_by_export=bool(tree_levels))
    result.path = str(path)
    result.format = format_name or "custom"
    result.parent_column = parent_column_name
    result.rejected = [r for r in report.rejected if r not in by_status]
    result.notes = (
        list(report.notes)
        + [
            f"Row {r.row} (line {r.line}), {r.item_id}: {r.reason}; counted by its status."
            for r in by_status
        ]
        + result.notes
    )
    return result


SYNCED_REMOVED_STATUSES = frozenset({"not planned"})
"""Removed states a connector writes beyond the words of `work_items.REMOVED_STATUSES`: GitHub's
issues closed as not planned (Azure DevOps' Removed and Linear's Canceled are among those words)."""


def synced_state(status: str | None, done_on: dt.date | None) -> str:
    """done, removed or open for an item a sync stored.

    The source's workflow already decided done: a synced item is done when it
    has a done date, whatever its status is called. The workflow maps removed
    work to to-do (never started, never done), so an item without a done date
    whose status is a removed one (Removed, Cancelled, Won't Do, Duplicate, not
    planned, ...) is removed; anything else is open work.
    """
    if done_on is not None:
        return "done"
    word = " ".join((status or "").replace("\u2019", "'").lower().split())
    if item_state(status, None, False) == "removed" or word in SYNCED_REMOVED_STATUSES:
        return "removed"
    return "open"


def features_from_items(
    items: Iterable[Any], *, project: str = "", source: str = ""
) -> FeatureImport:
    """The features of a project's stored work items, by the same builder as `read_features`.

    `items` are records with `item_id`, `title`, `item_type`, `status`,
    `parent_key` and `done_on` (a sync stores them; the ledger's
    `WorkItemDetail`). An item's state is `synced_state`; a parent that is
    itself among the items names its feature (its title) and says whether it is
    closed (an epic is a feature, never an item of one). Stored items carry no
    rank, so features are in the order their parents' keys were created.
    `project` and `source` only label the result (its `path` and `format`).
    """
    rows: list[FeatureRow] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        key = text(f"items[{i}].item_id", getattr(item, "item_id", None), required=True)
        if key in seen:
            raise InputError(f"items[{i}].item_id", key, "is repeated: an item is stored once")
        seen.add(key)
        rows.append(
            FeatureRow(
                row=0,
                key=key,
                state=synced_state(getattr(item, "status", None), getattr(item, "done_on", None)),
                kind=(getattr(item, "item_type", None) or "").strip(),
                parent=(getattr(item, "parent_key", None) or "").strip(),
                name=" ".join((getattr(item, "title", None) or "").split()),
            )
        )
    rows.sort(key=lambda r: _key_order(r.key))
    for number, row in enumerate(rows, start=1):
        row.row = number
    result = build_features(rows, ordered_by_export=False)
    result.path = project
    result.format = source or "stored"
    result.parent_column = "parent_key"
    return result


def _tree_columns(header: Sequence[str]) -> list[int]:
    """Indices of a tree query's Title 1, Title 2, ... columns, by level (empty if not a tree)."""
    levels = sorted(
        (int(m.group(1)), i) for i, h in enumerate(header) if (m := _TREE_TITLE.match(h.strip()))
    )
    return [i for _, i in levels] if len(levels) >= 2 else []


def _rows(
    table: CsvTable,
    entries: Sequence[tuple[int, str, bool]],
    format_name: str | None,
    parent_index: int | None,
    tree_levels: list[int],
) -> list[FeatureRow]:
    header = table.header
    status_index, resolution_index = status_columns(format_name, header)
    type_index = _find_column(header, _TYPE_COLUMNS)
    parent_name_index = _find_column(header, _PARENT_NAME_COLUMNS)
    rank_index = _find_column(header, _RANK_COLUMNS)
    alt_index = _find_column(header, _ROW_ID_COLUMNS)
    name_indices = [i for c in _ROW_NAME_COLUMNS if (i := _find_column(header, (c,))) is not None]
    rows: list[FeatureRow] = []
    ancestors: list[str] = []  # a tree query's current path, one key per level
    for row_number, key, has_done_date in entries:
        cells = table.data[row_number - 1][1]
        state = item_state(
            _cell(cells, status_index), _cell(cells, resolution_index), has_done_date
        )
        name = next((_cell(cells, i) for i in name_indices if _cell(cells, i)), "")
        parent = _cell(cells, parent_index)
        if tree_levels:
            level = next((n for n, i in enumerate(tree_levels) if _cell(cells, i)), 0)
            name = name or _cell(cells, tree_levels[level])
            del ancestors[level:]
            ancestors.extend([""] * (level - len(ancestors)))
            parent = ancestors[level - 1] if level else ""
            ancestors.append(key)
        rows.append(
            FeatureRow(
                row=row_number,
                key=key,
                state=state,
                kind=_cell(cells, type_index),
                parent=parent,
                name=name,
                parent_name=_cell(cells, parent_name_index),
                rank=_cell(cells, rank_index),
                alt_id=_cell(cells, alt_index),
            )
        )
    return rows


def build_features(rows: list[FeatureRow], *, ordered_by_export: bool) -> FeatureImport:
    """Features from items that name their parents: the one builder of both sources.

    An export and a synced project differ only in how their rows are read;
    counting, closing, ordering and the notes are decided here once, so the two
    give the same features for the same items.
    """
    by_key = {r.key: r for r in rows}
    by_alt = {r.alt_id: r for r in rows if r.alt_id}
    own_parent = [r.key for r in rows if r.parent and r.parent in (r.key, r.alt_id)]
    for row in rows:
        if row.key in own_parent:
            row.parent = ""  # a row that names itself as parent has none

    def parent_row(row: FeatureRow) -> FeatureRow | None:
        return by_key.get(row.parent) or by_alt.get(row.parent)

    def parent_key(row: FeatureRow) -> str:
        found = parent_row(row)
        return found.key if found else row.parent

    def is_feature_type(row: FeatureRow) -> bool:
        return row.kind.strip().lower() in FEATURE_TYPES

    subtasks: set[str] = set()
    for row in rows:
        if is_feature_type(row):
            continue
        above = parent_row(row)
        # A part of an item: a sub-task, or a child of an item that has a parent of its own
        # (a Task under a User Story under a Feature).
        if _is_subtask(row.kind) or (
            above is not None and not is_feature_type(above) and above.kind and above.parent
        ):
            subtasks.add(row.key)
    candidates = [r for r in rows if r.key not in subtasks and not is_feature_type(r)]
    referenced = {parent_key(r) for r in candidates if r.parent}
    items = [r for r in candidates if r.key not in referenced]
    children: dict[str, list[FeatureRow]] = {}
    for row in items:
        if row.parent:
            children.setdefault(parent_key(row), []).append(row)
    has_any_child = {parent_key(r) for r in rows if r.parent}
    keys = list(children)
    for row in rows:
        if is_feature_type(row) and row.key not in has_any_child and row.key not in children:
            keys.append(row.key)  # a feature not yet broken down into items: size unknown

    features: list[ImportedFeature] = []
    removed_features: list[str] = []
    for key in keys:
        own = by_key.get(key)
        kids = children.get(key, [])
        done = sum(1 for r in kids if r.state == "done")
        removed = sum(1 for r in kids if r.state == "removed")
        remaining = len(kids) - done - removed
        if own is not None and own.state == "removed":
            removed_features.append(key)
            continue
        closed = own.state == "done" if own is not None else (done > 0 and remaining == 0)
        name = (own.name if own is not None else "") or next(
            (r.parent_name for r in kids if r.parent_name), ""
        )
        features.append(
            ImportedFeature(
                key=key,
                name=name or key,
                done=done,
                remaining=remaining,
                removed=removed,
                closed=closed,
                rank=(own.rank or None) if own is not None else None,
            )
        )

    position = {r.key: i for i, r in enumerate(rows)}
    ranked = [f for f in features if f.rank is not None]
    if ordered_by_export:
        order = "export"
        features.sort(key=lambda f: position.get(f.key, len(rows)))
    elif ranked:
        order = "rank"
        as_rank = _rank_order([f.rank for f in ranked if f.rank is not None])
        features = sorted(ranked, key=lambda f: as_rank(f.rank)) + sorted(
            (f for f in features if f.rank is None), key=lambda f: _key_order(f.key)
        )
    else:
        order = "key"
        features.sort(key=lambda f: _key_order(f.key))

    without_parent = sum(1 for r in items if not r.parent)
    notes: list[str] = []
    if without_parent:
        notes.append(
            f"{without_parent} items have no parent: they are in no feature."
            if without_parent != 1
            else "1 item has no parent: it is in no feature."
        )
    if subtasks:
        notes.append(
            f"{len(subtasks)} rows are parts of other items (sub-tasks, or tasks under a story), "
            "not counted on their own."
            if len(subtasks) != 1
            else "1 row is part of another item (a sub-task, or a task under a story), not "
            "counted on its own."
        )
    if removed_features:
        left_out = sum(len(children.get(key, [])) for key in removed_features)
        notes.append(
            f"{len(removed_features)} feature{'s were' if len(removed_features) != 1 else ' was'} "
            f"removed or cancelled and left out with {left_out} item"
            f"{'s' if left_out != 1 else ''}: {', '.join(removed_features)}."
        )
    if own_parent:
        notes.append(
            "Rows naming themselves as parent were read as having none: "
            + ", ".join(own_parent)
            + "."
        )
    groups = [
        r.key
        for r in rows
        if r.key in has_any_child
        and r.key not in children
        and r.key not in subtasks
        and (is_feature_type(r) or r.key in referenced)
    ]
    if groups:
        notes.append(
            "Parent rows whose children are features, not items, group them and are no features "
            "themselves: " + ", ".join(groups) + "."
        )
    empty_closed = [f.key for f in features if f.closed and f.done == 0]
    if empty_closed:
        notes.append(
            "Closed features with no done item give no past size: " + ", ".join(empty_closed) + "."
        )
    return FeatureImport(
        path="",
        format="",
        parent_column="",
        order=order,
        features=features,
        items=len(items),
        items_without_parent=without_parent,
        subtasks=len(subtasks),
        removed_features=removed_features,
        notes=notes,
    )


def portfolio_definition(
    imported: FeatureImport,
    team: str,
    *,
    project: str | None = None,
    start: Any,
    target: Any = None,
) -> dict[str, Any]:
    """The mapping of a portfolio file for one team: its open features in order, past sizes.

    The shape `portfolio_file.parse_portfolio` reads: `feature_sizes` from the
    closed features, one team reading the stored history of `project` (default:
    the team's name), and per open feature its name, size = done + remaining,
    done and `teams = [team]`. A feature with no items yet has no size, so the
    forecast draws it from `feature_sizes`. Names that repeat get their key
    added, since a portfolio's feature names are unique.
    """
    team_name = text("team", team, required=True)
    project_name = text("project", project) or team_name
    start_day = parse_date("start", start, empty_is_none=False)
    if start_day is None:
        raise InputError("start", start, "is required (a date written YYYY-MM-DD)")
    target_day = parse_date("target", target)
    open_features = imported.open_features
    if not open_features:
        raise InputError(
            "features",
            len(imported.features),
            "holds no open feature to forecast (features found: "
            f"{len(imported.features)}, all closed; items without parent: "
            f"{imported.items_without_parent})",
        )
    if len(open_features) > MAX_FEATURES:
        raise InputError(
            "features",
            len(open_features),
            f"a portfolio holds at most {MAX_FEATURES} features; export fewer",
        )
    sizes = imported.feature_sizes
    unsized = [f.key for f in open_features if f.size == 0]
    if unsized and not sizes:
        raise InputError(
            "feature_sizes",
            [],
            f"is needed for features without items ({', '.join(unsized[:5])}"
            f"{', ...' if len(unsized) > 5 else ''}) and the export holds no closed feature",
        )
    names = [" ".join(f.name.split()) or f.key for f in open_features]
    repeated = {n for n in names if names.count(n) > 1}
    features: list[dict[str, Any]] = []
    for feature, name in zip(open_features, names, strict=True):
        entry: dict[str, Any] = {
            "name": f"{name} ({feature.key})" if name in repeated else name,
        }
        if feature.size > 0:
            entry["size"] = feature.size
            entry["done"] = feature.done
        entry["teams"] = [team_name]
        features.append(entry)
    definition: dict[str, Any] = {"start": start_day.isoformat()}
    if target_day is not None:
        if target_day < start_day:
            raise InputError("target", target_day.isoformat(), f"must be on or after {start_day}")
        definition["target"] = target_day.isoformat()
    if sizes:
        definition["feature_sizes"] = sizes
    definition["teams"] = [{"name": team_name, "project": project_name}]
    definition["features"] = features
    return definition
