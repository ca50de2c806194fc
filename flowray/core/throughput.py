"""Throughput from done dates: items finished per period, every period present.

Open items (no done date) are work in progress and never count; a period in
which nothing finished is a real zero, so it is filled in, never skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from flowray.core.validation import parse_date, whole_number
from flowray.exceptions import InputError


def derive_throughput(
    items: Iterable[Any],
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
    period_days = whole_number("period_days", period_days, 1)
    first_day, last_day = (
        parse_date("start", start, empty_is_none=False),
        parse_date("end", end, empty_is_none=False),
    )
    done: list[dt.date] = []
    for item in items:
        day = (
            item.done_on
            if hasattr(item, "done_on")
            else parse_date("items", item, empty_is_none=False)
        )
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
