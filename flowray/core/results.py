"""Results of a forecast, read off exact histograms.

Percentiles use the inverted CDF: the p-th percentile is the smallest w with
P(periods <= w) >= p, so "85% of runs finished within w periods" holds
literally. "How many" is read conservatively: "at least X items with
probability p" uses the lower tail, never the p-th percentile of capacity.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from flowray.core.checks import HistoryChecks, check_history
from flowray.core.histograms import (
    EPS,
    Histograms,
    at_least_index,
    fan_bucket_width,
    nonzero_pairs,
    quantile_index,
)
from flowray.core.scenario import Scenario
from flowray.text import format_probability

if TYPE_CHECKING:  # pragma: no cover - typing only
    from flowray.core.methods import MethodReport

DEFAULT_PERCENTILES = (50, 70, 85, 95)
LIKELIHOODS = tuple(range(50, 101, 5))
FAN_LEVELS = (5, 15, 50, 85, 95)
Z_95 = 1.959963984540054


def engine_version() -> str:
    from flowray import __version__

    return __version__


def _level(p: float) -> float:
    """Levels are given in percent, as in numpy.percentile: 85 means 85 %."""
    from flowray.exceptions import InputError

    try:
        value = float(p)
    except (TypeError, ValueError):
        raise InputError("percentile", p, "must be a number in (0, 100]") from None
    if not 0 < value <= 100:
        raise InputError("percentile", p, "must lie in (0, 100] (percent, e.g. 85)")
    return value / 100.0


def _pct_key(p: float) -> str:
    value = float(p)
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def order_statistic_band(level: float, runs: int, z: float = Z_95) -> tuple[float, float]:
    """Levels bracketing the p-quantile's order-statistic confidence interval."""
    half = z * math.sqrt(level * (1.0 - level) / max(1, runs))
    return max(EPS, level - half), min(1.0, level + half)


@dataclass
class _Answer:
    """What every answer holds: its scenario, its histograms and the checks on its history.

    Subclasses add `seed` and `runs_requested` (and what their question needs).
    """

    scenario: Scenario
    histograms: Histograms
    checks: HistoryChecks = field(init=False)
    # How the result was made (core.methods); None for the plain model run directly.
    method_report: MethodReport | None = field(default=None, kw_only=True)
    # The calibration map the answer was read through; None when not calibrated.
    calibration: Any = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        self.checks = check_history(self.scenario.throughput)

    @property
    def runs(self) -> int:
        return self.histograms.runs

    @property
    def complete(self) -> bool:
        return self.runs == self.runs_requested  # type: ignore[attr-defined]


@dataclass
class ForecastResult(_Answer):
    """The answer to "when?" (and, with a deadline, "how likely by then?")."""

    seed: int
    runs_requested: int

    # -- basic facts ---------------------------------------------------------
    @property
    def counts(self) -> np.ndarray:
        """Runs per completion period; the last entry counts runs not done in the horizon."""
        periods = self.histograms.periods
        assert periods is not None  # a "when" simulation always fills it
        return periods

    @property
    def not_done(self) -> int:
        return int(self.counts[self.scenario.max_periods + 1])

    @property
    def not_done_share(self) -> float:
        return self.not_done / self.runs if self.runs else 0.0

    # -- percentiles -----------------------------------------------------------
    def percentile(self, p: float) -> int | None:
        """Periods within which a share p of runs finished; None if beyond the horizon."""
        w = quantile_index(self.counts, _level(p))
        return None if w > self.scenario.max_periods else w

    def percentiles(self, levels=DEFAULT_PERCENTILES) -> dict[str, int | None]:
        return {_pct_key(p): self.percentile(p) for p in levels}

    def date_at(self, p: float) -> dt.date | None:
        w = self.percentile(p)
        return None if w is None else self.scenario.date_of(w)

    def dates(self, levels=DEFAULT_PERCENTILES) -> dict[str, str | None]:
        if self.scenario.start is None:
            return {}
        out: dict[str, str | None] = {}
        for p in levels:
            d = self.date_at(p)
            out[_pct_key(p)] = d.isoformat() if d else None
        return out

    def percentile_error(self, p: float, z: float = Z_95) -> dict[str, int | None]:
        """95% Monte Carlo interval of percentile p, from the order-statistic confidence interval."""
        below, above = order_statistic_band(_level(p), self.runs, z)
        low = quantile_index(self.counts, below)
        high = quantile_index(self.counts, above)
        cap = self.scenario.max_periods
        value = self.percentile(p)
        low_v = None if low > cap else low
        high_v = None if high > cap else high
        plus_minus = None
        if value is not None and low_v is not None and high_v is not None:
            plus_minus = max(value - low_v, high_v - value)
        return {"low": low_v, "high": high_v, "plus_minus": plus_minus}

    def likelihood_table(self) -> list[dict[str, Any]]:
        """50%..100% in steps of 5: higher likelihood, later (or equal) date."""
        rows = []
        for p in LIKELIHOODS:
            w = self.percentile(p)
            d = self.scenario.date_of(w) if w is not None else None
            rows.append(
                {
                    "likelihood": p,
                    "periods": w,
                    "date": d.isoformat() if d else None,
                    "label": "worst simulated run" if p == 100 else f"{p}%",
                }
            )
        return rows

    # -- deadline ---------------------------------------------------------------
    @property
    def periods_to_deadline(self) -> int | None:
        return self.scenario.periods_to_deadline

    @property
    def probability_by_deadline(self) -> float | None:
        """P(done by the deadline) = CDF of completion periods at the whole periods available."""
        d = self.periods_to_deadline
        if d is None:
            return None
        return float(self.counts[: d + 1].sum() / self.runs)

    def items_by_deadline(self, p: float) -> int | None:
        """At least this many items are done by the deadline with probability p."""
        hist = self.histograms.deadline_items
        if hist is None:
            return None
        # a bucket reads as its smallest count, so "at least" stays true when bucketed
        return at_least_index(hist, _level(p)) * self.histograms.deadline_items_width

    def deadline_met_at(self, p: float) -> bool | None:
        prob = self.probability_by_deadline
        return None if prob is None else prob >= _level(p) - EPS

    # -- distributions ------------------------------------------------------------
    def burn_down_fan(self, levels=FAN_LEVELS) -> list[dict[str, Any]]:
        """Percentiles of remaining items after each period (0 = start); done runs count as 0.

        Period 0 is every run's total work; later periods come from the runs the
        fan follows (engine.FAN_RUNS_PER_CHUNK of each chunk), every period, or
        every fan_stride-th one beyond a horizon of FAN_ROWS periods. Work no run can
        finish is not simulated (engine.not_done_histograms): then there is no
        fan, only period 0 when every run's total is known, else no rows.
        """
        fan = self.histograms.fan
        totals = self.histograms.totals
        if totals is None:
            return []
        if fan is None:
            fan = np.zeros((1, 1), dtype=np.int64)
        width = fan_bucket_width(self.scenario.max_total_items())
        stride = self.histograms.fan_stride
        done_by = np.cumsum(self.counts)
        rows = []
        last = int(np.max(np.flatnonzero(self.counts[: self.scenario.max_periods + 1]), initial=0))
        last = max(last, (fan.shape[0] - 1) * stride)
        for w in range(0, last + stride, stride):  # up to the first kept period >= last
            row: dict[str, Any] = {"period": w}
            if w == 0:
                counts = totals.astype(np.int64)
                values = self.histograms.total_values().astype(float)
            else:
                r = w // stride
                open_counts = fan[r] if r < fan.shape[0] else np.zeros(1, np.int64)
                counts = open_counts.copy()
                # done runs (and open ones in bucket 0), of the runs the fan follows
                counts[0] += self.histograms.fan_runs - counts.sum()
                values = np.arange(counts.size, dtype=float) * width
            for p in levels:
                row[f"p{p}"] = float(
                    values[min(quantile_index(counts, p / 100.0), counts.size - 1)]
                )
            d = self.scenario.date_of(w)
            row["date"] = d.isoformat() if d else None
            rows.append(row)
            if self.histograms.fan is None:
                break
            if w > 0 and done_by[min(w, done_by.size - 1)] >= self.runs:
                break
        return rows

    def mean_periods(self) -> float | None:
        done = self.counts[: self.scenario.max_periods + 1]
        if done.sum() == 0:
            return None
        return float((np.arange(done.size) * done).sum() / done.sum())

    # -- JSON / pandas ------------------------------------------------------------------
    def to_dict(self, levels=DEFAULT_PERCENTILES) -> dict[str, Any]:
        # A forecast of work no run can finish has no totals or effort when they would need
        # the random draws (engine.not_done_histograms): those histograms are then empty.
        empty = np.zeros(1, dtype=np.int64)
        totals, effort = self.histograms.totals, self.histograms.effort
        periods, counts = nonzero_pairs(self.counts)
        totals_i, totals_c = nonzero_pairs(empty if totals is None else totals)
        totals_v = self.histograms.total_values()[totals_i].tolist()
        effort_v, effort_c = nonzero_pairs(empty if effort is None else effort)
        effort_v = [v * self.histograms.effort_width for v in effort_v]
        out: dict[str, Any] = {
            "kind": "when" if self.scenario.deadline is None else "deadline",
            "engine_version": engine_version(),
            "runs": self.runs,
            "runs_requested": self.runs_requested,
            "seed": self.seed,
            "period_days": self.scenario.period_days,
            "start": self.scenario.start.isoformat() if self.scenario.start else None,
            "percentiles": self.percentiles(levels),
            "dates": self.dates(levels),
            "percentile_error": {_pct_key(p): self.percentile_error(p) for p in levels},
            "likelihood_table": self.likelihood_table(),
            "not_done": self.not_done,
            "not_done_share": self.not_done_share,
            "max_periods": self.scenario.max_periods,
            "mean_periods": self.mean_periods(),
            "histogram": {"periods": periods, "counts": counts},
            "items_histogram": {"items": totals_v, "counts": totals_c},
            "effort_histogram": {"person_weeks": effort_v, "counts": effort_c},
            "burn_down": self.burn_down_fan(),
            "checks": self.checks.to_dict(),
            "scenario": self.scenario.to_dict(),
        }
        if self.scenario.deadline is not None:
            prob = self.probability_by_deadline
            deadline_items = self.histograms.deadline_items
            # A deadline needs a start (Scenario checks it), so the periods to it are known
            # and the simulation counted the items done by it (unless nothing was simulated).
            assert prob is not None
            if deadline_items is None:
                deadline_items = empty
            out["deadline"] = self.scenario.deadline.isoformat()
            out["periods_to_deadline"] = self.periods_to_deadline
            out["probability_by_deadline"] = prob
            out["probability_by_deadline_text"] = format_probability(prob)
            out["items_by_deadline"] = {_pct_key(p): self.items_by_deadline(p) for p in levels}
            items_v, items_c = nonzero_pairs(deadline_items)
            items_v = [v * self.histograms.deadline_items_width for v in items_v]
            out["deadline_items_histogram"] = {"items": items_v, "counts": items_c}
        return out

    def percentiles_frame(self, levels=DEFAULT_PERCENTILES):
        import pandas as pd

        rows = []
        for p in levels:
            err = self.percentile_error(p)
            d = self.date_at(p)
            rows.append(
                {
                    "likelihood": p,
                    "periods": self.percentile(p),
                    "date": d,
                    "plus_minus": err["plus_minus"],
                }
            )
        return pd.DataFrame(rows).set_index("likelihood")

    def histogram_frame(self):
        import pandas as pd

        periods, counts = nonzero_pairs(self.counts)
        frame = pd.DataFrame({"periods": periods, "runs": counts})
        frame["share"] = frame["runs"] / self.runs
        frame["cumulative"] = frame["share"].cumsum()
        frame["not_done"] = frame["periods"] > self.scenario.max_periods
        return frame

    def likelihood_frame(self):
        import pandas as pd

        return pd.DataFrame(self.likelihood_table()).set_index("likelihood")

    def burn_down_frame(self):
        import pandas as pd

        return pd.DataFrame(self.burn_down_fan()).set_index("period")


@dataclass
class HowManyResult(_Answer):
    """The answer to "how many items in H periods?", read conservatively."""

    periods: int
    seed: int
    runs_requested: int

    @property
    def counts(self) -> np.ndarray:
        """Runs per number of items done: entry i counts i x width .. (i + 1) x width - 1 items.

        The width is 1 (one entry per item count) unless a fast team's horizon
        would need more than VALUE_BUCKETS entries (histograms.items_width).
        """
        items = self.histograms.items
        assert items is not None  # a "how many" simulation always fills it
        return items

    @property
    def width(self) -> int:
        """Items per entry of `counts` (1 unless the reachable counts pass VALUE_BUCKETS)."""
        return self.histograms.items_width

    def at_least(self, p: float) -> int:
        """With probability p at least this many items are done (the (1-p) lower tail)."""
        return at_least_index(self.counts, _level(p)) * self.width

    def at_least_table(self, levels=DEFAULT_PERCENTILES) -> dict[str, int]:
        return {_pct_key(p): self.at_least(p) for p in levels}

    def at_least_error(self, p: float, z: float = Z_95) -> dict[str, int]:
        below, above = order_statistic_band(_level(p), self.runs, z)
        low = at_least_index(self.counts, above) * self.width
        high = at_least_index(self.counts, below) * self.width
        value = self.at_least(p)
        return {"low": low, "high": high, "plus_minus": max(value - low, high - value)}

    @property
    def end_date(self) -> dt.date | None:
        return self.scenario.date_of(self.periods)

    def mean_items(self) -> float:
        values = np.arange(self.counts.size) * self.width  # a bucket's smallest count when bucketed
        return float((values * self.counts).sum() / self.runs)

    def to_dict(self, levels=DEFAULT_PERCENTILES) -> dict[str, Any]:
        items, counts = nonzero_pairs(self.counts)
        items = [v * self.width for v in items]
        end = self.end_date
        return {
            "kind": "how_many",
            "engine_version": engine_version(),
            "runs": self.runs,
            "runs_requested": self.runs_requested,
            "seed": self.seed,
            "periods": self.periods,
            "period_days": self.scenario.period_days,
            "start": self.scenario.start.isoformat() if self.scenario.start else None,
            "end": end.isoformat() if end else None,
            "at_least": self.at_least_table(levels),
            "at_least_error": {_pct_key(p): self.at_least_error(p) for p in levels},
            "mean_items": self.mean_items(),
            "items_histogram": {"items": items, "counts": counts},
            "checks": self.checks.to_dict(),
            "scenario": self.scenario.to_dict(),
        }

    def at_least_frame(self, levels=DEFAULT_PERCENTILES):
        import pandas as pd

        return pd.DataFrame(
            [{"likelihood": p, "at_least": self.at_least(p)} for p in levels]
        ).set_index("likelihood")

    def histogram_frame(self):
        import pandas as pd

        items, counts = nonzero_pairs(self.counts)
        return pd.DataFrame({"items": [v * self.width for v in items], "runs": counts})


Result = ForecastResult | HowManyResult
"""Either answer: what a forecast job returns."""
