"""Users, projects, their throughput history (with its revisions) and work items.

A project's throughput is never lost: every replacement first copies the rows it
replaces into `throughput_revisions` (append-only, numbered per project, with
when, who and why), so `restore_throughput` can bring any of them back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from flowray.core.throughput import derive_throughput
from flowray.core.validation import optional_whole_number, parse_date, parse_timestamp, text
from flowray.exceptions import InputError
from flowray.records.base import Connection, Record, Work, current_user, utcnow


@dataclass(frozen=True)
class User(Record):
    user_id: int
    name: str
    email: str | None
    role: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Project(Record):
    project_id: int
    name: str
    owner: str | None
    description: str | None
    team_size: int | None
    status: str
    start_date: dt.date | None
    target_date: dt.date | None
    created_at: dt.datetime


class ThroughputPeriod(NamedTuple):
    """Items completed in the period starting on `period_start`."""

    period_start: dt.date
    items: int
    period_days: int = 7


class WorkItemRow(NamedTuple):
    item_id: str
    done_on: dt.date | None
    started_on: dt.date | None


class WorkItemDetail(NamedTuple):
    """One stored item with what a sync knows of it (None where a CSV import left it unknown):
    what a portfolio's features are built from."""

    item_id: str
    title: str | None
    item_type: str | None
    status: str | None
    parent_key: str | None
    started_on: dt.date | None
    done_on: dt.date | None
    created_at: dt.datetime | None
    source: str | None


@dataclass(frozen=True)
class HistorySpan(Record):
    """The shape of one throughput history: how many periods and items, and which periods."""

    periods: int
    items: int
    first_period: dt.date | None
    last_period: dt.date | None
    period_days: int | None

    def describe(self) -> str:
        """'20 periods of 7 days, 143 items (2025-01-06..2025-05-19)', or 'no history'."""
        if not self.periods:
            return "no history"
        noun = "period" if self.periods == 1 else "periods"
        things = "item" if self.items == 1 else "items"
        assert self.first_period is not None and self.last_period is not None
        return (
            f"{self.periods} {noun} of {self.period_days} days, {self.items} {things} "
            f"({self.first_period.isoformat()}..{self.last_period.isoformat()})"
        )


@dataclass(frozen=True)
class HistoryReplaced(Record):
    """What one write of a project's throughput did: the history before and after it, and
    the revision that keeps the one replaced (None when nothing was replaced: the history
    was empty or is unchanged)."""

    project: str
    reason: str
    before: HistorySpan
    after: HistorySpan
    revision: int | None


@dataclass(frozen=True)
class ThroughputRevision(Record):
    """A history that was replaced: kept whole, numbered per project, never changed again."""

    project: str
    revision: int
    created_at: dt.datetime
    created_by: str
    reason: str
    period_days: int
    periods: int
    items: int
    first_period: dt.date | None
    last_period: dt.date | None


@dataclass(frozen=True)
class ItemsImported(Record):
    """What `import_work_items` stored: items, and the throughput derived from all of them.

    `history` says what the import did to the project's throughput (before, after,
    and the revision keeping the history it replaced).
    """

    project: str
    project_created: bool
    items: int
    done: int
    open: int
    throughput_periods: int
    history: HistoryReplaced


_SELECT_PROJECTS = (
    "SELECT project_id, name, owner, description, team_size, status, start_date, target_date, "
    "created_at FROM projects "
)


def add_user(
    name: str,
    *,
    email: str | None = None,
    role: str = "member",
    created_at: dt.datetime | None = None,
) -> Work[User]:
    """Register a person (name as they log in, e.g. their JupyterHub user)."""
    name = text("name", name, required=True)
    email, role = text("email", email), text("role", role, required=True)
    stamp = parse_timestamp("created_at", created_at) or utcnow()

    def work(con: Connection) -> User:
        con.execute("SELECT 1 FROM users WHERE name = ?", [name])
        if con.fetchone():
            raise InputError("user", name, "already exists")
        con.execute(
            "INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?) "
            "RETURNING user_id, name, email, role, created_at",
            [name, email, role, stamp],
        )
        return user_row(con.fetchone())

    return work


def get_user(name: str) -> Work[User]:
    def work(con: Connection) -> User:
        con.execute(
            "SELECT user_id, name, email, role, created_at FROM users WHERE name = ?", [name]
        )
        row = con.fetchone()
        if row is None:
            raise InputError("user", name, "no such user")
        return user_row(row)

    return work


def list_users() -> Work[list[User]]:
    def work(con: Connection) -> list[User]:
        con.execute("SELECT user_id, name, email, role, created_at FROM users ORDER BY user_id")
        return [user_row(r) for r in con.fetchall()]

    return work


def user_row(row: Sequence[Any]) -> User:
    return User(*row)


def ensure_user(
    con: Connection,
    name: str,
    *,
    email: str | None = None,
    role: str = "member",
    created_at: dt.datetime | None = None,
) -> bool:
    con.execute("SELECT 1 FROM users WHERE name = ?", [name])
    if con.fetchone():
        return False
    con.execute(
        "INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?)",
        [name, email, role, created_at or utcnow()],
    )
    return True


def project_id(con: Connection, project: str) -> int:
    con.execute("SELECT project_id FROM projects WHERE name = ?", [project])
    row = con.fetchone()
    if row is None:
        con.execute("SELECT name FROM projects ORDER BY name LIMIT 20")
        known = [r[0] for r in con.fetchall()]
        raise InputError("project", project, f"no such project; known: {known}")
    return int(row[0])


def add_project(
    name: str,
    *,
    owner: str | None = None,
    description: str | None = None,
    team_size: int | None = None,
    status: str = "active",
    start_date: dt.date | str | None = None,
    target_date: dt.date | str | None = None,
    created_at: dt.datetime | None = None,
) -> Work[Project]:
    """Create a project; its owner (default: the current user) is registered if new."""
    name = text("name", name, required=True)
    owner = text("owner", owner) or current_user()
    row = [
        name,
        owner,
        text("description", description),
        optional_whole_number("team_size", team_size, 1),
        text("status", status, required=True),
        parse_date("start_date", start_date),
        parse_date("target_date", target_date),
        parse_timestamp("created_at", created_at) or utcnow(),
    ]

    def work(con: Connection) -> Project:
        con.execute("SELECT 1 FROM projects WHERE name = ?", [name])
        if con.fetchone():
            raise InputError("project", name, "already exists")
        ensure_user(con, owner)
        con.execute(
            "INSERT INTO projects (name, owner, description, team_size, status, start_date, "
            "target_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING project_id",
            row,
        )
        pid = con.fetchone()[0]
        con.execute(_SELECT_PROJECTS + "WHERE project_id = ?", [pid])
        return Project(*con.fetchone())

    return work


def get_project(name: str) -> Work[Project]:
    def work(con: Connection) -> Project:
        pid = project_id(con, name)
        con.execute(_SELECT_PROJECTS + "WHERE project_id = ?", [pid])
        return Project(*con.fetchone())

    return work


def list_projects() -> Work[list[Project]]:
    def work(con: Connection) -> list[Project]:
        con.execute(_SELECT_PROJECTS + "ORDER BY name")
        return [Project(*r) for r in con.fetchall()]

    return work


def throughput_rows(periods: Iterable[Any], period_days: int) -> list[tuple[dt.date, int]]:
    rows: dict[dt.date, int] = {}
    for i, entry in enumerate(periods):
        if isinstance(entry, Mapping):
            start, items = entry.get("period_start"), entry.get("items")
        else:
            try:
                start, items = entry[0], entry[1]
            except (TypeError, IndexError, KeyError):
                raise InputError(
                    f"throughput[{i}]", entry, "must be (period_start, items)"
                ) from None
        day = parse_date(f"throughput[{i}].period_start", start)
        count = optional_whole_number(f"throughput[{i}].items", items, 0)
        if day is None or count is None:
            raise InputError(f"throughput[{i}]", entry, "needs a period start and an item count")
        if day in rows:
            raise InputError(f"throughput[{i}].period_start", day.isoformat(), "appears twice")
        rows[day] = count
    ordered = sorted(rows)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if (b - a).days % period_days:
            raise InputError(
                "throughput.period_start",
                b.isoformat(),
                f"is not a whole number of {period_days}-day periods after {a.isoformat()}",
            )
    return [(d, rows[d]) for d in ordered]


def set_throughput(
    project: str,
    periods: Iterable[Any],
    *,
    period_days: int = 7,
    replace: bool = True,
    reason: str = "set_throughput",
) -> Work[int]:
    """Store throughput history: (period_start, items) pairs or {"period_start", "items"}.

    replace=True makes `periods` the whole history; replace=False merges (a period
    already stored takes the new count). Returns the number of periods written.
    A history that changes is first kept as a revision (`reason` says why).
    """
    pdays = optional_whole_number("period_days", period_days, 1)
    assert pdays is not None
    rows = throughput_rows(periods, pdays)
    why = text("reason", reason, required=True)

    def work(con: Connection) -> int:
        pid = project_id(con, project)
        current, stored_days = read_history(con, pid)
        if replace:
            new_rows = rows
        else:
            if current and stored_days != pdays:
                raise InputError(
                    "period_days", pdays, f"the stored history uses {stored_days}-day periods"
                )
            merged = dict(current)
            merged.update(rows)
            new_rows = sorted(merged.items())
        replace_history(con, pid, project, new_rows, pdays, why)
        return len(rows)

    return work


def get_throughput(project: str) -> Work[list[ThroughputPeriod]]:
    """The project's history, oldest first."""

    def work(con: Connection) -> list[ThroughputPeriod]:
        pid = project_id(con, project)
        con.execute(
            "SELECT period_start, items, period_days FROM throughput WHERE project_id = ? "
            "ORDER BY period_start",
            [pid],
        )
        return [ThroughputPeriod(*r) for r in con.fetchall()]

    return work


def add_work_items(project: str, items: Iterable[Any]) -> Work[int]:
    """Insert or update work items (objects with item_id, done_on, started_on).

    The throughput is left as it is; `import_work_items` also re-derives it.
    """
    merged = work_item_rows(items)

    def work(con: Connection) -> int:
        upsert_work_items(con, project_id(con, project), merged)
        return len(merged)

    return work


def get_work_items(project: str) -> Work[list[WorkItemRow]]:
    def work(con: Connection) -> list[WorkItemRow]:
        pid = project_id(con, project)
        con.execute(
            "SELECT item_id, done_on, started_on FROM work_items WHERE project_id = ? "
            "ORDER BY done_on NULLS LAST, item_id",
            [pid],
        )
        return [WorkItemRow(*r) for r in con.fetchall()]

    return work


def get_work_item_details(project: str) -> Work[list[WorkItemDetail]]:
    """The project's items with title, type, status and parent, by item id."""
    name = text("project", project, required=True)

    def work(con: Connection) -> list[WorkItemDetail]:
        pid = project_id(con, name)
        con.execute(
            "SELECT item_id, title, item_type, status, parent_key, started_on, done_on, "
            "created_at, source FROM work_items WHERE project_id = ? ORDER BY item_id",
            [pid],
        )
        return [WorkItemDetail(*r) for r in con.fetchall()]

    return work


def import_work_items(
    project: str,
    items: Iterable[Any],
    *,
    period_days: int = 7,
    create_project: bool = True,
    replace: bool = False,
    today: dt.date | None = None,
    source: str | None = None,
) -> Work[ItemsImported]:
    """Store work items and replace the project's throughput with the one derived from
    all its stored items (zero periods filled), in one transaction.

    `items` are objects with item_id, done_on, started_on (importers.WorkItem).
    Open items (no done date) are kept as work in progress, never counted.

    Nothing is written when the items hold no done item, or a done date after
    `today` (default: the local date): such an import would erase or invent
    history. A derived history that would shrink the stored one (fewer periods or
    items, a narrower range, another period length) is refused unless
    `replace=True`. Whatever is replaced is first kept as a revision whose reason
    names `source` (the file imported).
    """
    rows = list(items)
    merged = work_item_rows(rows)
    pdays = optional_whole_number("period_days", period_days, 1)
    name = text("project", project, required=True)
    label = text("source", source)
    day = parse_date("today", today) or dt.date.today()
    for item_id, (_, done_on) in merged.items():
        if done_on is not None and done_on > day:
            raise InputError(
                f"item {item_id!r} done_on",
                done_on.isoformat(),
                f"is after today ({day.isoformat()}): a future done date is never throughput",
            )
    reason = f"import items {label}" if label else "import_work_items"

    def work(con: Connection) -> ItemsImported:
        con.execute("SELECT project_id FROM projects WHERE name = ?", [name])
        found = con.fetchone()
        created = found is None
        if created and not create_project:
            project_id(con, name)  # raises with the known names
        if not any(done_on is not None for _, done_on in merged.values()):
            raise InputError(
                "file" if label else "items",
                label if label else f"{len(merged)} items",
                f"holds no done items: nothing to derive throughput from; the history and work "
                f"items of project {name!r} are unchanged",
            )
        if created:
            owner = current_user()
            ensure_user(con, owner)
            con.execute(
                "INSERT INTO projects (name, owner, created_at) VALUES (?, ?, ?) "
                "RETURNING project_id",
                [name, owner, utcnow()],
            )
            found = con.fetchone()
        pid = int(found[0])
        upsert_work_items(con, pid, merged)
        con.execute(
            "SELECT done_on FROM work_items WHERE project_id = ? AND done_on IS NOT NULL", [pid]
        )
        weekly = derive_throughput([r[0] for r in con.fetchall()], period_days=period_days)
        assert pdays is not None  # derive_throughput has refused a missing period length
        if not replace:
            current, stored_days = read_history(con, pid)
            before = history_span(current, stored_days)
            after = history_span(weekly, pdays)
            losses = history_losses(before, after)
            if losses:
                raise InputError(
                    "replace",
                    False,
                    f"the items would shrink the history of project {name!r} from "
                    f"{before.describe()} to {after.describe()} ({'; '.join(losses)}); "
                    "nothing was changed. Import with replace=True (flowray import items "
                    "--replace) to replace it: the current history is then kept as a revision",
                )
        history = replace_history(con, pid, name, weekly, pdays, reason)
        done = sum(1 for started_done in merged.values() if started_done[1] is not None)
        return ItemsImported(
            name, created, len(merged), done, len(merged) - done, len(weekly), history
        )

    return work


def history_span(rows: Sequence[tuple[dt.date, int]], period_days: int | None) -> HistorySpan:
    """The shape of a history given as (period_start, items) rows, oldest first."""
    if not rows:
        return HistorySpan(0, 0, None, None, None)
    return HistorySpan(
        len(rows), sum(int(n) for _, n in rows), rows[0][0], rows[-1][0], period_days
    )


def history_losses(before: HistorySpan, after: HistorySpan) -> list[str]:
    """How `after` would lose part of `before` (empty: it keeps or extends it).

    Fewer periods or items, a later first or earlier last period, or another
    period length: each drops history a forecast may have been made from.
    """
    if not before.periods:
        return []
    if not after.periods:
        return ["no history left"]
    assert before.first_period and before.last_period and after.first_period
    assert after.last_period
    losses = []
    if after.period_days != before.period_days:
        losses.append(f"period length {before.period_days} -> {after.period_days} days")
    if after.periods < before.periods:
        losses.append(f"periods {before.periods} -> {after.periods}")
    if after.items < before.items:
        losses.append(f"items {before.items} -> {after.items}")
    if after.first_period > before.first_period:
        losses.append(
            f"first period {before.first_period.isoformat()} -> {after.first_period.isoformat()}"
        )
    if after.last_period < before.last_period:
        losses.append(
            f"last period {before.last_period.isoformat()} -> {after.last_period.isoformat()}"
        )
    return losses


def read_history(con: Connection, pid: int) -> tuple[list[tuple[dt.date, int]], int | None]:
    """The project's stored (period_start, items) rows, oldest first, and their period length."""
    con.execute(
        "SELECT period_start, items, period_days FROM throughput WHERE project_id = ? "
        "ORDER BY period_start",
        [pid],
    )
    found = con.fetchall()
    return [(r[0], int(r[1])) for r in found], (int(found[0][2]) if found else None)


def replace_history(
    con: Connection,
    pid: int,
    project: str,
    rows: Sequence[tuple[dt.date, int]],
    period_days: int,
    reason: str,
) -> HistoryReplaced:
    """Make `rows` the project's whole history, first keeping the current one as a revision.

    The one place that rewrites a stored history. An unchanged history writes
    nothing; an empty one needs no revision (there is nothing to lose).
    """
    current, stored_days = read_history(con, pid)
    before = history_span(current, stored_days)
    after = history_span(rows, period_days if rows else None)
    if current == [(d, int(n)) for d, n in rows] and (not rows or stored_days == period_days):
        return HistoryReplaced(project, reason, before, after, None)
    revision = None
    if current:
        revision = keep_revision(con, pid, current, before, reason)
    con.execute("DELETE FROM throughput WHERE project_id = ?", [pid])
    insert_throughput(con, pid, rows, period_days)
    return HistoryReplaced(project, reason, before, after, revision)


def keep_revision(
    con: Connection,
    pid: int,
    rows: Sequence[tuple[dt.date, int]],
    span: HistorySpan,
    reason: str,
) -> int:
    """Append `rows` (the history being replaced) as the project's next revision; its number."""
    con.execute(
        "SELECT coalesce(max(revision), 0) + 1 FROM throughput_revisions WHERE project_id = ?",
        [pid],
    )
    revision = int(con.fetchone()[0])
    con.execute(
        "INSERT INTO throughput_revisions (project_id, revision, created_at, created_by, reason, "
        "period_days, periods, items, first_period, last_period) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            pid,
            revision,
            utcnow(),
            current_user(),
            reason,
            span.period_days,
            span.periods,
            span.items,
            span.first_period,
            span.last_period,
        ],
    )
    con.execute(
        "INSERT INTO throughput_revision_periods (project_id, revision, period_start, items) "
        "SELECT $pid, $revision, unnest($days::DATE[]), unnest($items::INTEGER[])",
        {
            "pid": pid,
            "revision": revision,
            "days": [d for d, _ in rows],
            "items": [int(n) for _, n in rows],
        },
    )
    return revision


_SELECT_REVISIONS = (
    "SELECT p.name, r.revision, r.created_at, r.created_by, r.reason, r.period_days, r.periods, "
    "r.items, r.first_period, r.last_period FROM throughput_revisions r "
    "JOIN projects p USING (project_id) "
)


def list_throughput_revisions(project: str) -> Work[list[ThroughputRevision]]:
    """The project's kept histories, oldest revision first."""

    def work(con: Connection) -> list[ThroughputRevision]:
        pid = project_id(con, project)
        con.execute(_SELECT_REVISIONS + "WHERE r.project_id = ? ORDER BY r.revision", [pid])
        return [ThroughputRevision(*r) for r in con.fetchall()]

    return work


def revision_number(revision: Any) -> int:
    """A revision number: a whole number >= 1."""
    number = optional_whole_number("revision", revision, 1)
    if number is None:
        raise InputError("revision", revision, "is required")
    return number


def read_revision(con: Connection, pid: int, project: str, revision: int) -> ThroughputRevision:
    con.execute(_SELECT_REVISIONS + "WHERE r.project_id = ? AND r.revision = ?", [pid, revision])
    row = con.fetchone()
    if row is None:
        con.execute("SELECT count(*) FROM throughput_revisions WHERE project_id = ?", [pid])
        count = int(con.fetchone()[0])
        known = f"revisions 1 to {count}" if count else "no revisions yet"
        raise InputError("revision", revision, f"no such revision of project {project!r} ({known})")
    return ThroughputRevision(*row)


def get_throughput_revision(project: str, revision: int) -> Work[list[ThroughputPeriod]]:
    """The history kept as `revision`, oldest period first."""
    number = revision_number(revision)

    def work(con: Connection) -> list[ThroughputPeriod]:
        pid = project_id(con, project)
        kept = read_revision(con, pid, project, number)
        return [
            ThroughputPeriod(d, n, kept.period_days) for d, n in revision_rows(con, pid, number)
        ]

    return work


def revision_rows(con: Connection, pid: int, revision: int) -> list[tuple[dt.date, int]]:
    con.execute(
        "SELECT period_start, items FROM throughput_revision_periods "
        "WHERE project_id = ? AND revision = ? ORDER BY period_start",
        [pid, revision],
    )
    return [(r[0], int(r[1])) for r in con.fetchall()]


def restore_throughput(project: str, revision: int) -> Work[HistoryReplaced]:
    """Make revision `revision` the project's history again.

    Restoring is a replacement like any other: the current history is first
    kept as a new revision, so nothing is lost.
    """
    number = revision_number(revision)

    def work(con: Connection) -> HistoryReplaced:
        pid = project_id(con, project)
        kept = read_revision(con, pid, project, number)
        rows = revision_rows(con, pid, number)
        return replace_history(
            con, pid, project, rows, kept.period_days, f"throughput restore --revision {number}"
        )

    return work


def work_item_rows(items: Iterable[Any]) -> dict[str, tuple[dt.date | None, dt.date | None]]:
    merged: dict[str, tuple[dt.date | None, dt.date | None]] = {}
    for i, item in enumerate(items):
        item_id = getattr(item, "item_id", None)
        if item_id is None or str(item_id).strip() == "":
            raise InputError(f"items[{i}].item_id", item_id, "is required")
        merged[str(item_id).strip()] = (
            parse_date(f"items[{i}].started_on", getattr(item, "started_on", None)),
            parse_date(f"items[{i}].done_on", getattr(item, "done_on", None)),
        )
    return merged


def upsert_work_items(
    con: Connection, pid: int, merged: Mapping[str, tuple[dt.date | None, dt.date | None]]
) -> None:
    if merged:
        # Only the dates: what a tracker sync stored beside them (title, type, status, parent)
        # stays, so importing a CSV into a synced project loses nothing.
        con.execute(
            "INSERT INTO work_items (project_id, item_id, started_on, done_on) "
            "SELECT $pid, unnest($ids::VARCHAR[]), unnest($starts::DATE[]), "
            "unnest($dones::DATE[]) "
            "ON CONFLICT (project_id, item_id) DO UPDATE SET "
            "started_on = excluded.started_on, done_on = excluded.done_on",
            {
                "pid": pid,
                "ids": list(merged),
                "starts": [s for s, _ in merged.values()],
                "dones": [d for _, d in merged.values()],
            },
        )


def insert_throughput(
    con: Connection, pid: int, rows: Sequence[tuple[dt.date, int]], period_days: int
) -> None:
    if rows:
        con.execute(
            "INSERT OR REPLACE INTO throughput (project_id, period_start, period_days, items) "
            "SELECT $pid, unnest($days::DATE[]), $pdays, unnest($items::INTEGER[])",
            {
                "pid": pid,
                "days": [d for d, _ in rows],
                "pdays": period_days,
                "items": [int(n) for _, n in rows],
            },
        )
