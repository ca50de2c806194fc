"""Dates as trackers write them: ISO, Jira's '12/Jan/25 9:07 AM' in several languages, 06/01/2025.

The date order of an ambiguous file (day first or month first) is decided once per
column from the cells that settle it, and the decision is written in the report.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flowray.exceptions import InputError

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
