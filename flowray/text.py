"""Plain-language words shared by the CLI, the notebooks, the widgets and the method reports.

Dates as "14 March 2026", periods as "weeks" or "sprints", probabilities never
shown as 100% (">99%"). Standard library only, so every layer may use it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value)) or str(value) in (
            "NaT",
            "nan",
            "<NA>",
        )
    except (TypeError, ValueError):
        return False


def as_date(value: Any) -> dt.date | None:
    """A date from a date, datetime, pandas Timestamp or ISO string; None when missing."""
    if is_missing(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if hasattr(value, "date") and callable(value.date):  # pandas Timestamp
        return value.date()
    return dt.date.fromisoformat(str(value)[:10])


def long_date(value: Any) -> str:
    """'14 March 2026' (no leading zero), '-' when missing."""
    day = as_date(value)
    return "-" if day is None else f"{day.day} {day:%B %Y}"


def short_date(value: Any) -> str:
    """'14 Mar 2026', '-' when missing."""
    day = as_date(value)
    return "-" if day is None else f"{day.day} {day:%b %Y}"


def period_word(period_days: int, count: int | float | None = None) -> str:
    """'week'/'weeks' for 7-day periods, 'sprint'/'sprints' for 14, else 'period'."""
    word = {7: "week", 14: "sprint"}.get(int(period_days), "period")
    if count is not None and abs(float(count)) == 1:
        return word
    return word + "s"


def percent(value: Any, digits: int = 0) -> str:
    if is_missing(value):
        return "-"
    return f"{float(value) * 100:.{digits}f}%"


def probability(value: Any) -> str:
    return "-" if is_missing(value) else format_probability(float(value))


def format_probability(p: float) -> str:
    """Never claim certainty: 1.0 shows as '>99%' and 0.0 as '<1%'."""
    if p >= 0.995:
        return ">99%"
    if p <= 0.005:
        return "<1%"
    return f"{p:.0%}"


def printable(text: str, keep: str = "") -> str:
    """`text` with every control or unprintable character written as an escape (ESC as \\x1b).

    A name that carries ANSI escapes could recolour a terminal, hide a line or
    forge output; shown escaped, it reads as what it is. Characters in `keep`
    (say, newline and tab for whole messages) pass through.
    """
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in keep else repr(char)[1:-1] for char in text
    )
