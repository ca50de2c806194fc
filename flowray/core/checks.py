"""Checks on a throughput history: is it enough, is it stable, does it hold surprises?

These are the questions a delivery analyst asks before trusting any forecast
built on the history; they travel with every result as warnings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

MIN_PERIODS = 8  # below this a forecast is refused unless forced (DOMAIN "honesty guards")
STABILITY_GREAT = 10.0
STABILITY_GOOD = 25.0
XMR_NATURAL_LIMIT = 2.66  # X chart: mean +/- 2.66 x average moving range
XMR_RANGE_LIMIT = 3.268  # mR chart upper limit: 3.268 x average moving range
RUN_LENGTH = 8  # eight in a row on one side of the mean is a signal
STALE_AFTER_PERIODS = 2  # a gap of more periods than this between history and start is worth a word


@dataclass(frozen=True)
class XmrSignal:
    index: int  # 0-based position in the history (oldest first)
    rule: str  # "above upper limit", "below lower limit", "run of 8 above/below mean", "large jump"
    value: float


@dataclass(frozen=True)
class HistoryChecks:
    count: int
    mean: float
    cv: float | None  # sample standard deviation / mean; None with fewer than 2 periods
    zero_share: float
    stability_pct: float | None  # |mean(first half) - mean(second half)| / mean x 100
    stability: str  # "great" (< 10 %), "good" (< 25 %), "unstable", or "unknown"
    xmr_mean: float
    xmr_lower: float
    xmr_upper: float
    xmr_range_upper: float
    signals: tuple[XmrSignal, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["signals"] = [asdict(s) for s in self.signals]
        data["warnings"] = list(self.warnings)
        return data


def _xmr_signals(x: np.ndarray, mean: float, lower: float, upper: float, range_upper: float):
    signals: list[XmrSignal] = []
    for i, v in enumerate(x):
        if v > upper:
            signals.append(XmrSignal(i, "above upper limit", float(v)))
        elif v < lower:
            signals.append(XmrSignal(i, "below lower limit", float(v)))
    side = np.sign(x - mean)
    run_start = 0
    for i in range(1, len(x) + 1):
        if i == len(x) or side[i] != side[run_start] or side[i] == 0:
            if side[run_start] != 0 and i - run_start >= RUN_LENGTH:
                where = "above" if side[run_start] > 0 else "below"
                signals.append(
                    XmrSignal(i - 1, f"run of {i - run_start} {where} mean", float(x[i - 1]))
                )
            run_start = i
    jumps = np.abs(np.diff(x))
    for i, jump in enumerate(jumps, start=1):
        if range_upper > 0 and jump > range_upper:
            signals.append(XmrSignal(i, "large jump", float(x[i])))
    return tuple(sorted(signals, key=lambda s: (s.index, s.rule)))


def check_history(history: Sequence[float]) -> HistoryChecks:
    """Summary statistics, stability and XmR process-behaviour limits of a history."""
    x = np.asarray(history, dtype=float)
    count = int(x.size)
    mean = float(x.mean()) if count else 0.0
    cv = float(x.std(ddof=1) / mean) if count >= 2 and mean > 0 else None
    zero_share = float((x == 0).mean()) if count else 0.0
    stability_pct: float | None = None
    stability = "unknown"
    if count >= 4 and mean > 0:
        half = count // 2
        stability_pct = float(abs(x[:half].mean() - x[-half:].mean()) / mean * 100.0)
        if stability_pct < STABILITY_GREAT:
            stability = "great"
        elif stability_pct < STABILITY_GOOD:
            stability = "good"
        else:
            stability = "unstable"
    moving_range = float(np.abs(np.diff(x)).mean()) if count >= 2 else 0.0
    upper = mean + XMR_NATURAL_LIMIT * moving_range
    lower = max(0.0, mean - XMR_NATURAL_LIMIT * moving_range)
    range_upper = XMR_RANGE_LIMIT * moving_range
    signals = _xmr_signals(x, mean, lower, upper, range_upper) if count >= 2 else ()
    warnings: list[str] = []
    if count < MIN_PERIODS:
        warnings.append(
            f"Only {count} periods of history: at least {MIN_PERIODS} are needed for a trustworthy forecast."
        )
    if stability == "unstable":
        warnings.append(
            f"Unstable history: the two halves differ by {stability_pct:.0f}% of the mean "
            f"(good is below {STABILITY_GOOD:.0f}%). Consider a shorter, recent window."
        )
    if signals:
        recent = [s for s in signals if s.index >= count - 8]
        warnings.append(
            f"{len(signals)} XmR signal(s) in the history"
            + (f", {len(recent)} in the last 8 periods" if recent else "")
            + ": the process may have changed."
        )
    if zero_share > 0.5:
        warnings.append(f"{zero_share:.0%} of periods have zero throughput: work is intermittent.")
    return HistoryChecks(
        count=count,
        mean=mean,
        cv=cv,
        zero_share=zero_share,
        stability_pct=stability_pct,
        stability=stability,
        xmr_mean=mean,
        xmr_lower=lower,
        xmr_upper=upper,
        xmr_range_upper=range_upper,
        signals=signals,
        warnings=tuple(warnings),
    )


def stale_history_warning(
    history_ends: dt.date, start: dt.date, period_days: int = 7
) -> str | None:
    """A warning in words when the history stops well before the forecast starts, else None.

    `history_ends` is the day after the last period of history. The simulation
    assumes the team kept working as its history shows through the gap, which
    nobody has checked; more than STALE_AFTER_PERIODS periods of it deserves a word.
    """
    from flowray.text import period_word

    gap_days = (start - history_ends).days
    if gap_days <= STALE_AFTER_PERIODS * period_days:
        return None
    gap = gap_days // period_days
    return (
        f"The history ends {gap} {period_word(period_days, gap)} before the start: "
        "the forecast assumes nothing changed since. Add the recent history for a current forecast."
    )
