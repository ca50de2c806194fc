"""Tracker sources and their syncs: where a project's items come from, and applying a read.

A source keeps what is needed to read a tracker again (site, repository or
query, workflow overrides) and how far the last sync got; it never keeps a
secret. Applying a sync is one transaction: the items are upserted, the
project's throughput is re-derived from all its stored done items through
`replace_history` (so the history a forecast used is kept as a revision), and
the source's cursor moves. A sync that fails before this point writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from flowray.core.item_states import is_container
from flowray.core.throughput import derive_throughput
from flowray.core.validation import optional_whole_number, parse_date, parse_timestamp, text
from flowray.exceptions import InputError
from flowray.records.base import Connection, Record, Work, current_user, dumps, utcnow
from flowray.records.projects import HistoryReplaced, ensure_user, project_id, replace_history

_SECRET_KEY = re.compile(r"token|secret|password|passwd|credential|api_?key|email", re.I)


@dataclass(frozen=True)
class Source(Record):
    """Where one project's work items are read from."""

    source_id: int
    project: str
    kind: str
    settings: dict[str, Any]
    workflow: dict[str, list[str]]
    created_at: dt.datetime
    created_by: str
    last_synced_at: dt.datetime | None
    last_cursor: str | None

    @property
    def since(self) -> dt.datetime | None:
        """The aware UTC time an incremental sync reads from (None: read everything)."""
        if not self.last_cursor:
            return None
        return dt.datetime.fromisoformat(self.last_cursor).replace(tzinfo=dt.UTC)


class SyncedItem(NamedTuple):
    """One item as a tracker described it, in the store's terms (dates UTC, times naive UTC)."""

    item_id: str
    title: str
    item_type: str
    status: str
    started_on: dt.date | None
    done_on: dt.date | None
    parent_key: str | None
    labels: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class SyncApplied(Record):
    """What one sync changed: item counts, the keys that became done or were re-opened, and
    what happened to the throughput (None when the project has no done item yet)."""

    project: str
    source_id: int
    kind: str
    received: int
    added: int
    changed: int
    unchanged: int
    newly_done: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    done_total: int = 0
    open_total: int = 0
    history: HistoryReplaced | None = None
    cursor: str | None = None
    synced_at: dt.datetime | None = None


_SELECT_SOURCES = (
    "SELECT s.source_id, p.name, s.kind, s.settings, s.workflow, s.created_at, s.created_by, "
    "s.last_synced_at, s.last_cursor FROM sources s JOIN projects p USING (project_id) "
)


def _source_row(row: Sequence[Any]) -> Source:
    return Source(
        int(row[0]),
        row[1],
        row[2],
        json.loads(row[3]),
        json.loads(row[4]),
        row[5],
        row[6],
        row[7],
        row[8],
    )


def check_settings(settings: Any) -> dict[str, Any]:
    """Plain JSON settings with no key that could hold a secret (tokens stay in the environment)."""
    if not isinstance(settings, Mapping):
        raise InputError("settings", settings, "must be a mapping of plain values")
    for key in settings:
        if not isinstance(key, str) or _SECRET_KEY.search(key):
            raise InputError(
                "settings", key, "must not hold a secret: tokens are read from the environment"
            )
    json.loads(dumps(settings))  # refuses what JSON cannot hold
    return dict(settings)


def check_workflow(workflow: Any) -> dict[str, list[str]]:
    if workflow is None:
        return {}
    if not isinstance(workflow, Mapping) or not all(
        isinstance(v, list) and all(isinstance(n, str) for n in v) for v in workflow.values()
    ):
        raise InputError("workflow", workflow, "must map todo / started / done to state names")
    return {str(k): list(v) for k, v in workflow.items()}


def connect_source(
    project: str,
    kind: str,
    settings: Mapping[str, Any],
    workflow: Mapping[str, list[str]] | None = None,
    *,
    create_project: bool = True,
) -> Work[Source]:
    """Add the project's source of `kind`, or update it; new settings restart from a full read."""
    name = text("project", project, required=True)
    kind_name = text("kind", kind, required=True)
    stored_settings = check_settings(settings)
    stored_workflow = check_workflow(workflow)

    def work(con: Connection) -> Source:
        con.execute("SELECT project_id FROM projects WHERE name = ?", [name])
        found = con.fetchone()
        who = current_user()
        if found is None:
            if not create_project:
                project_id(con, name)  # raises with the known names
            ensure_user(con, who)
            con.execute(
                "INSERT INTO projects (name, owner, created_at) VALUES (?, ?, ?) "
                "RETURNING project_id",
                [name, who, utcnow()],
            )
            found = con.fetchone()
        pid = int(found[0])
        con.execute(
            "SELECT source_id, settings FROM sources WHERE project_id = ? AND kind = ?",
            [pid, kind_name],
        )
        existing = con.fetchone()
        if existing is None:
            con.execute(
                "INSERT INTO sources (project_id, kind, settings, workflow, created_at, "
                "created_by) VALUES (?, ?, ?, ?, ?, ?) RETURNING source_id",
                [pid, kind_name, dumps(stored_settings), dumps(stored_workflow), utcnow(), who],
            )
            source_id = int(con.fetchone()[0])
        else:
            source_id = int(existing[0])
            same = json.loads(existing[1]) == json.loads(dumps(stored_settings))
            con.execute(
                "UPDATE sources SET settings = ?, workflow = ?, "
                "last_cursor = CASE WHEN ? THEN last_cursor ELSE NULL END WHERE source_id = ?",
                [dumps(stored_settings), dumps(stored_workflow), same, source_id],
            )
        return read_source(con, source_id)

    return work


def read_source(con: Connection, source_id: int) -> Source:
    con.execute(_SELECT_SOURCES + "WHERE s.source_id = ?", [source_id])
    row = con.fetchone()
    if row is None:
        raise InputError("source_id", source_id, "no such source")
    return _source_row(row)


def list_sources(project: str | None = None) -> Work[list[Source]]:
    """Every source (or one project's), by project name and kind."""
    name = text("project", project)

    def work(con: Connection) -> list[Source]:
        if name is None:
            con.execute(_SELECT_SOURCES + "ORDER BY p.name, s.kind")
        else:
            pid = project_id(con, name)
            con.execute(_SELECT_SOURCES + "WHERE s.project_id = ? ORDER BY s.kind", [pid])
        return [_source_row(r) for r in con.fetchall()]

    return work


def synced_rows(items: Iterable[Any]) -> dict[str, SyncedItem]:
    """Checked `SyncedItem`s by id; a key seen twice keeps its latest update."""
    out: dict[str, SyncedItem] = {}
    for i, item in enumerate(items):
        if not isinstance(item, SyncedItem):
            raise InputError(f"items[{i}]", item, "must be a SyncedItem")
        key = text(f"items[{i}].item_id", item.item_id, required=True)
        parse_date(f"item {key!r} done_on", item.done_on)
        parse_date(f"item {key!r} started_on", item.started_on)
        parse_timestamp(f"item {key!r} updated_at", item.updated_at)
        if key not in out or item.updated_at >= out[key].updated_at:
            out[key] = item
    return out


def apply_sync(
    source_id: int,
    items: Iterable[SyncedItem],
    *,
    cursor: dt.datetime | None,
    period_days: int = 7,
    today: dt.date | None = None,
) -> Work[SyncApplied]:
    """Upsert a sync's items and re-derive the project's throughput, in one transaction.

    The throughput is derived from all the project's stored done items (those of
    earlier CSV imports too), the same way `import_work_items` derives it; the
    history it replaces is kept as a revision. A done date after `today`
    (default: today in UTC) refuses the whole sync by name. `cursor` is the
    latest update time read (None keeps the source's cursor).
    """
    sid = optional_whole_number("source_id", source_id, 1)
    pdays = optional_whole_number("period_days", period_days, 1)
    assert sid is not None and pdays is not None
    rows = synced_rows(items)
    day = parse_date("today", today) or dt.datetime.now(dt.UTC).date()
    for key, row in rows.items():
        if row.done_on is not None and row.done_on > day:
            raise InputError(
                f"item {key!r} done_on",
                row.done_on.isoformat(),
                f"is after today ({day.isoformat()}): a future done date is never throughput",
            )
    stamp = parse_timestamp("cursor", cursor)

    def work(con: Connection) -> SyncApplied:
        source = read_source(con, sid)
        pid = project_id(con, source.project)
        before = _stored(con, pid, list(rows))
        added = changed = unchanged = 0
        newly_done: list[str] = []
        reopened: list[str] = []
        for key, row in rows.items():
            old = before.get(key)
            new = (
                row.started_on,
                row.done_on,
                row.status,
                row.title,
                row.item_type,
                row.parent_key,
            )
            if old is None:
                added += 1
            elif old == new:
                unchanged += 1
            else:
                changed += 1
            was_done = old is not None and old[1] is not None
            if row.done_on is not None and not was_done:
                newly_done.append(key)
            elif row.done_on is None and was_done:
                reopened.append(key)
        _upsert(con, pid, source.kind, rows.values())
        # Epics, features and initiatives hold items: they are kept (they name a portfolio's
        # features) but are never throughput, as `import items` counts them.
        con.execute(
            "SELECT done_on, item_type FROM work_items WHERE project_id = ? AND done_on IS NOT NULL",
            [pid],
        )
        done_days = [r[0] for r in con.fetchall() if not is_container(r[1])]
        con.execute(
            "SELECT item_type FROM work_items WHERE project_id = ? AND done_on IS NULL", [pid]
        )
        open_total = sum(1 for r in con.fetchall() if not is_container(r[0]))
        history = None
        if done_days:
            weekly = derive_throughput(done_days, period_days=pdays)
            reason = f"sync {source.kind} source {source.source_id}"
            history = replace_history(con, pid, source.project, weekly, pdays, reason)
        now = utcnow()
        new_cursor = stamp.isoformat() if stamp is not None else source.last_cursor
        con.execute(
            "UPDATE sources SET last_synced_at = ?, last_cursor = ? WHERE source_id = ?",
            [now, new_cursor, sid],
        )
        return SyncApplied(
            source.project,
            sid,
            source.kind,
            len(rows),
            added,
            changed,
            unchanged,
            sorted(newly_done, key=natural_key),
            sorted(reopened, key=natural_key),
            len(done_days),
            open_total,
            history,
            new_cursor,
            now,
        )

    return work


def natural_key(key: str) -> list[Any]:
    """FLOW-9 before FLOW-10, repo#9 before repo#10."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", key)
    ]


def _stored(con: Connection, pid: int, keys: list[str]) -> dict[str, tuple[Any, ...]]:
    if not keys:
        return {}
    con.execute(
        "SELECT item_id, started_on, done_on, status, title, item_type, parent_key "
        "FROM work_items WHERE project_id = ? AND list_contains(?::VARCHAR[], item_id)",
        [pid, keys],
    )
    return {r[0]: tuple(r[1:]) for r in con.fetchall()}


def _upsert(con: Connection, pid: int, kind: str, rows: Iterable[SyncedItem]) -> None:
    batch = list(rows)
    if not batch:
        return
    con.execute(
        "INSERT OR REPLACE INTO work_items (project_id, item_id, started_on, done_on, title, "
        "item_type, status, parent_key, labels, created_at, updated_at, source) "
        "SELECT $pid, unnest($ids::VARCHAR[]), unnest($starts::DATE[]), unnest($dones::DATE[]), "
        "unnest($titles::VARCHAR[]), unnest($types::VARCHAR[]), unnest($statuses::VARCHAR[]), "
        "unnest($parents::VARCHAR[]), unnest($labels::JSON[]), unnest($created::TIMESTAMP[]), "
        "unnest($updated::TIMESTAMP[]), $kind",
        {
            "pid": pid,
            "ids": [r.item_id for r in batch],
            "starts": [r.started_on for r in batch],
            "dones": [r.done_on for r in batch],
            "titles": [r.title for r in batch],
            "types": [r.item_type for r in batch],
            "statuses": [r.status for r in batch],
            "parents": [r.parent_key for r in batch],
            "labels": [dumps(list(r.labels)) for r in batch],
            "created": [parse_timestamp("created_at", r.created_at) for r in batch],
            "updated": [parse_timestamp("updated_at", r.updated_at) for r in batch],
            "kind": kind,
        },
    )
