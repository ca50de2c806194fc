"""A portfolio's features from a project's synced tracker items, as an export's parent column gives them.

    imported = features_from_project("shop", "flowray.duckdb")
    imported.open_features          # per parent: items done and remaining, in key order
    imported.feature_sizes          # items done in each closed feature: the past sizes

The items are the ones `flowray sync` stored (title, type, status, parent);
the features come from the same builder as `flowray import features EXPORT`,
so a project synced from a tracker and an export of the same items agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os

from flowray.core.validation import parse_date, text
from flowray.exceptions import InputError
from flowray.importers.features import FeatureImport, features_from_items
from flowray.pipeline.workspace import Where, workspace_of


def features_from_project(
    project: str, db_path: Where = None, today: dt.date | str | None = None
) -> FeatureImport:
    """The features of a stored project's work items, as of `today` (default: today).

    An item done after `today` is not done yet: it is counted as open (or
    removed, by its status) and said in the notes. Raises InputError naming
    the ledger when there is none at `db_path`, the project when it is unknown
    or holds no work items, and `parent_key` when no item names a parent (a
    project imported from a CSV without parents, or a tracker whose items have
    none): there is no feature to read.
    """
    name = text("project", project, required=True)
    day = parse_date("today", today) or dt.date.today()
    workspace = workspace_of(db_path)
    if db_path is None or isinstance(db_path, (str, os.PathLike)):
        from flowray.store import require_ledger

        require_ledger(workspace.db_path)  # a read: a mistyped path must not create a ledger
    items = workspace.store.get_work_item_details(name)
    if not items:
        raise InputError(
            "project",
            name,
            "holds no work items: connect its tracker and sync it "
            f"(flowray connect KIND --project {name} ...; flowray sync --project {name})",
        )
    if not any(item.parent_key for item in items):
        raise InputError(
            "parent_key",
            None,
            f"no stored item of project {name!r} names a parent ({len(items)} items): "
            "features are the parents (epics, features, milestones) of synced items",
        )
    later = sorted(i.item_id for i in items if i.done_on is not None and i.done_on > day)
    if later:
        items = [
            i._replace(done_on=None) if i.done_on is not None and i.done_on > day else i
            for i in items
        ]
    kinds = sorted({i.source for i in items if i.source})
    imported = features_from_items(items, project=name, source=", ".join(kinds) or "stored")
    if later:
        shown = ", ".join(later[:5]) + (", ..." if len(later) > 5 else "")
        note = (
            f"{len(later)} item{'s are' if len(later) != 1 else ' is'} done after "
            f"{day.isoformat()} and counted as not done yet: {shown}."
        )
        imported = dataclasses.replace(imported, notes=[note, *imported.notes])
    return imported


__all__ = ["features_from_project"]
