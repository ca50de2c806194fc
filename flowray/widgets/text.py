"""Words and tables for stakeholders: dates as "14 March 2026", probabilities never "100%"."""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from typing import Any

from flowray.core.results import format_probability

__all__ = ["format_probability", "long_date", "short_date", "period_word", "html_table", "is_missing"]


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(isinstance(value, float) and math.isnan(value)) or str(value) in ("NaT", "nan", "<NA>")
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


def html_table(
    headers: Sequence[str] | None,
    rows: Sequence[Sequence[Any]],
    *,
    row_styles: Sequence[str] | None = None,
    caption: str = "",
) -> str:
    """A small styled HTML table (no header row when `headers` is None); every cell is escaped."""
    head = "".join(
        f"<th style='text-align:left;padding:4px 10px;border-bottom:2px solid #ccc'>{html.escape(str(h))}</th>"
        for h in headers or ()
    )
    body = []
    for i, row in enumerate(rows):
        style = row_styles[i] if row_styles else ""
        cells = "".join(
            f"<td style='padding:3px 10px;border-bottom:1px solid #eee;white-space:nowrap'>{html.escape(str(c))}</td>" for c in row
        )
        body.append(f"<tr style='{style}'>{cells}</tr>")
    cap = (
        f"<caption style='caption-side:top;text-align:left;color:#555;padding:2px 0'>{html.escape(caption)}</caption>"
        if caption
        else ""
    )
    return (
        "<table style='border-collapse:collapse;font-size:13px;margin:4px 0'>"
        f"{cap}{f'<thead><tr>{head}</tr></thead>' if head else ''}<tbody>{''.join(body)}</tbody></table>"
    )


def warning_box(lines: Sequence[str], heading: str = "Check the data before trusting this forecast") -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return (
        "<div style='background:#fff8e1;border-left:4px solid #f0b400;padding:6px 12px;margin:6px 0;font-size:13px'>"
        f"<b>{html.escape(heading)}</b><ul style='margin:4px 0 0 0;padding-left:18px'>{items}</ul></div>"
    )
