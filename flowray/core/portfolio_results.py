"""What a portfolio forecast answers, read off exact integer histograms of the runs.

Per run the kernel records each feature's completion period, the period by
which features 1..k were all done (the latest of them, for every k), and how
many features were done by the target. So every joint answer ("P(the first k
all done by the target)", the cut line, how many features make it) comes from
the same runs, never from a product of per-feature probabilities: features
worked by one team are strongly dependent (the later ones wait for the
earlier), and two teams each 85% likely to finish are together only about 72%
likely, which taking the later of two 85% dates hides.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from flowray.core.histograms import pad_add, quantile_index
from flowray.core.results import Z_95, _level, _pct_key, engine_version, order_statistic_band

if TYPE_CHECKING:  # pragma: no cover - typing only
    from flowray.core.portfolio import Portfolio

DEFAULT_PERCENTILES = (50, 70, 85, 95)


@dataclass
class PortfolioHistograms:
    """Integer counts of a set of runs; `merge` adds them (any order, any grouping)."""

    runs: int
    completion: NDArray[
        np.int64
    ]  # [f, w]: runs with feature f done after w periods; last = not done
    prefix: NDArray[np.int64]  # [f, w]: runs with features 0..f all done after w periods
    by_target: NDArray[np.int64] | None = None  # [n]: runs with n features done by the target
    run_periods: int = 0
    chunks: tuple[int, ...] = field(default_factory=tuple)

    def merge(self, other: PortfolioHistograms) -> PortfolioHistograms:
        overlap = set(self.chunks) & set(other.chunks)
        if overlap:
            raise ValueError(f"chunks {sorted(overlap)[:5]} would be counted twice")
        completion = pad_add(self.completion, other.completion)
        prefix = pad_add(self.prefix, other.prefix)
        assert completion is not None and prefix is not None
        return PortfolioHistograms(
            runs=self.runs + other.runs,
            completion=completion,
            prefix=prefix,
            by_target=pad_add(self.by_target, other.by_target),
            run_periods=self.run_periods + other.run_periods,
            chunks=tuple(sorted(self.chunks + other.chunks)),
        )

    def equals(self, other: PortfolioHistograms) -> bool:
        """Bit-for-bit equality of every count (engines' agreement, reproducibility)."""
        if (self.runs, self.chunks) != (other.runs, other.chunks):
            return False
        if (self.by_target is None) != (other.by_target is None):
            return False
        same_target = (
            self.by_target is None
            or other.by_target is None
            or np.array_equal(self.by_target, other.by_target)
        )
        return (
            same_target
            and np.array_equal(self.completion, other.completion)
            and np.array_equal(self.prefix, other.prefix)
        )


def merge_portfolio_histograms(parts: Iterable[PortfolioHistograms]) -> PortfolioHistograms:
    """Fold any number of chunk histograms into one, one at a time (memory flat in runs)."""
    merged: PortfolioHistograms | None = None
    for part in parts:
        merged = part if merged is None else merged.merge(part)
    if merged is None:
        raise ValueError("no portfolio histograms to merge")
    return merged


def _half_width(p: float, runs: int) -> float:
    """The 95% Monte Carlo error of a probability estimated from `runs` runs."""
    return Z_95 * math.sqrt(max(0.0, p * (1.0 - p)) / max(1, runs))


@dataclass
class PortfolioResult:
    """The answer of a portfolio forecast: per feature, and jointly for the list's prefixes."""

    portfolio: Portfolio
    histograms: PortfolioHistograms
    seed: int = 0
    runs_asked: int = 0
    sampler: str = "bootstrap"

    @property
    def runs(self) -> int:
        return self.histograms.runs

    @property
    def complete(self) -> bool:
        return self.runs >= self.runs_asked

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.portfolio.features]

    @property
    def cannot_forecast(self) -> list[bool]:
        return self.portfolio.cannot_forecast()

    @property
    def horizon(self) -> int:
        return self.portfolio.max_periods

    def _index(self, feature: int | str) -> int:
        if isinstance(feature, str):
            return self.feature_names.index(feature)
        return int(feature)

    def _cdf(self, counts: NDArray[np.int64], periods: int) -> float:
        return float(counts[: max(0, periods) + 1].sum()) / self.runs if self.runs else 0.0

    def percentile(self, feature: int | str, p: float) -> int | None:
        """Smallest w with P(feature done within w periods) >= p% (None: beyond the horizon)."""
        f = self._index(feature)
        if self.cannot_forecast[f] or not self.runs:
            return None
        w = quantile_index(self.histograms.completion[f], _level(p))
        return w if w <= self.horizon else None

    def percentile_error(self, feature: int | str, p: float) -> dict[str, int | None]:
        """The 95% order-statistic interval of a percentile, in periods (None: beyond the horizon)."""
        f = self._index(feature)
        low, high = order_statistic_band(_level(p), self.runs)
        if self.cannot_forecast[f] or not self.runs:
            return {"low": None, "high": None}
        out: dict[str, int | None] = {}
        for name, level in (("low", low), ("high", high)):
            w = quantile_index(self.histograms.completion[f], level)
            out[name] = w if w <= self.horizon else None
        return out

    def date_of(self, periods: int | None) -> dt.date | None:
        return None if periods is None else self.portfolio.period_end(periods)

    def not_done(self, feature: int | str) -> float | None:
        """Share of runs in which the feature was not done within the horizon."""
        f = self._index(feature)
        if self.cannot_forecast[f] or not self.runs:
            return None
        return float(self.histograms.completion[f, -1]) / self.runs

    def probability_by(self, feature: int | str, periods: int) -> float | None:
        """P(the feature done within `periods` periods); None when it cannot be forecast."""
        f = self._index(feature)
        if self.cannot_forecast[f]:
            return None
        return self._cdf(self.histograms.completion[f], periods)

    def _target(self) -> int:
        target = self.portfolio.target_periods
        if target is None:
            from flowray.exceptions import InputError

            raise InputError("target", None, "is required for answers by the target date")
        return target

    def probability_by_target(self, feature: int | str) -> float | None:
        return self.probability_by(feature, self._target())

    def all_done_by(self, k: int, periods: int) -> float | None:
        """P(features 1..k all done within `periods` periods), from the same runs (k >= 1).

        None when one of the first k features cannot be forecast.
        """
        if not 1 <= k <= len(self.feature_names):
            from flowray.exceptions import InputError

            raise InputError("k", k, f"must be from 1 to {len(self.feature_names)}")
        if any(self.cannot_forecast[:k]):
            return None
        return self._cdf(self.histograms.prefix[k - 1], periods)

    def all_done_by_target(self) -> list[float | None]:
        """P(the first k all done by the target) for k = 1..F (never rises with k)."""
        target = self._target()
        return [self.all_done_by(k, target) for k in range(1, len(self.feature_names) + 1)]

    def cut_line(self, level: float | None = None) -> int:
        """The largest k with P(features 1..k all done by the target) >= level (0: not even the first)."""
        share = _level(self.portfolio.level if level is None else level)
        k = 0
        for p in self.all_done_by_target():
            if p is None or p < share - 1e-12:
                break
            k += 1
        return k

    def features_done_by_target(self) -> dict[str, float]:
        """P(exactly n features done by the target), n = 0..F (features that cannot be forecast
        are never counted as done)."""
        self._target()
        counts = self.histograms.by_target
        assert counts is not None  # recorded whenever the portfolio has a target
        return {str(n): float(c) / self.runs for n, c in enumerate(counts)}

    def probability_error(self, p: float | None) -> float | None:
        """The 95% Monte Carlo error (plus or minus) of a probability read off these runs."""
        return None if p is None else _half_width(p, self.runs)

    def feature_dict(self, f: int, levels: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
        """One feature's answer: percentiles (periods and dates), P(target), errors, not done."""
        feature = self.portfolio.features[f]
        periods = {_pct_key(p): self.percentile(f, p) for p in levels}
        out: dict[str, Any] = {
            "name": feature.name,
            "teams": list(feature.teams),
            "cannot_forecast": self.cannot_forecast[f],
            "percentiles": periods,
            "dates": {
                k: (None if v is None else self.portfolio.period_end(v).isoformat())
                for k, v in periods.items()
            },
            "percentile_error": {
                _pct_key(p): self.percentile_error(f, p) for p in (50, self.portfolio.level)
            },
            "not_done": self.not_done(f),
        }
        if self.portfolio.target is not None:
            p_target = self.probability_by_target(f)
            out["probability_by_target"] = p_target
            out["probability_error"] = self.probability_error(p_target)
        return out

    def to_dict(self, levels: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, Any]:
        """Everything as plain JSON-ready values (features in list order)."""
        portfolio = self.portfolio
        levels = tuple(sorted({*levels, portfolio.level}))
        out: dict[str, Any] = {
            "kind": "portfolio",
            "start": portfolio.start.isoformat(),
            "target": None if portfolio.target is None else portfolio.target.isoformat(),
            "target_periods": portfolio.target_periods,
            "period_days": portfolio.period_days,
            "level": portfolio.level,
            "max_periods": portfolio.max_periods,
            "sampler": self.sampler,
            "runs": self.runs,
            "runs_asked": self.runs_asked,
            "complete": self.complete,
            "seed": self.seed,
            "engine_version": engine_version(),
            "features": [self.feature_dict(f, levels) for f in range(len(portfolio.features))],
        }
        if portfolio.target is not None:
            joint = self.all_done_by_target()
            out["cut_line"] = self.cut_line()
            out["all_done_by_target"] = joint
            out["all_done_error"] = [self.probability_error(p) for p in joint]
            out["features_done_by_target"] = self.features_done_by_target()
        return out
