"""Read delivery history that other tools wrote: tracker CSV exports, throughput files, the old app's DB.

Four kinds of input end up here:

- work-item CSV files: Jira Cloud exports (all fields / current fields), Azure
  DevOps query exports, generic `id,...,done` sheets and the plain
  `item_id,done_date` files of the throughput data set (`read_work_items`);
- weekly throughput files `week_start,throughput` (`read_throughput_csv`), or
  any of the above for the CLI's `--throughput-file` (`read_throughput_file`);
- the SQLite database of the old "Flow Forecaster" web app
  (`read_flow_forecaster`).

Nothing is dropped silently: a row that cannot be imported is listed in the
report with its record number, physical line and reason, and every guess the
reader made (the date order of 06/01/2025, a fallback column) is written in
the report's notes. Open items (no done date) are kept as work in progress,
never counted as throughput.

Stdlib only (csv, sqlite3): `flowray.store` calls these functions and writes
the results; this module neither imports duckdb nor ray.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowray.core.validation import parse_date as as_date
from flowray.exceptions import InputError

__all__ = [
    "DateParseError",
    "FlowForecasterData",
    "ImportReport",
    "LegacyActual",
    "LegacyForecast",
    "LegacyProject",
    "LegacyRisk",
    "LegacyTeam",
    "LegacyUser",
    "RejectedRow",
    "ThroughputHistory",
    "WorkItem",
    "derive_throughput",
    "parse_date",
    "read_flow_forecaster",
    "read_throughput_csv",
    "read_throughput_file",
    "read_work_items",
]

# --------------------------------------------------------------------------- dates

# Month names as Jira writes them: English, plus the abbreviations of the locales the
# old app's users work in (pt, es, fr, de, it), since Jira exports in the user's language.
# No abbreviation means different months in two of these languages.
_MONTH_NAMES = (
    ("jan", "january", "janeiro", "ene", "enero", "janv", "janvier", "januar", "gen", "gennaio"),
    (
        "feb",
        "february",
        "fev",
        "fevereiro",
        "febrero",
        "févr",
        "fév",
        "février",
        "februar",
        "febbraio",
    ),
    ("mar", "march", "março", "marzo", "mars", "mär", "märz", "mrz"),
    ("apr", "april", "abr", "abril", "avr", "avril", "aprile"),
    ("may", "mai", "maio", "mayo", "mag", "maggio"),
    ("jun", "june", "junho", "junio", "juin", "juni", "giu", "giugno"),
    ("jul", "july", "julho", "julio", "juil", "juillet", "juli", "lug", "luglio"),
    ("aug", "august", "ago", "agosto", "août", "aoû"),
    ("sep", "sept", "september", "set", "setembro", "septiembre", "septembre", "settembre"),
    ("oct", "october", "out", "outubro", "octubre", "octobre", "okt", "oktober", "ott", "ottobre"),
    ("nov", "november", "novembro", "noviembre", "novembre"),
    (
        "dec",
        "december",
        "dez",
        "dezembro",
        "dic",
        "diciembre",
        "déc",
        "décembre",
        "dezember",
        "dicembre",
    ),
)
_MONTHS = {name: number for number, names in enumerate(_MONTH_NAMES, start=1) for name in names}
_ENGLISH_MONTHS = (
    {names[0] for names in _MONTH_NAMES} | {names[1] for names in _MONTH_NAMES} | {"sept"}
)

# An optional time of day after the date: "9:07 AM", "9:52:15 PM", "T14:03:00.123+02:00".
# It is validated but otherwise ignored: the calendar date is kept as written.
_TIME = (
    r"(?:(?:[ T]+|T)(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d+)?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?\s*(?P<tz>Z|[+-]\d{2}:?\d{2}|UTC|GMT)?)?"
)
_ISO_RE = re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})" + _TIME + r"$")
_TEXT_MONTH_RE = re.compile(
    r"^(?P<d>\d{1,2})[-/ ](?P<mon>[^\W\d_]+)\.?[-/ ](?P<y>\d{4}|\d{2})" + _TIME + r"$"
)
_NUMERIC_RE = re.compile(
    r"^(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})" + _TIME + r"$"
)

# Codes of DateParseError, also used as RejectedRow.code.
NOT_A_DATE = "not_a_date"
UNKNOWN_MONTH = "unknown_month"
INVALID_DATE = "invalid_date"


class DateParseError(InputError):
    """A cell that is not a date; `code` is not_a_date, unknown_month or invalid_date."""

    def __init__(self, value: str, rule: str, code: str, field_name: str = "date") -> None:
        super().__init__(field_name, value, rule)
        self.code = code


def _full_year(text: str) -> int:
    year = int(text)
    if len(text) == 2:  # same pivot as strptime's %y: 69-99 -> 19xx, 00-68 -> 20xx
        year += 1900 if year >= 69 else 2000
    return year


def _check_time(match: re.Match[str], text: str) -> None:
    if match.group("hour") is None:
        return
    hour, minute = int(match.group("hour")), int(match.group("minute"))
    second = int(match.group("second") or 0)
    max_hour = 12 if match.group("ampm") else 23
    if hour > max_hour or minute > 59 or second > 59:
        raise DateParseError(text, "has an impossible time of day", INVALID_DATE)


def _make_date(year: int, month: int, day: int, text: str) -> dt.date:
    if not 1 <= month <= 12:
        raise DateParseError(text, f"has no month {month}", INVALID_DATE)
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise DateParseError(
            text, f"has no such day: {dt.date(year, month, 1):%B %Y} has no day {day}", INVALID_DATE
        ) from None


def _numeric_parts(text: str) -> tuple[int, int] | None:
    """The first two numbers of a D/M/Y or M/D/Y date, or None for any other shape."""
    match = _NUMERIC_RE.match(text.strip())
    return (int(match.group("a")), int(match.group("b"))) if match else None


def _date_shape(text: str) -> str | None:
    text = text.strip()
    if _ISO_RE.match(text):
        return "iso"
    if _TEXT_MONTH_RE.match(text):
        return "text_month"
    if _NUMERIC_RE.match(text):
        return "numeric"
    return None


def parse_date(text: str, *, dayfirst: bool = True) -> dt.date:
    """Parse one date cell as written; the time of day (if any) is checked and dropped.

    Accepts ISO `2025-01-06` (with or without a time), Jira `05/Mar/26 9:07 AM`
    (English month names), and numeric `06/01/2025`, read day-first unless
    `dayfirst=False` (then `12/4/2025 9:52:15 AM` is 4 December, as Azure DevOps
    writes for an en-US profile). No time-zone conversion: a date written
    `2025-01-06T23:30:00-05:00` stays 2025-01-06. Raises DateParseError.
    """
    if not isinstance(text, str):
        raise DateParseError(repr(text), "must be text", NOT_A_DATE)
    cell = text.strip()
    if not cell:
        raise DateParseError(text, "is empty", NOT_A_DATE)
    match = _ISO_RE.match(cell)
    if match:
        _check_time(match, text)
        return _make_date(int(match.group("y")), int(match.group("m")), int(match.group("d")), text)
    match = _TEXT_MONTH_RE.match(cell)
    if match:
        month = _MONTHS.get(match.group("mon").lower())
        if month is None:
            raise DateParseError(
                text, f"has an unknown month name {match.group('mon')!r}", UNKNOWN_MONTH
            )
        _check_time(match, text)
        return _make_date(_full_year(match.group("y")), month, int(match.group("d")), text)
    match = _NUMERIC_RE.match(cell)
    if match:
        first, second = int(match.group("a")), int(match.group("b"))
        day, month = (first, second) if dayfirst else (second, first)
        _check_time(match, text)
        return _make_date(_full_year(match.group("y")), month, day, text)
    raise DateParseError(
        text,
        "is not a date (expected YYYY-MM-DD, DD/MM/YYYY, M/D/YYYY or DD/Mon/YY, optionally with a time)",
        NOT_A_DATE,
    )


def _ambiguous_dates(cells: Iterable[str]) -> list[str]:
    """Numeric dates that read differently day-first and month-first (06/01/2025, not 05/05/2025)."""
    return [
        c.strip()
        for c in cells
        if (p := _numeric_parts(c)) and p[0] <= 12 and p[1] <= 12 and p[0] != p[1]
    ]


@dataclass(frozen=True)
class _DateOrder:
    """Which way numeric dates are read, and why (goes into the report)."""

    dayfirst: bool
    note: str | None


def _decide_date_order(
    cells: Sequence[str], default_dayfirst: bool, forced: bool | None
) -> _DateOrder:
    """Settle D/M vs M/D from the dates themselves: 21/08/2024 can only be day-first."""
    only_dayfirst = [c for c in cells if (p := _numeric_parts(c)) and p[0] > 12 and p[1] <= 12]
    only_monthfirst = [c for c in cells if (p := _numeric_parts(c)) and p[1] > 12 and p[0] <= 12]
    ambiguous = _ambiguous_dates(cells)
    numeric = [c for c in cells if _numeric_parts(c)]
    if not numeric:
        return _DateOrder(default_dayfirst if forced is None else forced, None)

    def reading(dayfirst: bool) -> str:
        return "day-first (DD/MM/YYYY)" if dayfirst else "month-first (MM/DD/YYYY)"

    def example(dayfirst: bool) -> str:
        if not ambiguous:
            return "no date in the file was ambiguous"
        cell = ambiguous[0].strip()
        try:
            read = parse_date(cell, dayfirst=dayfirst).isoformat()
        except DateParseError:
            read = "invalid"
        return f"{len(ambiguous)} of {len(numeric)} numeric dates were ambiguous, e.g. {cell} read as {read}"

    evidence = (
        f"{len(only_dayfirst)} can only be day-first"
        + (f" (e.g. {only_dayfirst[0].strip()})" if only_dayfirst else "")
        + f", {len(only_monthfirst)} only month-first"
        + (f" (e.g. {only_monthfirst[0].strip()})" if only_monthfirst else "")
    )
    if forced is not None:
        against = only_monthfirst if forced else only_dayfirst
        note = f"Numeric dates read {reading(forced)} as requested (dayfirst={forced}); {example(forced)}."
        if against:
            note += (
                f" Warning: {evidence}; dates that are invalid in the requested order are rejected."
            )
        return _DateOrder(forced, note)
    if only_dayfirst and not only_monthfirst:
        return _DateOrder(True, f"Numeric dates read {reading(True)}: {evidence}; {example(True)}.")
    if only_monthfirst and not only_dayfirst:
        return _DateOrder(
            False, f"Numeric dates read {reading(False)}: {evidence}; {example(False)}."
        )
    if only_dayfirst and only_monthfirst:
        dayfirst = (
            len(only_dayfirst) > len(only_monthfirst)
            if len(only_dayfirst) != len(only_monthfirst)
            else default_dayfirst
        )
        return _DateOrder(
            dayfirst,
            f"Numeric dates disagree ({evidence}); read {reading(dayfirst)}, the order most of "
            f"them prove; dates impossible in that order are rejected; {example(dayfirst)}. "
            "Pass dayfirst= to choose.",
        )
    return _DateOrder(
        default_dayfirst,
        f"No date in the file settles the order; read {reading(default_dayfirst)}, the default "
        f"for this format; {example(default_dayfirst)}. Pass dayfirst= to choose.",
    )


# --------------------------------------------------------------------------- work items


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
    duplicate_key, short_row, empty_row (rejections); bad_start_date,
    start_after_done (warnings).
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
    ),
    _Format(
        "jira_current_fields",
        ("Issue key",),
        ("Issue key",),
        ("Resolved", "Resolution date"),
        (),
        True,
    ),
    _Format(
        "azure_devops",
        ("ID", "Work Item Type"),
        ("ID",),
        ("Closed Date",),
        ("Activated Date",),
        False,  # en-US profiles write M/d/yyyy; the dates themselves are checked first
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


def _decode(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
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
                field_name, override, f"is not a column of this file; header: {list(header)}"
            )
        return index
    return _find_column(header, defaults) if defaults else None


def _detect_format(header: Sequence[str]) -> _Format | None:
    loose = {_normalise(h) for h in header}
    for fmt in _FORMATS:
        if (
            all(_normalise(s) in loose for s in fmt.signature)
            and _find_column(header, fmt.id_columns) is not None
        ):
            if fmt.signature or _find_column(header, fmt.done_columns) is not None:
                return fmt
    return None


def _add(
    into: list[RejectedRow], at: tuple[int, int], code: str, reason: str, **where: Any
) -> None:
    into.append(RejectedRow(at[0], at[1], reason, code, **where))


def read_work_items(
    path: str | Path,
    *,
    id_column: str | None = None,
    done_column: str | None = None,
    start_column: str | None = None,
    dayfirst: bool | None = None,
) -> ImportReport:
    """Read a tracker export or item list into work items, with a report of what was rejected.

    The format is recognised from the header (Jira all/current fields, Azure
    DevOps, `item_id,done_date`, generic `id,...,done`); `id_column`,
    `done_column` and `start_column` name other columns. `dayfirst=None`
    settles the order of numeric dates from the dates themselves (and says so
    in the notes). Rows with an empty id or an unreadable done date are
    rejected and listed; items with no done date are kept as work in progress.
    """
    if dayfirst is not None and not isinstance(dayfirst, bool):
        raise InputError("dayfirst", dayfirst, "must be True, False or None (detect)")
    source = _existing_file(path)
    text, encoding = _decode(source)
    delimiter = _sniff_delimiter(text)
    records = list(_records(text, delimiter, str(path)))
    if not records:
        raise InputError("path", str(path), "is empty: no header row")
    _, raw_header = records[0]
    header = [h.strip() for h in raw_header]
    data = records[1:]

    fmt = _detect_format(header)
    if fmt is None and (id_column is None or done_column is None):
        missing = "id_column" if id_column is None else "done_column"
        raise InputError(
            missing,
            None,
            "the header matches no known export (Jira, Azure DevOps, item_id/done_date, id/done); "
            f"name the column; header: {header}",
        )
    defaults = fmt or _Format("custom", (), (), (), (), True)
    id_index = _resolve_column(header, id_column, defaults.id_columns, "id_column")
    done_index = _resolve_column(header, done_column, defaults.done_columns, "done_column")
    start_index = _resolve_column(header, start_column, defaults.start_columns, "start_column")
    if id_index is None:
        raise InputError(
            "id_column",
            None,
            f"no item id column found (looked for {list(defaults.id_columns)}); header: {header}",
        )
    if done_index is None:
        raise InputError(
            "done_column",
            None,
            f"no done-date column found (looked for {list(defaults.done_columns)}); header: {header}",
        )
    format_name = fmt.name if fmt else "custom"
    columns = {
        "id": header[id_index],
        "done": header[done_index],
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
    warnings: list[RejectedRow] = []
    seen: dict[str, tuple[int, int]] = {}
    ambiguous: list[tuple[str, dt.date]] = []  # (cell as written, date it was read as)
    needed = max(i for i in (id_index, done_index, start_index) if i is not None)
    id_name, done_name = header[id_index], header[done_index]
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
        done_cell = cells[done_index].strip()
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
        if key in seen:
            first_row, first_line = seen[key]
            reason = f"{id_name} {key!r} already imported from row {first_row} (line {first_line})"
            _add(rejected, at, "duplicate_key", reason, column=id_name, value=key, item_id=key)
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
        for cell, value in ((done_cell, done_on), (start_cell, started_on)):
            if value is not None and _ambiguous_dates([cell]):
                ambiguous.append((cell, value))

    shapes = {_date_shape(c) for c in date_cells} - {None}
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
    )


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


# --------------------------------------------------------------------------- throughput


def derive_throughput(
    items: Iterable[WorkItem | dt.date],
    period_days: int = 7,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[tuple[dt.date, int]]:
    """Done items per period, oldest first, every period present (zero periods filled).

    Periods start on a Monday: ISO weeks for `period_days=7`; for other
    lengths, consecutive periods anchored on the Monday of the week of `start`
    (default: of the first done item). `start`/`end` pick the first and last
    period (those containing them); periods are always counted whole. Open
    items are work in progress and never count.
    """
    if isinstance(period_days, bool) or not isinstance(period_days, int) or period_days < 1:
        raise InputError("period_days", period_days, "must be a whole number of days >= 1")
    first_day, last_day = (
        as_date("start", start, empty_is_none=False), as_date("end", end, empty_is_none=False)
    )
    done: list[dt.date] = []
    for item in items:
        day = item.done_on if isinstance(item, WorkItem) else as_date("items", item, empty_is_none=False)
        if day is not None:
            done.append(day)
    done.sort()
    if first_day is None:
        if not done:
            return []
        first_day = done[0]
    if last_day is None:
        if not done:
            last_day = first_day
        else:
            last_day = max(done[-1], first_day)
    if last_day < first_day:
        raise InputError(
            "end", last_day.isoformat(), f"must be on or after start {first_day.isoformat()}"
        )
    anchor = first_day - dt.timedelta(days=first_day.weekday())
    periods = (last_day - anchor).days // period_days + 1
    counts = [0] * periods
    for day in done:
        index = (day - anchor).days // period_days
        if 0 <= index < periods:
            counts[index] += 1
    return [(anchor + dt.timedelta(days=i * period_days), n) for i, n in enumerate(counts)]


_PERIOD_COLUMNS = ("week_start", "period_start", "week", "date")
_VALUE_COLUMNS = ("throughput", "items", "count", "done", "value")


def _throughput_value(text: str, where: str) -> float:
    try:
        number = float(text.strip())
    except ValueError:
        raise InputError(where, text, "must be a number") from None
    if not math.isfinite(number) or number < 0:
        raise InputError(where, text, "must be a finite number >= 0")
    return number


def _read_period_rows(
    records: Sequence[tuple[int, list[str]]], date_index: int, value_index: int, source: str
) -> list[tuple[dt.date, float]]:
    rows: list[tuple[dt.date, float]] = []
    for line, cells in records:
        if all(not c.strip() for c in cells):
            continue
        if len(cells) <= max(date_index, value_index):
            raise InputError(f"{source} line {line}", cells, "has too few cells")
        try:
            day = dt.date.fromisoformat(cells[date_index].strip())
        except ValueError:
            raise InputError(
                f"{source} line {line}", cells[date_index], "must be a date written YYYY-MM-DD"
            ) from None
        value = _throughput_value(cells[value_index], f"{source} line {line}")
        if rows and day <= rows[-1][0]:
            raise InputError(
                f"{source} line {line}",
                cells[date_index],
                f"must come after {rows[-1][0].isoformat()} (dates ascending, no repeats)",
            )
        rows.append((day, value))
    if not rows:
        raise InputError("path", source, "has no throughput rows")
    return rows


def read_throughput_csv(path: str | Path) -> list[tuple[dt.date, float]]:
    """Read a `week_start,throughput` file (ISO dates ascending) into (period start, items) pairs.

    A period missing from the file is not invented: gaps are kept as they are.
    Any unreadable row raises InputError naming its line (a throughput history
    with a hole silently filled would mislead every forecast).
    """
    source = _existing_file(path)
    text, _ = _decode(source)
    records = list(_records(text, _sniff_delimiter(text), str(path)))
    if not records:
        raise InputError("path", str(path), "is empty")
    header = [h.strip() for h in records[0][1]]
    date_index = _find_column(header, _PERIOD_COLUMNS)
    value_index = _find_column(header, _VALUE_COLUMNS)
    if date_index is None or value_index is None:
        raise InputError(
            "path", str(path), f"needs columns week_start and throughput; header: {header}"
        )
    return _read_period_rows(records[1:], date_index, value_index, str(path))


@dataclass
class ThroughputHistory:
    """A throughput history from any supported file; `period_starts` is None for bare values.

    Iterating yields `(period_start, value)` pairs, oldest first, with
    `period_start` None for a one-column file, so `[v for _, v in history]`
    works whatever the file was.
    """

    values: list[float]
    period_starts: list[dt.date] | None
    period_days: int
    source: str  # "throughput_csv", "values" or "work_items"
    import_report: ImportReport | None = None

    def pairs(self) -> list[tuple[dt.date, float]]:
        if self.period_starts is None:
            raise InputError("period_starts", None, "this history has no dates (one-column file)")
        return list(zip(self.period_starts, self.values, strict=True))

    def __iter__(self) -> Iterator[tuple[dt.date | None, float]]:
        starts: Iterable[dt.date | None] = self.period_starts or [None] * len(self.values)
        return iter(zip(starts, self.values, strict=True))

    def __len__(self) -> int:
        return len(self.values)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_throughput_file(path: str | Path) -> ThroughputHistory:
    """Read whatever a user hands to `--throughput-file`.

    Accepts a `week_start,throughput` file, a one-column file of values (with a
    `throughput` header or none), or a work-item file (any format
    `read_work_items` knows), which is aggregated into ISO weeks with zero
    weeks filled; its import report travels along.
    """
    source = _existing_file(path)
    text, _ = _decode(source)
    records = list(_records(text, _sniff_delimiter(text), str(path)))
    if not records:
        raise InputError("path", str(path), "is empty")
    header = [h.strip() for h in records[0][1]]
    date_index = _find_column(header, _PERIOD_COLUMNS)
    value_index = _find_column(header, _VALUE_COLUMNS)
    if date_index is not None and value_index is not None and _detect_format(header) is None:
        rows = _read_period_rows(records[1:], date_index, value_index, str(path))
        starts = [d for d, _ in rows]
        steps = {(b - a).days for a, b in zip(starts, starts[1:], strict=False)}
        period_days = steps.pop() if len(steps) == 1 else 7
        return ThroughputHistory([v for _, v in rows], starts, period_days, "throughput_csv")
    non_empty = [(line, cells) for line, cells in records if any(c.strip() for c in cells)]
    if all(len(cells) == 1 for _, cells in non_empty):
        first = non_empty[0][1][0].strip()
        body = non_empty if _is_number(first) else non_empty[1:]
        if not _is_number(first) and _find_column([first], _VALUE_COLUMNS) is None:
            raise InputError(
                "path", str(path), f"one-column file must be headed 'throughput' (got {first!r})"
            )
        values = [_throughput_value(cells[0], f"{path} line {line}") for line, cells in body]
        if not values:
            raise InputError("path", str(path), "has no throughput values")
        return ThroughputHistory(values, None, 7, "values")
    report = read_work_items(source)
    weekly = derive_throughput(report.items)
    if not weekly:
        raise InputError("path", str(path), "has no done items to derive throughput from")
    return ThroughputHistory(
        [float(n) for _, n in weekly], [d for d, _ in weekly], 7, "work_items", report
    )


# --------------------------------------------------------------------------- Flow Forecaster DB


@dataclass
class LegacyUser:
    """A user of the old Flow Forecaster app (timestamps naive, UTC)."""

    id: int
    email: str
    name: str
    role: str | None
    created_at: dt.datetime | None
    is_active: bool | None = None
    last_login: dt.datetime | None = None


@dataclass
class LegacyProject:
    """A project of the old app; `owner_email` comes from its user_id, `owner_name` from its text owner field."""

    id: int
    name: str
    description: str | None
    owner_email: str | None
    owner_name: str | None
    team_size: int | None
    status: str | None
    start_date: dt.date | None
    target_date: dt.date | None
    priority: int | None = None
    business_value: int | None = None
    risk_level: str | None = None
    capacity_allocated: float | None = None
    strategic_importance: str | None = None
    stakeholder: str | None = None
    tags: list[str] = field(default_factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class LegacyRisk:
    """A risk of an old forecast; `likelihood` converted from the app's percent to [0, 1]."""

    likelihood: float
    low: float
    mode: float
    high: float
    description: str | None = None


@dataclass
class LegacyTeam:
    """Team inputs normalised across the app's payloads (teamSize vs historical_team_size, ...)."""

    history_size: int | None
    min_contributors: int | None
    max_contributors: int | None
    s_curve: float
    focus: float


@dataclass
class LegacyForecast:
    """One stored forecast of the old app, with its JSON blobs decoded.

    `projected_weeks_p85` is the column, or `forecast_data.percentile_stats.p85`
    when the column is NULL (`p85_source` says which). The app's `resultsTable`
    (whose "85" row holds the 15th percentile) is never used.
    """

    id: int
    project_id: int
    type: str  # monte_carlo | deadline | ml_deadline (or whatever the DB holds)
    name: str
    created_at: dt.datetime | None
    created_by: str | None
    backlog: int | None
    start_date: dt.date | None
    deadline_date: dt.date | None
    weeks_to_deadline: float | None
    projected_weeks_p85: float | None
    p85_source: str | None
    can_meet_deadline: bool | None
    scope_completion_pct: float | None
    percentiles: dict[str, float]
    tp_samples: list[float]
    lt_samples: list[float]
    split_rate_samples: list[float]
    risks: list[LegacyRisk]
    team: LegacyTeam
    n_simulations: int | None
    saved_via: str  # "web" (POST /api/forecasts) or "celery_task"
    input_data: dict[str, Any]
    forecast_data: dict[str, Any]
    description: str | None = None
    user_id: int | None = None


@dataclass
class LegacyActual:
    """What actually happened to an old forecast; `kind` is full or partial (less than the backlog)."""

    id: int
    forecast_id: int
    project_id: int | None
    completion_date: dt.date | None
    weeks_taken: float | None
    items_completed: int | None
    notes: str | None
    recorded_at: dt.datetime | None
    recorded_by: str | None
    kind: str | None = None
    scope_delivered_pct: float | None = None
    weeks_error: float | None = None
    weeks_error_pct: float | None = None
    scope_error_pct: float | None = None


@dataclass
class FlowForecasterData:
    """Everything `read_flow_forecaster` found, plus notes on every fallback it used."""

    path: str
    users: list[LegacyUser]
    projects: list[LegacyProject]
    forecasts: list[LegacyForecast]
    actuals: list[LegacyActual]
    counts: dict[str, int]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


# Constant statements only: table names are never taken from the file into SQL.
_COUNT_SQL = {
    "users": "SELECT COUNT(*) FROM users",
    "projects": "SELECT COUNT(*) FROM projects",
    "forecasts": "SELECT COUNT(*) FROM forecasts",
    "actuals": "SELECT COUNT(*) FROM actuals",
    "portfolios": "SELECT COUNT(*) FROM portfolios",
    "portfolio_projects": "SELECT COUNT(*) FROM portfolio_projects",
    "portfolio_risks": "SELECT COUNT(*) FROM portfolio_risks",
    "simulation_runs": "SELECT COUNT(*) FROM simulation_runs",
    "cod_training_datasets": "SELECT COUNT(*) FROM cod_training_datasets",
    "cod_models": "SELECT COUNT(*) FROM cod_models",
}
_ROWS_SQL = {
    "users": "SELECT * FROM users ORDER BY id",
    "projects": "SELECT * FROM projects ORDER BY id",
    "forecasts": "SELECT * FROM forecasts ORDER BY id",
    "actuals": "SELECT * FROM actuals ORDER BY id",
}
_IMPORTED_TABLES = ("users", "projects", "forecasts", "actuals")


def _get(row: sqlite3.Row, name: str) -> Any:
    return row[name] if name in row.keys() else None  # sqlite3.Row: keys() lists names


def _legacy_datetime(value: Any, where: str, notes: list[str]) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    except ValueError:
        try:
            return dt.datetime.combine(parse_date(str(value)), dt.time())
        except DateParseError:
            notes.append(f"{where}: timestamp {value!r} unreadable; left empty.")
            return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _legacy_date(value: Any, where: str, notes: list[str]) -> dt.date | None:
    """The app writes DD/MM/YYYY; its date inputs may also leave YYYY-MM-DD."""
    if value in (None, ""):
        return None
    try:
        return parse_date(str(value), dayfirst=True)
    except DateParseError as exc:
        notes.append(f"{where}: date {value!r} {exc.rule}; left empty.")
        return None


def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(round(number)) if number is not None else None


def _json_object(text: Any, where: str, notes: list[str]) -> dict[str, Any]:
    if text in (None, ""):
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        notes.append(f"{where}: not valid JSON; read as empty.")
        return {}
    if not isinstance(value, dict):
        notes.append(f"{where}: JSON is a {type(value).__name__}, not an object; read as empty.")
        return {}
    return value


def _number_list(value: Any, where: str, notes: list[str]) -> list[float]:
    if value in (None, ""):
        return []
    if isinstance(value, str):  # some payloads carry "3, 5, 2"
        value = [v for v in re.split(r"[,;\s]+", value) if v]
    if not isinstance(value, list):
        notes.append(f"{where}: expected a list, got {type(value).__name__}; left empty.")
        return []
    numbers = [_number(v) for v in value]
    if any(n is None for n in numbers):
        notes.append(f"{where}: {sum(n is None for n in numbers)} non-numeric value(s) skipped.")
    return [n for n in numbers if n is not None]


def _risks(raw: Any, where: str, notes: list[str]) -> list[LegacyRisk]:
    risks: list[LegacyRisk] = []
    for index, risk in enumerate(raw or [], start=1):
        if not isinstance(risk, dict):
            notes.append(f"{where} risk {index}: not an object; skipped.")
            continue
        likelihood = _number(risk.get("likelihood"))
        low, mode, high = (
            _number(risk.get(k)) for k in ("lowImpact", "mediumImpact", "highImpact")
        )
        if likelihood is None or low is None or mode is None or high is None:
            notes.append(f"{where} risk {index}: likelihood or impacts missing; skipped.")
            continue
        if not 0 <= likelihood <= 100:
            notes.append(f"{where} risk {index}: likelihood {likelihood}% outside 0..100; skipped.")
            continue
        risks.append(LegacyRisk(likelihood / 100.0, low, mode, high, risk.get("description")))
    return risks


def _team(inputs: dict[str, Any], project_team: int | None) -> LegacyTeam:
    """monte_carlo payloads carry historical_team_size/min/max; deadline ones carry teamSize."""
    history = _whole(inputs.get("historical_team_size"))
    if history is None:
        history = _whole(inputs.get("teamSize"))
    if history is None:
        history = _whole(inputs.get("totalContributors"))
    if history is None:
        history = project_team
    low = _whole(inputs.get("minContributors"))
    high = _whole(inputs.get("maxContributors"))
    focus = _number(inputs.get("teamFocus"))
    if focus is None or not 0 < focus <= 1:
        percent = _number(inputs.get("teamFocusPercent"))
        focus = percent / 100.0 if percent is not None and 0 < percent <= 100 else 1.0
    return LegacyTeam(
        history_size=history,
        min_contributors=low if low is not None else history,
        max_contributors=high if high is not None else history,
        s_curve=_number(inputs.get("sCurveSize")) or 0.0,
        focus=focus,
    )


def _open_sqlite_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    try:
        connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise InputError("path", str(path), f"is not a readable SQLite database ({exc})") from None
    connection.row_factory = sqlite3.Row
    connection.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
    return connection


def read_flow_forecaster(path: str | Path) -> FlowForecasterData:
    """Read users, projects, forecasts and actuals from the old app's SQLite file (opened read-only).

    Real databases vary: dates DD/MM/YYYY or YYYY-MM-DD, NULL denormalised
    columns (forecasts saved by the Celery task), missing optional tables or
    columns. Each fallback used is written to `notes`; only a file that is not
    a Flow Forecaster database raises InputError.
    """
    source = _existing_file(path)
    notes = []
    connection = _open_sqlite_read_only(source)
    try:
        tables = {
            r["name"]
            for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not {"projects", "forecasts"} <= tables:
            raise InputError(
                "path", str(path), f"is not a Flow Forecaster database (tables: {sorted(tables)})"
            )
        counts = {
            name: connection.execute(sql).fetchone()[0]
            for name, sql in _COUNT_SQL.items()
            if name in tables
        }
        for name, count in counts.items():
            if name not in _IMPORTED_TABLES and count:
                notes.append(f"Table {name} has {count} row(s); flowray does not import it.")
        rows = {
            name: (connection.execute(_ROWS_SQL[name]).fetchall() if name in tables else [])
            for name in _IMPORTED_TABLES
        }
        for name in _IMPORTED_TABLES:
            if name not in tables:
                notes.append(f"Table {name} is missing; nothing imported from it.")
    except sqlite3.DatabaseError as exc:
        raise InputError("path", str(path), f"could not be read as SQLite ({exc})") from None
    finally:
        connection.close()

    users = [
        LegacyUser(
            id=r["id"],
            email=_get(r, "email"),
            name=_get(r, "name"),
            role=_get(r, "role"),
            created_at=_legacy_datetime(_get(r, "created_at"), f"user {r['id']} created_at", notes),
            is_active=None if _get(r, "is_active") is None else bool(_get(r, "is_active")),
            last_login=_legacy_datetime(_get(r, "last_login"), f"user {r['id']} last_login", notes),
        )
        for r in rows["users"]
    ]
    email_by_user = {u.id: u.email for u in users}
    projects: list[LegacyProject] = []
    for r in rows["projects"]:
        where = f"project {r['id']}"
        user_id = _get(r, "user_id")
        owner_email = email_by_user.get(user_id)
        if owner_email is None:
            notes.append(f"{where}: owner user {user_id!r} not found; owner e-mail left empty.")
        tags_raw = _get(r, "tags")
        tags: list[str] = []
        if tags_raw:
            try:
                parsed = json.loads(tags_raw)
                tags = [str(t) for t in parsed] if isinstance(parsed, list) else [str(parsed)]
            except ValueError:
                tags = [t.strip() for t in str(tags_raw).split(",") if t.strip()]
        projects.append(
            LegacyProject(
                id=r["id"],
                name=_get(r, "name"),
                description=_get(r, "description"),
                owner_email=owner_email,
                owner_name=_get(r, "owner"),
                team_size=_whole(_get(r, "team_size")),
                status=_get(r, "status"),
                start_date=_legacy_date(_get(r, "start_date"), f"{where} start_date", notes),
                target_date=_legacy_date(
                    _get(r, "target_end_date"), f"{where} target_end_date", notes
                ),
                priority=_whole(_get(r, "priority")),
                business_value=_whole(_get(r, "business_value")),
                risk_level=_get(r, "risk_level"),
                capacity_allocated=_number(_get(r, "capacity_allocated")),
                strategic_importance=_get(r, "strategic_importance"),
                stakeholder=_get(r, "stakeholder"),
                tags=tags,
                created_at=_legacy_datetime(_get(r, "created_at"), f"{where} created_at", notes),
                updated_at=_legacy_datetime(_get(r, "updated_at"), f"{where} updated_at", notes),
            )
        )
    team_by_project = {p.id: p.team_size for p in projects}

    forecasts = [_legacy_forecast(r, team_by_project, notes) for r in rows["forecasts"]]
    forecast_by_id = {f.id: f for f in forecasts}
    actuals: list[LegacyActual] = []
    for r in rows["actuals"]:
        where = f"actual {r['id']}"
        forecast = forecast_by_id.get(_get(r, "forecast_id"))
        if forecast is None:
            notes.append(f"{where}: forecast {_get(r, 'forecast_id')!r} not found.")
        items = _whole(_get(r, "actual_items_completed"))
        delivered = _number(_get(r, "actual_scope_delivered_pct"))
        kind: str | None = None
        if forecast is not None and forecast.backlog is not None and items is not None:
            kind = "partial" if items < forecast.backlog else "full"
        elif delivered is not None:
            kind = "partial" if delivered < 100 else "full"
        actuals.append(
            LegacyActual(
                id=r["id"],
                forecast_id=_get(r, "forecast_id"),
                project_id=forecast.project_id if forecast else None,
                completion_date=_legacy_date(
                    _get(r, "actual_completion_date"), f"{where} actual_completion_date", notes
                ),
                weeks_taken=_number(_get(r, "actual_weeks_taken")),
                items_completed=items,
                notes=_get(r, "notes"),
                recorded_at=_legacy_datetime(_get(r, "recorded_at"), f"{where} recorded_at", notes),
                recorded_by=_get(r, "recorded_by"),
                kind=kind,
                scope_delivered_pct=delivered,
                weeks_error=_number(_get(r, "weeks_error")),
                weeks_error_pct=_number(_get(r, "weeks_error_pct")),
                scope_error_pct=_number(_get(r, "scope_error_pct")),
            )
        )
    return FlowForecasterData(str(path), users, projects, forecasts, actuals, counts, list(notes))


def _legacy_forecast(
    r: sqlite3.Row, team_by_project: dict[int, int | None], notes: list[str]
) -> LegacyForecast:
    where = f"forecast {r['id']}"
    inputs = _json_object(_get(r, "input_data"), f"{where} input_data", notes)
    results = _json_object(_get(r, "forecast_data"), f"{where} forecast_data", notes)
    stats = results.get("percentile_stats")
    percentiles = (
        {str(k): n for k, v in stats.items() if (n := _number(v)) is not None}
        if isinstance(stats, dict)
        else {}
    )

    p85 = _number(_get(r, "projected_weeks_p85"))
    p85_source: str | None = "column" if p85 is not None else None
    if p85 is None and "p85" in percentiles:
        p85, p85_source = percentiles["p85"], "forecast_data.percentile_stats.p85"
    elif p85 is None and _number(results.get("projected_weeks_p85")) is not None:
        p85, p85_source = (
            _number(results.get("projected_weeks_p85")),
            "forecast_data.projected_weeks_p85",
        )
    if p85_source not in (None, "column"):
        notes.append(f"{where}: projected_weeks_p85 is NULL; P85 = {p85} taken from {p85_source}.")
    elif p85 is None:
        notes.append(f"{where}: no P85 anywhere (column NULL, no percentile_stats).")

    backlog = _whole(_get(r, "backlog"))
    if backlog is None:
        backlog = _whole(inputs.get("backlog", inputs.get("numberOfTasks")))
        if backlog is not None:
            notes.append(f"{where}: backlog column NULL; {backlog} taken from input_data.")
    start_raw = _get(r, "start_date") or inputs.get("startDate")
    deadline_raw = _get(r, "deadline_date") or inputs.get("deadlineDate")
    weeks_to_deadline = _number(_get(r, "weeks_to_deadline"))
    if weeks_to_deadline is None:
        weeks_to_deadline = _number(results.get("weeks_to_deadline"))
    can_meet = _get(r, "can_meet_deadline")
    created_by = _get(r, "created_by")
    saved_via = "celery_task" if "task_id" in results else "web"
    if created_by is None:
        notes.append(f"{where}: created_by is NULL (saved via {saved_via}).")
    project_id = _get(r, "project_id")
    return LegacyForecast(
        id=r["id"],
        project_id=project_id,
        type=_get(r, "forecast_type") or "monte_carlo",
        name=_get(r, "name"),
        created_at=_legacy_datetime(_get(r, "created_at"), f"{where} created_at", notes),
        created_by=created_by,
        backlog=backlog,
        start_date=_legacy_date(start_raw, f"{where} start_date", notes),
        deadline_date=_legacy_date(deadline_raw, f"{where} deadline_date", notes),
        weeks_to_deadline=weeks_to_deadline,
        projected_weeks_p85=p85,
        p85_source=p85_source,
        can_meet_deadline=None if can_meet is None else bool(can_meet),
        scope_completion_pct=_number(_get(r, "scope_completion_pct")),
        percentiles=percentiles,
        tp_samples=_number_list(inputs.get("tpSamples"), f"{where} tpSamples", notes),
        lt_samples=_number_list(inputs.get("ltSamples"), f"{where} ltSamples", notes),
        split_rate_samples=_number_list(
            inputs.get("splitRateSamples"), f"{where} splitRateSamples", notes
        ),
        risks=_risks(inputs.get("risks"), where, notes),
        team=_team(inputs, team_by_project.get(project_id)),
        n_simulations=_whole(inputs.get("numberOfSimulations", inputs.get("nSimulations"))),
        saved_via=saved_via,
        input_data=inputs,
        forecast_data=results,
        description=_get(r, "description"),
        user_id=_get(r, "user_id"),
    )
