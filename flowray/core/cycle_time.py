"""Cycle time and work item age: how long finished items took, and what that says of open ones.

The views ActionableAgile made familiar, from each item's started and done dates:

- **cycle time** of a finished item: done - started + 1 calendar days, so an
  item started and finished on the same day took 1 day (ActionableAgile's count);
- **percentiles** 50/70/85/95 of the cycle times, read as every distribution in
  flowray is (`core.histograms`, the inverted CDF): "85% of finished items took
  17 days or less" holds literally;
- **age** of an item in progress: today - started + 1 days, on the same scale,
  and the highest percentile it has passed (age above P85: it is older than at
  least 85% of finished items);
- **the forecast of one item in progress** of age a: the finished items that
  took a days or more are the empirical distribution of its cycle time given
  that it has not finished in fewer; its percentiles, added to its start, are
  the dates by which it is done with 50/70/85/95% likelihood. Below
  `MIN_CONDITIONAL` such items there is no number, only the reason.

Everything is read as of one day (`today`): an item done later is still in
progress then, an item started later has not started. Items whose dates cannot
give a cycle time or an age (no start date, done before started) are left out
by name, never silently.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowray.core.histograms import quantile_index
from flowray.core.results import order_statistic_band
from flowray.core.validation import parse_date
from flowray.exceptions import InputError
from flowray.text import format_probability, long_date

LEVELS: tuple[int, ...] = (50, 70, 85, 95)
"""The percentiles reported, as for completion dates."""

MIN_CONDITIONAL = 10
"""Fewest finished items, at least as old as an item in progress, that its forecast rests on."""

MIN_FINISHED = 10
"""Below this many finished items the percentiles are shown with a warning that they are rough."""

LEFT_OUT_REASONS = {
    "not_started": "neither started nor done",
    "no_start_date": "done, but without a start date: its cycle time is unknown",
    "done_before_start": "done before it was started (re-opened, or a date typed wrong)",
    "starts_later": "started after the day of the report",
}
"""Why an item is left out of every view, by code."""


@dataclass(frozen=True)
class FinishedItem:
    """An item done by the day of the report, with its cycle time in days."""

    item_id: str
    started_on: dt.date
    done_on: dt.date
    cycle_days: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "started_on": self.started_on.isoformat(),
            "done_on": self.done_on.isoformat(),
            "cycle_days": self.cycle_days,
        }


@dataclass(frozen=True)
class LeftOut:
    """An item no view uses, and why (`code`: a key of LEFT_OUT_REASONS)."""

    item_id: str
    code: str

    @property
    def reason(self) -> str:
        return LEFT_OUT_REASONS[self.code]

    def to_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "code": self.code, "reason": self.reason}


@dataclass(frozen=True)
class ItemForecast:
    """When one item in progress will be done, from the finished items at least as old.

    `rests_on` is how many finished items took `age` days or more; with fewer
    than MIN_CONDITIONAL, `dates` and `cycle_days` are empty and `warning` says why.
    """

    age: int
    started_on: dt.date
    rests_on: int
    cycle_days: dict[int, int] = field(default_factory=dict)
    dates: dict[int, dt.date] = field(default_factory=dict)
    warning: str | None = None
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)  # 95% range, in days

    def date_range(self, level: int = 85) -> tuple[dt.date, dt.date] | None:
        """The 95% range of the `level` date over other samples of as many items (None: no date)."""
        if level not in self.ranges:
            return None
        low, high = self.ranges[level]
        return (
            self.started_on + dt.timedelta(days=low - 1),
            self.started_on + dt.timedelta(days=high - 1),
        )

    @property
    def reliable(self) -> bool:
        return bool(self.dates)

    def date(self, level: int = 85) -> dt.date | None:
        """The date by which the item is done with `level`% likelihood (None: too few items)."""
        return self.dates.get(level)

    def headline(self, level: int = 85) -> str:
        """'85% likely done by 3 March 2027 (from 24 finished items that took 12 days or more)'."""
        day = self.date(level)
        if day is None:
            return self.warning or "cannot be said reliably"
        return (
            f"{level}% likely done by {long_date(day)} (from {self.rests_on} finished items that "
            f"took {self.age} days or more)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "age_days": self.age,
            "rests_on": self.rests_on,
            "cycle_days": {str(k): v for k, v in self.cycle_days.items()},
            "dates": {str(k): v.isoformat() for k, v in self.dates.items()},
            "date_ranges": {
                str(k): [d.isoformat() for d in self.date_range(k) or ()] for k in self.ranges
            },
            "warning": self.warning,
        }


@dataclass(frozen=True)
class AgeingItem:
    """An item in progress: its age, the highest percentile it has passed, its forecast.

    `band` is the highest level whose percentile the age exceeds (None: not even
    the 50th); `older_than` the share of finished items that took fewer days
    than its age.
    """

    item_id: str
    started_on: dt.date
    age: int
    band: int | None
    older_than: float
    forecast: ItemForecast

    def band_label(self) -> str:
        """'past 85%' (the highest percentile line its age is above), or 'below 50%'."""
        return f"past {self.band}%" if self.band is not None else f"below {LEVELS[0]}%"

    def band_words(self) -> str:
        """'older than 85% of finished items' for the band it sits in."""
        if self.band is None:
            return "younger than the median"
        return f"older than {self.band}% of finished items"

    def older_than_words(self, finished: int) -> str:
        """The exact share, never shown as 100% ('older than every finished item')."""
        if self.older_than >= 1.0:
            return f"older than all {finished} finished items"
        if self.older_than <= 0.0:
            return "not older than any finished item"
        return f"older than {format_probability(self.older_than)} of finished items"

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "started_on": self.started_on.isoformat(),
            "age_days": self.age,
            "band": self.band,
            "older_than": self.older_than,
            "forecast": self.forecast.to_dict(),
        }


@dataclass(frozen=True)
class CycleTimeAnalysis:
    """Cycle times, their percentiles and the ageing of the items in progress, as of `today`."""

    today: dt.date
    finished: tuple[FinishedItem, ...]
    in_progress: tuple[AgeingItem, ...]  # oldest first
    left_out: tuple[LeftOut, ...]
    percentiles: dict[int, int]
    warnings: tuple[str, ...] = ()
    percentile_ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    def left_out_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.left_out:
            counts[item.code] = counts.get(item.code, 0) + 1
        return counts

    def scatter(self) -> dict[str, list[Any]]:
        """The cycle-time scatter: one point per finished item (done date, days), oldest first."""
        ordered = sorted(self.finished, key=lambda f: (f.done_on, f.item_id))
        return {
            "done_on": [f.done_on for f in ordered],
            "cycle_days": [f.cycle_days for f in ordered],
            "item_id": [f.item_id for f in ordered],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "finished": len(self.finished),
            "percentiles": {str(k): v for k, v in self.percentiles.items()},
            "percentile_ranges": {str(k): list(v) for k, v in self.percentile_ranges.items()},
            "in_progress": [item.to_dict() for item in self.in_progress],
            "left_out": self.left_out_counts(),
            "warnings": list(self.warnings),
        }


def cycle_days(started_on: Any, done_on: Any, item_id: str = "item") -> int:
    """done - started + 1 calendar days; done before started is refused by name."""
    started = parse_date(f"{item_id} started_on", started_on)
    done = parse_date(f"{item_id} done_on", done_on)
    if started is None:
        raise InputError(f"{item_id} started_on", started_on, "is required for a cycle time")
    if done is None:
        raise InputError(f"{item_id} done_on", done_on, "is required for a cycle time")
    if done < started:
        raise InputError(
            f"{item_id} done_on",
            done.isoformat(),
            f"is before started_on ({started.isoformat()}): a cycle time cannot be negative",
        )
    return (done - started).days + 1


def _counts(days: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.bincount(np.asarray(days, dtype=np.int64))


def cycle_percentiles(days: Sequence[int], levels: Sequence[int] = LEVELS) -> dict[int, int]:
    """Smallest d with P(cycle time <= d) >= level/100, for each level (the inverted CDF)."""
    values = np.asarray(days, dtype=np.int64)
    if values.size == 0:
        raise InputError(
            "cycle times", [], "need at least one finished item with a start and a done date"
        )
    if int(values.min()) < 1:
        raise InputError("cycle times", int(values.min()), "must be whole days >= 1")
    counts = _counts(values)
    return {int(level): quantile_index(counts, level / 100.0) for level in levels}


def percentile_ranges(
    days: Sequence[int], levels: Sequence[int] = LEVELS
) -> dict[int, tuple[int, int]]:
    """The 95% order-statistic range of each percentile, in days.

    How far the percentile could move with another sample of as many finished
    items from the same process: the same interval flowray gives a simulated
    percentile, with the items in place of the runs. Few items, wide range.
    """
    values = np.asarray(days, dtype=np.int64)
    if values.size == 0:
        return {}
    counts = _counts(values)
    ranges = {}
    for level in levels:
        below, above = order_statistic_band(level / 100.0, int(values.size))
        ranges[int(level)] = (quantile_index(counts, below), quantile_index(counts, above))
    return ranges


def band_of(age: int, percentiles: dict[int, int]) -> int | None:
    """The highest level whose percentile `age` exceeds (None: not even the lowest)."""
    passed = [level for level, days in percentiles.items() if age > days]
    return max(passed) if passed else None


def forecast_item(
    age: int,
    started_on: dt.date,
    days: Sequence[int],
    levels: Sequence[int] = LEVELS,
    minimum: int = MIN_CONDITIONAL,
) -> ItemForecast:
    """The forecast of an item in progress of `age` days from the finished items' cycle `days`.

    Only finished items that took `age` days or more say anything about an item
    that has not finished in fewer; their percentiles added to its start are
    the dates. Every date is on or after the item's today (start + age - 1), and
    grows (never falls) as the item ages.
    """
    values = np.asarray(days, dtype=np.int64)
    older = values[values >= age]
    rests_on = int(older.size)
    if rests_on < minimum:
        warning = (
            f"only {rests_on} finished item{'s' if rests_on != 1 else ''} took {age} days or "
            f"more (fewer than {minimum}): when this one will be done cannot be said reliably"
        )
        return ItemForecast(age, started_on, rests_on, warning=warning)
    counts = _counts(older)
    cycle = {int(level): quantile_index(counts, level / 100.0) for level in levels}
    dates = {level: started_on + dt.timedelta(days=d - 1) for level, d in cycle.items()}
    ranges = percentile_ranges(older.tolist(), levels)
    return ItemForecast(age, started_on, rests_on, cycle, dates, ranges=ranges)


def analyse_cycle_time(
    items: Iterable[Any],
    today: Any,
    levels: Sequence[int] = LEVELS,
    minimum: int = MIN_CONDITIONAL,
) -> CycleTimeAnalysis:
    """Cycle times, percentiles and ageing of `items` (objects with item_id, started_on, done_on).

    As of `today`: an item done on or before it is finished (done before started:
    left out by name); one started on or before it and not done by then is in
    progress; the rest are left out with their reason. No finished item at all is
    an InputError: without one there is nothing to compare with.
    """
    day = parse_date("today", today)
    if day is None:
        raise InputError("today", today, "is required: the day the ages are counted to")
    finished: list[FinishedItem] = []
    open_items: list[tuple[str, dt.date]] = []
    left_out: list[LeftOut] = []
    count = 0
    for i, item in enumerate(items):
        count += 1
        raw_id = getattr(item, "item_id", None)
        if raw_id is None or str(raw_id).strip() == "":
            raise InputError(f"items[{i}].item_id", raw_id, "is required")
        item_id = str(raw_id).strip()
        started = parse_date(f"item {item_id!r} started_on", getattr(item, "started_on", None))
        done = parse_date(f"item {item_id!r} done_on", getattr(item, "done_on", None))
        if done is not None and done > day:
            done = None  # not done yet on the day of the report
        if started is None:
            left_out.append(LeftOut(item_id, "no_start_date" if done else "not_started"))
        elif started > day:
            left_out.append(LeftOut(item_id, "starts_later"))
        elif done is None:
            open_items.append((item_id, started))
        elif done < started:
            left_out.append(LeftOut(item_id, "done_before_start"))
        else:
            finished.append(FinishedItem(item_id, started, done, (done - started).days + 1))
    if not finished:
        raise InputError(
            "items",
            f"{count} items",
            f"none was finished by {day.isoformat()} with both a start and a done date: "
            "cycle times need at least one finished item",
        )
    days = [f.cycle_days for f in finished]
    percentiles = cycle_percentiles(days, levels)
    shorter = np.sort(np.asarray(days, dtype=np.int64))
    ageing = []
    for item_id, started in sorted(open_items, key=lambda o: (o[1], o[0])):
        age = (day - started).days + 1
        older_than = float(np.searchsorted(shorter, age, side="left")) / len(days)
        ageing.append(
            AgeingItem(
                item_id,
                started,
                age,
                band_of(age, percentiles),
                older_than,
                forecast_item(age, started, days, levels, minimum),
            )
        )
    warnings = []
    if len(finished) < MIN_FINISHED:
        warnings.append(
            f"the percentiles rest on only {len(finished)} finished items: read them as rough"
        )
    skipped = sum(1 for o in left_out if o.code in ("no_start_date", "done_before_start"))
    if skipped:
        warnings.append(
            f"{skipped} done item{'s' if skipped != 1 else ''} left out: no start date, or done "
            "before started"
        )
    return CycleTimeAnalysis(
        day,
        tuple(finished),
        tuple(ageing),
        tuple(left_out),
        percentiles,
        tuple(warnings),
        percentile_ranges(days, levels),
    )


__all__: Sequence[str] = (
    "LEFT_OUT_REASONS",
    "LEVELS",
    "MIN_CONDITIONAL",
    "MIN_FINISHED",
    "AgeingItem",
    "CycleTimeAnalysis",
    "FinishedItem",
    "ItemForecast",
    "LeftOut",
    "analyse_cycle_time",
    "band_of",
    "cycle_days",
    "cycle_percentiles",
    "forecast_item",
    "percentile_ranges",
)
