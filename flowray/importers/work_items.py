"""Work-item CSV exports (Jira, Azure DevOps, generic sheets) read into items with done dates.

Nothing is dropped silently: a row that cannot be imported is listed in the report
with its record number, physical line and reason, and every guess the reader made
(the date order of 06/01/2025, a fallback column) is written in the report's notes.
Open items (no done date) are kept as work in progress, never counted as throughput,
and a done date after today is refused by name: it is a typo or a planned date.
Only delivered work is throughput: a removed row (Won't Do, Duplicate, Removed, ...) and
a container row (an Epic, Feature or Initiative holds items, it is not one) are not items;
the report counts them by reason in `not_counted`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowray.core.item_states import (  # noqa: F401  (re-exported: importers use these names)
    CONTAINER_TYPES,
    DONE_STATUSES,
    REMOVED_STATUSES,
    is_removed,
    status_word,
)
from flowray.core.throughput import derive_throughput
from flowray.core.validation import parse_date as checked_date
from flowray.exceptions import InputError
from flowray.importers.dates import (
    _ENGLISH_MONTHS,
    _ISO_RE,
    _MONTHS,
    _NUMERIC_RE,
    _TEXT_MONTH_RE,
    DateParseError,
    _ambiguous_dates,
    _date_shape,
    _decide_date_order,
    parse_date,
)


@dataclass(frozen=True)
class WorkItem:
    """One tracker item: done when `done_on` is set, otherwise work in progress."""

    item_id: str
    done_on: dt.date | None
    started_on: dt.date | None = None

    @property
    def is_done(self) -> bool:
        return self.done_on is not None


@dataclass(frozen=True)
class RejectedRow:
    """A data record that was not imported (or, in `warnings`, imported with a caveat).

    `row` is the 1-based data record (header not counted), `line` the physical
    line where it starts (quoted multi-line cells make them differ), `code` a
    stable category: missing_key, not_a_date, unknown_month, invalid_date,
    done_after_today, duplicate_key, short_row, empty_row (rejections);
    bad_start_date, start_after_done (warnings); removed, container (rows read
    but not counted as items, in `not_counted`: `value` is the status,
    resolution or type that says so).
    """

    row: int
    line: int
    reason: str
    code: str = ""
    column: str | None = None
    value: str | None = None
    item_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportReport:
    """What `read_work_items` imported, rejected and assumed; `to_dict()` is what `--json` prints."""

    items: list[WorkItem]
    rejected: list[RejectedRow]
    format: str
    columns: dict[str, str | None]
    date_format: str
    notes: list[str]
    path: str | None = None
    data_rows: int = 0
    dayfirst: bool | None = None
    warnings: list[RejectedRow] = field(default_factory=list)
    ambiguous_dates: list[tuple[str, dt.date]] = field(default_factory=list)
    item_rows: list[int] = field(default_factory=list)
    """The data record (1-based) each item was read from, so a caller can read more of its row."""
    not_counted: list[RejectedRow] = field(default_factory=list)
    """Rows that are not work items (removed work, containers), so they never become throughput."""

    @property
    def done_items(self) -> list[WorkItem]:
        return [item for item in self.items if item.done_on is not None]

    @property
    def open_items(self) -> list[WorkItem]:
        return [item for item in self.items if item.done_on is None]

    @property
    def first_done(self) -> dt.date | None:
        return min((i.done_on for i in self.done_items), default=None)  # type: ignore[type-var]

    @property
    def last_done(self) -> dt.date | None:
        return max((i.done_on for i in self.done_items), default=None)  # type: ignore[type-var]

    def not_counted_by_reason(self) -> dict[str, dict[str, int]]:
        """Per reason (removed, container), how many rows said each value ("Won't Do": 3)."""
        counts: dict[str, dict[str, int]] = {code: {} for code in NOT_COUNTED_CODES}
        for row in self.not_counted:
            by_value = counts[row.code]
            by_value[row.value or ""] = by_value.get(row.value or "", 0) + 1
        return counts

    def not_counted_summary(self) -> str | None:
        """One line saying which rows were left out of throughput and why (None when none were)."""
        counts = self.not_counted_by_reason()
        parts: list[str] = []
        removed = counts["removed"]
        if removed:
            total = sum(removed.values())
            words = ", ".join(sorted(removed, key=lambda v: (-removed[v], v)))
            parts.append(f"{total} removed item{'s' if total != 1 else ''} ({words})")
        containers: dict[str, int] = {}  # "Epic" and "EPIC" are one kind of row
        for kind, n in counts["container"].items():
            containers[kind.lower()] = containers.get(kind.lower(), 0) + n
        for kind in sorted(containers, key=lambda v: (-containers[v], v)):
            n = containers[kind]
            parts.append(f"{n} {kind} row{'s' if n != 1 else ''}")
        if not parts:
            return None
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        verb = "was" if len(self.not_counted) == 1 else "were"
        return f"{listed} {verb} not counted as throughput or work in progress"

    def throughput(self, period_days: int = 7) -> list[tuple[dt.date, int]]:
        """Done items per period, zero periods filled (see `derive_throughput`)."""
        return derive_throughput(self.items, period_days=period_days)

    def to_dict(self) -> dict[str, Any]:
        first, last = self.first_done, self.last_done
        return {
            "path": self.path,
            "format": self.format,
            "format_label": _FORMAT_LABELS.get(self.format, self.format),
            "columns": dict(self.columns),
            "data_rows": self.data_rows,
            "items_imported": len(self.items),
            "done": len(self.done_items),
            "open": len(self.open_items),
            "rows_rejected": len(self.rejected),
            "rejected": [r.to_dict() for r in self.rejected],
            "rows_not_counted": len(self.not_counted),
            "not_counted": {
                code: {"count": sum(values.values()), "values": values}
                for code, values in self.not_counted_by_reason().items()
            },
            "not_counted_rows": [r.to_dict() for r in self.not_counted],
            "not_counted_summary": self.not_counted_summary(),
            "warnings": [w.to_dict() for w in self.warnings],
            "date_format": self.date_format,
            "dayfirst": self.dayfirst,
            "ambiguous_dates": (
                {
                    "count": len(self.ambiguous_dates),
                    "read_as": "day-first" if self.dayfirst else "month-first",
                    "example": {
                        "text": self.ambiguous_dates[0][0],
                        "date": self.ambiguous_dates[0][1].isoformat(),
                    },
                }
                if self.ambiguous_dates
                else None
            ),
            "first_done": first.isoformat() if first else None,
            "last_done": last.isoformat() if last else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Format:
    name: str
    signature: tuple[str, ...]  # columns that must all be present (normalised match)
    id_columns: tuple[str, ...]
    done_columns: tuple[str, ...]
    start_columns: tuple[str, ...]
    default_dayfirst: bool
    status_columns: tuple[str, ...] = ("status", "state")
    resolution_columns: tuple[str, ...] = ("resolution",)
    type_columns: tuple[str, ...] = ("type", "item type", "issue type", "work item type")


_GENERIC_IDS = ("id", "key", "item_id", "item id", "issue", "issue id", "ticket")
_GENERIC_DONE = (
    "done", "done_date", "done_on", "done date", "completed", "completed_on", "completed date",
    "closed", "closed date", "resolved", "resolved date", "finished", "end", "end date",
)  # fmt: skip
_GENERIC_START = (
    "started", "started_on", "start", "start_date", "start date", "in progress", "activated",
)  # fmt: skip

# Order matters: the first format whose signature and id/done columns match wins.
_FORMATS = (
    _Format(
        "jira_all_fields",
        ("Issue key", "Project key", "Status Category"),
        ("Issue key",),
        ("Resolved", "Resolution date"),
        (),
        True,
        ("Status Category", "Status"),
        type_columns=("Issue Type",),
    ),
    _Format(
        "jira_current_fields",
        ("Issue key",),
        ("Issue key",),
        ("Resolved", "Resolution date"),
        (),
        True,
        type_columns=("Issue Type",),
    ),
    _Format(
        "azure_devops",
        ("ID", "Work Item Type"),
        ("ID",),
        ("Closed Date",),
        ("Activated Date",),
        False,  # en-US profiles write M/d/yyyy; the dates themselves are checked first
        ("State",),
        ("Resolved Reason",),
        ("Work Item Type",),
    ),
    _Format(
        "items",
        ("item_id", "done_date"),
        ("item_id",),
        ("done_date",),
        ("started_on", "start_date"),
        True,
    ),
    _Format("generic", (), _GENERIC_IDS, _GENERIC_DONE, _GENERIC_START, True),
)

_FORMAT_LABELS = {
    "jira_all_fields": "Jira Cloud CSV export (all fields)",
    "jira_current_fields": "Jira CSV export (current fields)",
    "azure_devops": "Azure DevOps query export",
    "items": "plain item_id,done_date file",
    "generic": "generic CSV (id, ..., done)",
    "custom": "CSV with user-named columns",
}


ITEM_STATES = ("done", "removed", "open")

NOT_COUNTED_CODES = ("removed", "container")
"""Why a row read is not a work item (`RejectedRow.code` in `ImportReport.not_counted`)."""


def item_state(status: str | None, resolution: str | None, has_done_date: bool) -> str:
    """done, removed or open: a removed status or resolution wins (Jira resolves "Won't Do" with a
    date); then a done date or a done status; anything else is open work."""
    if is_removed(status, resolution):
        return "removed"
    if has_done_date or status_word(status) in DONE_STATUSES:
        return "done"
    return "open"


def status_columns(format_name: str | None, header: Sequence[str]) -> tuple[int | None, int | None]:
    """Indices of the status and resolution columns of a known export (None when absent)."""
    fmt = next((f for f in _FORMATS if f.name == format_name), _FORMATS[-1])
    return _find_column(header, fmt.status_columns), _find_column(header, fmt.resolution_columns)


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def _find_column(header: Sequence[str], candidates: Iterable[str]) -> int | None:
    """Index of the first header cell matching a candidate (exact first, then loosely).

    Jira repeats names (Labels, Sprint, ...): `list.index` returns the first.
    """
    candidates = tuple(candidates)
    for name in candidates:
        if name in header:
            return list(header).index(name)
    loose = [_normalise(h) for h in header]
    for name in candidates:
        if _normalise(name) in loose:
            return loose.index(_normalise(name))
    return None


def header_summary(header: Sequence[str]) -> str:
    """How an error describes a file's first line: its number of columns, never its text.

    The first line of whatever file a user points at may hold anything (a token,
    a password, binary), and error messages reach terminals, logs and cron mail.
    """
    return f"the file's first line has {len(header)} column{'s' if len(header) != 1 else ''}"


def _decode(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise InputError("path", str(path), "is a binary file, not a CSV export")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"


def _sniff_delimiter(text: str) -> str:
    """Comma unless the header line clearly uses ';' or tabs (Excel in many locales)."""
    first_line = text.split("\n", 1)[0]
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _records(text: str, delimiter: str, source: str) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the record starts, cells) for every CSV record, blank lines skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    consumed = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(
                "path", source, f"is not valid CSV near line {consumed + 1}: {exc}"
            ) from None
        start, consumed = consumed + 1, reader.line_num
        if cells:
            yield start, cells


def _existing_file(path: str | Path, field_name: str = "path") -> Path:
    if not isinstance(path, (str, Path)) or str(path) == "":
        raise InputError(field_name, path, "must be a file path")
    resolved = Path(path)
    if not resolved.is_file():
        raise InputError(field_name, str(path), "must be an existing file")
    return resolved


def _resolve_column(
    header: Sequence[str], override: str | None, defaults: Sequence[str], field_name: str
) -> int | None:
    if override is not None:
        if not isinstance(override, str) or not override.strip():
            raise InputError(field_name, override, "must be a non-empty column name")
        index = _find_column(header, (override,))
        if index is None:
            raise InputError(
                field_name, override, f"is not a column of this file ({header_summary(header)})"
            )
        return index
    return _find_column(header, defaults) if defaults else None


def _detect_format(header: Sequence[str], *, need_done: bool = True) -> _Format | None:
    """The first known export whose signature and id column (and done column, if needed) match."""
    loose = {_normalise(h) for h in header}
    for fmt in _FORMATS:
        if (
            all(_normalise(s) in loose for s in fmt.signature)
            and _find_column(header, fmt.id_columns) is not None
        ):
            if fmt.signature or not need_done or _find_column(header, fmt.done_columns) is not None:
                return fmt
    return None


def _add(
    into: list[RejectedRow], at: tuple[int, int], code: str, reason: str, **where: Any
) -> None:
    into.append(RejectedRow(at[0], at[1], reason, code, **where))


def local_today() -> dt.date:
    """The local date that done dates are checked against (tests replace this clock)."""
    return dt.date.today()


@dataclass(frozen=True)
class CsvTable:
    """An export as read from disk: the header (cells stripped) and its data records.

    `data` holds (physical line where the record starts, cells); blank lines are
    skipped. Every reader of tracker exports starts here, so they decode,
    sniff the delimiter and number rows the same way.
    """

    path: str
    header: list[str]
    data: list[tuple[int, list[str]]]
    encoding: str
    delimiter: str


def read_table(path: str | Path) -> CsvTable:
    """Decode a CSV export (UTF-8, else cp1252) and split it into a header and records."""
    source = _existing_file(path)
    text, encoding = _decode(source)
    delimiter = _sniff_delimiter(text)
    records = list(_records(text, delimiter, str(path)))
    if not records:
        raise InputError("path", str(path), "is empty: no header row")
    _, raw_header = records[0]
    return CsvTable(str(path), [h.strip() for h in raw_header], records[1:], encoding, delimiter)


def detect_format(table: CsvTable, *, need_done: bool = True) -> str | None:
    """The name of the known export the header matches (jira_all_fields, azure_devops, ...)."""
    fmt = _detect_format(table.header, need_done=need_done)
    return fmt.name if fmt else None


def read_work_items(
    path: str | Path,
    *,
    id_column: str | None = None,
    done_column: str | None = None,
    start_column: str | None = None,
    dayfirst: bool | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Read a tracker export or item list into work items, with a report of what was rejected.

    The format is recognised from the header (Jira all/current fields, Azure
    DevOps, `item_id,done_date`, generic `id,...,done`); `id_column`,
    `done_column` and `start_column` name other columns. `dayfirst=None`
    settles the order of numeric dates from the dates themselves (and says so
    in the notes). Rows with an empty id or an unreadable done date are
    rejected and listed; items with no done date are kept as work in progress.
    A done date after `today` (default: `local_today()`) rejects its row: it would
    otherwise become throughput that never happened. Only delivered work counts: a
    row whose status or resolution says removed (`item_state`) or whose type is a
    container (`CONTAINER_TYPES`) is not an item, and `not_counted` lists it.
    """
    if dayfirst is not None and not isinstance(dayfirst, bool):
        raise InputError("dayfirst", dayfirst, "must be True, False or None (detect)")
    latest = checked_date("today", today) or local_today()
    return work_items_from_table(
        read_table(path),
        id_column=id_column,
        done_column=done_column,
        start_column=start_column,
        dayfirst=dayfirst,
        today=latest,
        delivered_only=True,
    )


def work_items_from_table(
    table: CsvTable,
    *,
    id_column: str | None = None,
    done_column: str | None = None,
    start_column: str | None = None,
    dayfirst: bool | None = None,
    today: dt.date,
    need_done: bool = True,
    delivered_only: bool = False,
) -> ImportReport:
    """`read_work_items` on a table already read; `need_done=False` accepts an export without a
    done-date column (every item then open by date: a caller that reads statuses decides).

    `delivered_only=True` (what `read_work_items` passes) leaves removed and container rows
    out of the items and lists them in `not_counted`; the default keeps every row with a key,
    for a caller that classifies the rows itself (the features reader needs epic rows and
    removed items to size its features).
    """
    path, header, data, encoding, delimiter = (
        table.path,
        table.header,
        table.data,
        table.encoding,
        table.delimiter,
    )
    latest = today

    fmt = _detect_format(header, need_done=need_done)
    if fmt is None and (id_column is None or (need_done and done_column is None)):
        missing = "id_column" if id_column is None else "done_column"
        raise InputError(
            missing,
            None,
            "the header matches no known export (Jira, Azure DevOps, item_id/done_date, id/done); "
            f"name the column ({header_summary(header)})",
        )
    defaults = fmt or _Format("custom", (), (), (), (), True)
    id_index = _resolve_column(header, id_column, defaults.id_columns, "id_column")
    done_index = _resolve_column(header, done_column, defaults.done_columns, "done_column")
    start_index = _resolve_column(header, start_column, defaults.start_columns, "start_column")
    if id_index is None:
        raise InputError(
            "id_column",
            None,
            f"no item id column found (looked for {list(defaults.id_columns)}); {header_summary(header)}",
        )
    if done_index is None and need_done:
        raise InputError(
            "done_column",
            None,
            f"no done-date column found (looked for {list(defaults.done_columns)}); {header_summary(header)}",
        )
    format_name = fmt.name if fmt else "custom"
    type_index = _find_column(header, defaults.type_columns)
    status_indices = [
        i for name in defaults.status_columns if (i := _find_column(header, (name,))) is not None
    ]
    resolution_index = _find_column(header, defaults.resolution_columns)
    # The resolution first: it names why work ended ("Won't Do") where the status says "Done".
    removal_indices = list(
        dict.fromkeys(([] if resolution_index is None else [resolution_index]) + status_indices)
    )
    columns = {
        "id": header[id_index],
        "done": header[done_index] if done_index is not None else None,
        "start": header[start_index] if start_index is not None else None,
    }
    notes: list[str] = []
    named = {
        role: name
        for role, name in (("id", id_column), ("done", done_column), ("start", start_column))
        if name is not None
    }
    if named:
        notes.append(
            "Columns named by the caller: "
            + ", ".join(f"{r}={n!r}" for r, n in named.items())
            + "."
        )
    if encoding != "utf-8-sig":
        notes.append(f"The file is not UTF-8; decoded as {encoding}.")
    if delimiter != ",":
        notes.append(f"Cells are separated by {delimiter!r}, not commas.")
    for role, index in (("id", id_index), ("done", done_index), ("start", start_index)):
        if index is not None and header.count(header[index]) > 1:
            notes.append(
                f"Column {header[index]!r} appears {header.count(header[index])} times; "
                f"the first one (column {index + 1}) was used for the {role}."
            )

    date_indices = [i for i in (done_index, start_index) if i is not None]
    date_cells = [
        cells[i] for _, cells in data for i in date_indices if i < len(cells) and cells[i].strip()
    ]
    order = _decide_date_order(date_cells, defaults.default_dayfirst, dayfirst)
    if order.note:
        notes.append(order.note)

    items: list[WorkItem] = []
    rejected: list[RejectedRow] = []
    not_counted: list[RejectedRow] = []
    warnings: list[RejectedRow] = []
    item_rows: list[int] = []
    seen: dict[str, tuple[int, int]] = {}
    ambiguous: list[tuple[str, dt.date]] = []  # (cell as written, date it was read as)
    needed = max(i for i in (id_index, done_index, start_index) if i is not None)
    id_name = header[id_index]
    done_name = header[done_index] if done_index is not None else ""
    start_name = header[start_index] if start_index is not None else None
    for row_number, (line, cells) in enumerate(data, start=1):
        at = (row_number, line)
        if all(not c.strip() for c in cells):
            _add(rejected, at, "empty_row", "the row is empty")
            continue
        if len(cells) <= needed:
            _add(
                rejected,
                at,
                "short_row",
                f"the row has {len(cells)} cells but the header has {len(header)}; "
                f"column {header[needed]!r} is missing",
            )
            continue
        key = cells[id_index].strip()
        done_cell = cells[done_index].strip() if done_index is not None else ""
        if not key:
            _add(
                rejected,
                at,
                "missing_key",
                f"{id_name} is empty",
                column=id_name,
                value=cells[id_index],
            )
            continue
        done_on: dt.date | None = None
        if done_cell:
            try:
                done_on = parse_date(done_cell, dayfirst=order.dayfirst)
            except DateParseError as exc:
                reason = f"{done_name} {done_cell!r} {exc.rule}"
                _add(rejected, at, exc.code, reason, column=done_name, value=done_cell, item_id=key)
                continue
            if done_on > latest:
                reason = f"done date {done_on.isoformat()} is after today ({latest.isoformat()})"
                _add(
                    rejected,
                    at,
                    "done_after_today",
                    reason,
                    column=done_name,
                    value=done_cell,
                    item_id=key,
                )
                continue
        if key in seen:
            first_row, first_line = seen[key]
            reason = f"{id_name} {key!r} already read from row {first_row} (line {first_line})"
            _add(rejected, at, "duplicate_key", reason, column=id_name, value=key, item_id=key)
            continue
        if delivered_only:
            left_out = _not_an_item(cells, header, type_index, removal_indices)
            if left_out is not None:
                code, column, said, reason = left_out
                seen[key] = (row_number, line)
                _add(not_counted, at, code, reason, column=column, value=said, item_id=key)
                continue
        started_on: dt.date | None = None
        start_cell = cells[start_index].strip() if start_index is not None else ""
        if start_cell:
            try:
                started_on = parse_date(start_cell, dayfirst=order.dayfirst)
            except DateParseError as exc:
                reason = f"{start_name} {start_cell!r} {exc.rule}; item kept without a start date"
                _add(
                    warnings,
                    at,
                    "bad_start_date",
                    reason,
                    column=start_name,
                    value=start_cell,
                    item_id=key,
                )
            if started_on and done_on and started_on > done_on:
                reason = f"{start_name} {started_on} is after {done_name} {done_on}; both kept"
                _add(
                    warnings,
                    at,
                    "start_after_done",
                    reason,
                    column=start_name,
                    value=start_cell,
                    item_id=key,
                )
        seen[key] = (row_number, line)
        items.append(WorkItem(key, done_on, started_on))
        item_rows.append(row_number)
        for cell, value in ((done_cell, done_on), (start_cell, started_on)):
            if value is not None and _ambiguous_dates([cell]):
                ambiguous.append((cell, value))

    shapes = {shape for c in date_cells if (shape := _date_shape(c)) is not None}
    has_time = any(_has_time(c) for c in date_cells)
    date_format = _describe_date_format(shapes, order.dayfirst, has_time)
    foreign = _foreign_month_names(date_cells)
    if foreign:
        notes.append(
            "Month names outside English were read: "
            + ", ".join(f"{name!r} as {dt.date(2000, month, 1):%B}" for name, month in foreign)
            + "."
        )
    if has_time:
        notes.append(
            "Times of day were ignored: each date is the calendar date as written, no time-zone conversion."
        )
    return ImportReport(
        items=items,
        rejected=rejected,
        format=format_name,
        columns=columns,
        date_format=date_format,
        notes=notes,
        path=str(path),
        data_rows=len(data),
        dayfirst=order.dayfirst if "numeric" in shapes else None,
        warnings=warnings,
        ambiguous_dates=ambiguous,
        item_rows=item_rows,
        not_counted=not_counted,
    )


def _not_an_item(
    cells: Sequence[str], header: Sequence[str], type_index: int | None, removal_indices: list[int]
) -> tuple[str, str, str, str] | None:
    """(code, column, value, reason) when a row is not delivered work, else None.

    A container is not an item whatever its state; a removed item is neither done nor open
    (`item_state`: a removed status or resolution wins over a done date).
    """
    kind = _cell_text(cells, type_index)
    if type_index is not None and status_word(kind) in CONTAINER_TYPES:
        column = header[type_index]
        return "container", column, kind, f"{column} is {kind!r}: it holds items, it is not one"
    for index in removal_indices:
        value = _cell_text(cells, index)
        if item_state(value, None, has_done_date=False) == "removed":
            column = header[index]
            return "removed", column, value, f"{column} is {value!r}: removed work is not delivered"
    return None


def _cell_text(cells: Sequence[str], index: int | None) -> str:
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _foreign_month_names(cells: Iterable[str]) -> list[tuple[str, int]]:
    """Non-English month names met in the dates, so a reader can check how they were read."""
    found: dict[str, int] = {}
    for cell in cells:
        match = _TEXT_MONTH_RE.match(cell.strip())
        name = match.group("mon").lower() if match else ""
        if name in _MONTHS and name not in _ENGLISH_MONTHS:
            found.setdefault(name, _MONTHS[name])
    return sorted(found.items(), key=lambda pair: (pair[1], pair[0]))


def _has_time(cell: str) -> bool:
    for pattern in (_ISO_RE, _TEXT_MONTH_RE, _NUMERIC_RE):
        match = pattern.match(cell.strip())
        if match:
            return match.group("hour") is not None
    return False


def _describe_date_format(shapes: set[str], dayfirst: bool, has_time: bool) -> str:
    parts = []
    if "iso" in shapes:
        parts.append("YYYY-MM-DD")
    if "text_month" in shapes:
        parts.append("DD/Mon/YY (month names)")
    if "numeric" in shapes:
        parts.append("DD/MM/YYYY (day-first)" if dayfirst else "MM/DD/YYYY (month-first, en-US)")
    if not parts:
        return "no dates"
    return " and ".join(parts) + (", with times of day (ignored)" if has_time else "")
