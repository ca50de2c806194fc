"""Scoring one actual against one forecast distribution (the ledger's scores).

A stored forecast is a discrete distribution of completion periods (unit
"periods") or of items done by a horizon (unit "items"). When what happened is
known, it is scored by its PIT interval, its median error and, per level
50/70/85/95, whether it was met. See docs/store.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from flowray.core.histograms import Distribution

LEVELS = (50, 70, 85, 95)
SCORING_METHOD = "v1: actual periods = ceil(days / period_days); nonrandomised PIT"


@dataclass(frozen=True)
class LevelScore:
    """How a forecast fared at one level (50/70/85/95)."""

    level: int
    quantile: float | None
    met: bool
    expected_met: float | None
    coverage: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def score_distribution(
    dist: Distribution, unit: str, actual: int
) -> tuple[float, float, float, int | None, list[LevelScore]]:
    """PIT interval, median and per-level scores of one actual under one distribution.

    PIT: the forecast CDF at the actual is a step for a discrete forecast; we keep
    the interval [F(a-1), F(a)] and its midpoint (the mid-PIT). Per level the
    `coverage` is the probability that a PIT drawn uniformly in that interval
    (the randomised PIT, exactly uniform under calibration) falls in the level's
    region: its mean over forecasts equals the level for a calibrated forecaster.
    """
    lo, hi = dist.cdf(actual - 1), dist.cdf(actual)
    median = dist.percentile(50)
    levels: list[LevelScore] = []
    for level in LEVELS:
        p = level / 100.0
        if unit == "periods":
            q = dist.percentile(level)
            met = q is None or actual <= q
            expected = 1.0 if q is None else dist.cdf(q)
            # P(V <= p) with V ~ U(lo, hi)
            cover = _clip01((p - lo) / (hi - lo)) if hi > lo else (1.0 if lo <= p else 0.0)
        else:
            q = dist.at_least(level)
            met = q is not None and actual >= q
            expected = 0.0 if q is None else 1.0 - dist.cdf(q - 1)
            # P(V >= 1 - p) with V ~ U(lo, hi)
            cover = (
                _clip01((hi - (1 - p)) / (hi - lo)) if hi > lo else (1.0 if lo >= 1 - p else 0.0)
            )
        levels.append(LevelScore(level, None if q is None else float(q), met, expected, cover))
    return (lo + hi) / 2, lo, hi, median, levels


def score_headline(headline: dict[int, Any], unit: str, actual: int) -> list[LevelScore]:
    """Hits against stored headline numbers only (a forecast kept without its distribution)."""
    levels = []
    for level, q in headline.items():
        if q is None:
            continue
        met = actual <= q if unit == "periods" else actual >= q
        levels.append(LevelScore(level, float(q), met, None, None))
    return levels


def periods_between(start: dt.date, end: dt.date, period_days: int) -> int:
    """Whole periods from start to end, counted the way the engine dates them.

    The engine dates "done within w periods" as start + w * period_days, so work
    finished on `end` took ceil(days / period_days) periods, and it met the p-th
    percentile exactly when it finished on or before that percentile's date.
    """
    return -((start - end).days // period_days)
