"""Users, projects, their throughput history and work items."""

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


@dataclass(frozen=True)
class ItemsImported(Record):
    """What `import_work_items` stored: items, and the throughput derived from all of them."""

    project: str
    project_created: bool
    items: int
    done: int
    open: int
    throughput_periods: int


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
    project: str, periods: Iterable[Any], *, period_days: int = 7, replace: bool = True
) -> Work[int]:
    """Store throughput history: (period_start, items) pairs or {"period_start", "items"}.

    replace=True makes `periods` the whole history; replace=False merges (a period
    already stored takes the new count). Returns the number of periods written.
    """
    pdays = optional_whole_number("period_days", period_days, 1)
    assert pdays is not None
    rows = throughput_rows(periods, pdays)

    def work(con: Connection) -> int:
        pid = project_id(con, project)
        if replace:
            con.execute("DELETE FROM throughput WHERE project_id = ?", [pid])
        else:
            con.execute("SELECT DISTINCT period_days FROM throughput WHERE project_id = ?", [pid])
            stored = [r[0] for r in con.fetchall()]
            if stored and stored != [pdays]:
                raise InputError(
                    "period_days", pdays, f"the stored history uses {stored[0]}-day periods"
                )
        insert_throughput(con, pid, rows, pdays)
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


def import_work_items(
    project: str, items: Iterable[Any], *, period_days: int = 7, create_project: bool = True
) -> Work[ItemsImported]:
    """Store work items and replace the project's throughput with the one derived from
    all its stored items (zero periods filled), in one transaction.

    `items` are objects with item_id, done_on, started_on (importers.WorkItem).
    Open items (no done date) are kept as work in progress, never counted.
    """
    rows = list(items)
    merged = work_item_rows(rows)
    pdays = optional_whole_number("period_days", period_days, 1)
    name = text("project", project, required=True)

    def work(con: Connection) -> ItemsImported:
        con.execute("SELECT project_id FROM projects WHERE name = ?", [name])
        found = con.fetchone()
        created = found is None
        if created:
            if not create_project:
                project_id(con, name)  # raises with the known names
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
        con.execute("DELETE FROM throughput WHERE project_id = ?", [pid])
        insert_throughput(con, pid, weekly, pdays)
        done = sum(1 for started_done in merged.values() if started_done[1] is not None)
        return ItemsImported(name, created, len(merged), done, len(merged) - done, len(weekly))

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
        con.execute(
            "INSERT OR REPLACE INTO work_items (project_id, item_id, started_on, done_on) "
            "SELECT $pid, unnest($ids::VARCHAR[]), unnest($starts::DATE[]), "
            "unnest($dones::DATE[])",
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
