"""Exact integer histograms of simulated runs, and the one way flowray reads them.

A forecast is a set of integer counts (runs per completion period, per item
total, ...). Counts merge by addition, so shards combine exactly in any order.
Every reading of a distribution in flowray goes through the three readers
here, so the result objects, the backtest metrics and the ledger's scoring
agree on what "the 85th percentile" and "at least N with 85%" mean:

- `quantile_index`: the inverted CDF, the smallest v with P(X <= v) >= p, so
  "85% of runs finished within v periods" holds literally;
- `at_least_index`: the largest x with P(X >= x) >= p, the conservative reading
  of "how many" (the lower tail, never the p-th percentile of capacity);
- `cdf_at`: P(X <= x).

`Distribution` applies them to a sparse histogram (values, counts) whose runs
may exceed the counts: the rest are runs not done within the horizon, which
sit at +infinity.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

EPS = 1e-12
"""Relative slack of the readers, so a share that is p up to rounding counts as reaching p."""

FAN_BUCKETS = 200
"""The burn-down fan keeps remaining work in at most this many buckets."""

FAN_ROWS = 4_096
"""The burn-down fan keeps at most this many rows of periods: every period of any usual horizon.

A longer horizon (up to 73,200 daily periods) keeps every k-th period, k the
smallest stride that fits, so the fan stays under 7 MB a chunk.
"""

TOTALS_BUCKETS = 65_536
"""The histogram of total items per run keeps at most this many buckets (512 KB a chunk).

A backlog whose totals fit (every ordinary one) is counted item by item, exactly;
a larger one is counted from its smallest possible total, in buckets of equal
width, so a chunk's memory stays bounded whatever the backlog.
"""


def _first_reaching(cumulative: NDArray[Any], total: float, share: ArrayLike) -> Any:
    """Index of the first cumulative count >= share * total (vectorised over share)."""
    targets = np.asarray(share, dtype=float) * total - EPS * total
    return np.searchsorted(cumulative, targets, side="left")


def _count_not_above(cumulative: NDArray[Any], total: float, share: ArrayLike) -> Any:
    """How many cumulative counts are <= share * total (vectorised over share)."""
    targets = np.asarray(share, dtype=float) * total + EPS * total
    return np.searchsorted(cumulative, targets, side="right")


def quantile_index(counts: ArrayLike, p: float) -> int:
    """Smallest index i with P(X <= i) >= p, for dense counts indexed by value."""
    cumulative = np.cumsum(counts)
    return int(_first_reaching(cumulative, float(cumulative[-1]), p))


def at_least_index(counts: ArrayLike, p: float) -> int:
    """Largest x with P(X >= x) >= p, for dense counts indexed by value."""
    cumulative = np.cumsum(counts)
    # P(X >= x) = 1 - F(x - 1) >= p  <=>  F(x - 1) <= 1 - p: count the values v with F(v) <= 1 - p
    return int(_count_not_above(cumulative, float(cumulative[-1]), 1.0 - p))


def cdf_at(values: ArrayLike, counts: ArrayLike, x: ArrayLike, total: float | None = None) -> Any:
    """P(X <= x) for sparse (ascending values, counts); `total` defaults to the counts' sum."""
    cumulative = np.concatenate(([0.0], np.cumsum(np.asarray(counts, dtype=float))))
    denominator = float(cumulative[-1]) if total is None else float(total)
    index = np.searchsorted(np.asarray(values), np.asarray(x, dtype=float), side="right")
    result = cumulative[index] / denominator
    return float(result) if np.ndim(result) == 0 else result


def quantile_of(
    values: ArrayLike, counts: ArrayLike, p: ArrayLike, total: float | None = None
) -> Any:
    """Index into sparse `values` of the inverted-CDF quantile(s) p; len(values) means beyond them."""
    cumulative = np.cumsum(np.asarray(counts, dtype=float))
    denominator = float(cumulative[-1]) if total is None else float(total)
    return _first_reaching(cumulative, denominator, p)


@dataclass(frozen=True)
class Distribution:
    """A sparse distribution: values (ascending), their counts, and the total runs.

    `runs` may exceed sum(counts): the rest are runs not done within the horizon,
    at +infinity (they count in every CDF denominator).
    """

    values: tuple[int, ...]
    counts: tuple[int, ...]
    runs: int

    def cdf(self, x: float) -> float:
        """F(x) = P(value <= x)."""
        if not self.values:
            return 0.0
        return float(cdf_at(self.values, self.counts, x, self.runs))

    def percentile(self, level: float) -> int | None:
        """Smallest v with F(v) >= level/100 (the inverted CDF); None if beyond the horizon."""
        if not self.values:
            return None
        index = int(quantile_of(self.values, self.counts, level / 100.0, self.runs))
        return self.values[index] if index < len(self.values) else None

    def at_least(self, level: float) -> int | None:
        """Largest x with P(value >= x) >= level/100, i.e. the smallest v with F(v) > 1 - level/100."""
        if not self.values:
            return None
        cumulative = np.cumsum(np.asarray(self.counts, dtype=float))
        index = int(_count_not_above(cumulative, float(self.runs), 1.0 - level / 100.0))
        return self.values[index] if index < len(self.values) else None


# -- the histograms of a set of runs ---------------------------------------------------------------


def pad_add(a: NDArray[np.int64] | None, b: NDArray[np.int64] | None) -> NDArray[np.int64] | None:
    """Add two count arrays of possibly different shapes (shorter ones are zero-padded)."""
    if a is None:
        return None if b is None else b.copy()
    if b is None:
        return a.copy()
    shape = tuple(max(x, y) for x, y in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape, dtype=np.int64)
    out[tuple(slice(0, n) for n in a.shape)] += a
    out[tuple(slice(0, n) for n in b.shape)] += b
    return out


def trim(counts: NDArray[np.int64]) -> NDArray[np.int64]:
    """Drop trailing all-zero entries (rows for 2-D) so chunks stay small on the wire."""
    if counts.ndim == 1:
        nz = np.flatnonzero(counts)
        return counts[: (nz[-1] + 1 if nz.size else 1)].copy()
    rows = np.flatnonzero(counts.any(axis=1))
    return counts[: (rows[-1] + 1 if rows.size else 1)].copy()


def nonzero_pairs(counts: NDArray[np.int64]) -> tuple[list[int], list[int]]:
    """(values, counts) of the non-zero entries: the sparse form results and the ledger store."""
    idx = np.flatnonzero(counts)
    return idx.tolist(), counts[idx].tolist()


def fan_stride(max_periods: int) -> int:
    """Periods between two rows of the burn-down fan: 1 unless max_periods + 1 rows pass FAN_ROWS."""
    return max(1, math.ceil((max_periods + 1) / FAN_ROWS))


def fan_bucket_width(max_total_items: int) -> float:
    """Items per bucket of the burn-down fan, so that it keeps at most FAN_BUCKETS buckets."""
    return float(max(1, math.ceil(max_total_items / FAN_BUCKETS)))


@dataclass(frozen=True)
class Layout:
    """Where a value lands in a bucketed histogram: index = (value - offset) // width.

    `size` is the length a chunk allocates. The layout depends on the scenario
    alone, so every chunk of a forecast uses the same one and merges stay plain
    additions. Bucket i holds the values offset + i * width .. offset + (i + 1) * width - 1
    and reads as its smallest value (a conservative reading of "at least").
    """

    offset: int
    width: int
    size: int


def bucket_layout(least: int, most: int, buckets: int = TOTALS_BUCKETS) -> Layout:
    """The layout of a histogram of whole values least..most in at most `buckets` buckets.

    When most + 2 entries fit, values are counted one by one from 0 (exactly as
    an unbucketed histogram, index = value); otherwise from `least`, in buckets
    just wide enough to cover least..most. The last entry is spare, so a value
    at `most` always lands inside the array.
    """
    least, most = int(least), int(most)
    if most + 2 <= buckets:
        return Layout(0, 1, most + 2)
    least = min(max(least, 0), most)
    width = max(1, math.ceil((most - least + 1) / buckets))
    return Layout(least, width, (most - least) // width + 2)


def bucket_values(offset: int, width: int, size: int) -> NDArray[np.int64]:
    """The value each of `size` buckets reads as: its smallest value, offset + i * width."""
    return offset + np.arange(size, dtype=np.int64) * width


VALUE_BUCKETS = 1_048_576
"""The effort, items-by-the-deadline and "how many" histograms keep at most this many buckets.

They count from 0, so their size is the largest value a run could reach: one entry
per value up to a million (items, person-weeks), exact for any real team and
horizon, in equal buckets beyond (8 MB a chunk at most, in zeroed pages that
only the values reached touch).
"""


_COUNT_FIELDS = ("periods", "totals", "effort", "fan", "deadline_items", "items")
_LAYOUTS = {  # a bucketed histogram -> the fields that say how it is bucketed
    "totals": ("totals_offset", "totals_width"),
    "effort": ("effort_width",),
    "deadline_items": ("deadline_items_width",),
    "items": ("items_width",),
    "fan": ("fan_stride",),
}


@dataclass
class Histograms:
    """Exact integer histograms of a set of runs; `merge` adds counts."""

    runs: int
    periods: NDArray[np.int64] | None = None  # index w: runs done after w periods; last = not done
    totals: NDArray[np.int64] | None = None  # index i: runs whose total work fell in bucket i
    effort: NDArray[np.int64] | None = None  # index e: runs needing e person-weeks (rounded)
    fan: NDArray[np.int64] | None = (
        None  # [w, b]: runs still open after w periods, remaining in bucket b
    )
    fan_runs: int = 0  # the runs the fan follows (the first FAN_RUNS_PER_CHUNK of each chunk)
    deadline_items: NDArray[np.int64] | None = (
        None  # index n: runs with n items done by the deadline
    )
    items: NDArray[np.int64] | None = (
        None  # how-many: index n: runs completing n items in the horizon
    )
    run_periods: int = 0  # simulated run-periods (work done, for benchmarks)
    chunks: tuple[int, ...] = field(default_factory=tuple)
    # totals[i] counts the totals totals_offset + i * totals_width .. + totals_width - 1;
    # (0, 1), the default, is one entry per item count (index n: n items).
    totals_offset: int = 0
    totals_width: int = 1
    # effort[i], deadline_items[i] and items[i] count the values i * width .. i * width + width - 1
    # (width 1, one entry per value, unless the histogram would pass VALUE_BUCKETS entries)
    effort_width: int = 1
    deadline_items_width: int = 1
    items_width: int = 1
    fan_stride: int = 1  # fan row r is period r * fan_stride (1 unless the horizon passes FAN_ROWS)

    def total_values(self) -> NDArray[np.int64]:
        """The total items each entry of `totals` stands for (its bucket's smallest value)."""
        size = 0 if self.totals is None else self.totals.size
        return bucket_values(self.totals_offset, self.totals_width, size)

    def merge(self, other: Histograms) -> Histograms:
        overlap = set(self.chunks) & set(other.chunks)
        if overlap:
            raise ValueError(f"chunks {sorted(overlap)[:5]} would be counted twice")
        layouts: dict[str, Any] = {}
        for name, keys in _LAYOUTS.items():
            mine = tuple(getattr(self, key) for key in keys)
            theirs = tuple(getattr(other, key) for key in keys)
            if getattr(self, name) is None:
                mine = theirs
            elif getattr(other, name) is not None and mine != theirs:
                raise ValueError(
                    f"{name} bucketed as {mine} and {theirs} do not add up "
                    "(histograms of different scenarios)"
                )
            layouts.update(zip(keys, mine, strict=True))
        counts: dict[str, Any] = {
            name: pad_add(getattr(self, name), getattr(other, name)) for name in _COUNT_FIELDS
        }
        return Histograms(
            runs=self.runs + other.runs,
            fan_runs=self.fan_runs + other.fan_runs,
            run_periods=self.run_periods + other.run_periods,
            chunks=tuple(sorted(self.chunks + other.chunks)),
            **counts,
            **layouts,
        )

    def equals(self, other: Histograms) -> bool:
        """Bit-for-bit equality of every histogram (used by tests and Ray/local agreement)."""
        if (self.runs, self.chunks, self.fan_runs) != (other.runs, other.chunks, other.fan_runs):
            return False
        for keys in _LAYOUTS.values():
            if any(getattr(self, key) != getattr(other, key) for key in keys):
                return False
        for name in _COUNT_FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            if (a is None) != (b is None):
                return False
            if a is not None and not np.array_equal(a, b):
                return False
        return True


def merge_histograms(parts: Iterable[Histograms]) -> Histograms:
    """Merge any number of chunk histograms (order and grouping do not matter)."""
    merged: Histograms | None = None
    for part in parts:
        merged = part if merged is None else merged.merge(part)
    return Histograms(runs=0) if merged is None else merged


__all__: Sequence[str] = (
    "EPS",
    "FAN_BUCKETS",
    "FAN_ROWS",
    "TOTALS_BUCKETS",
    "VALUE_BUCKETS",
    "Distribution",
    "Histograms",
    "Layout",
    "at_least_index",
    "bucket_layout",
    "bucket_values",
    "cdf_at",
    "fan_bucket_width",
    "fan_stride",
    "merge_histograms",
    "nonzero_pairs",
    "pad_add",
    "quantile_index",
    "quantile_of",
    "trim",
)
