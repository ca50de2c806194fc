"""One forecasting scenario: the inputs of docs/model.md, validated on construction.

A Scenario is immutable, picklable (it travels to Ray workers) and converts to
and from plain JSON (`to_dict` / `from_dict`) so the ledger can store exactly
what a forecast was made from.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowray.core.limits import (
    MAX_CONTRIBUTORS,
    MAX_HISTORY_PERIODS,
    MAX_HORIZON_DAYS,
    MAX_ITEMS,
    MAX_LEAD_TIME_DAYS,
    MAX_PERIOD_DAYS,
    MAX_PERIODS,
    MAX_SPLIT_RATE,
    MAX_THROUGHPUT,
)
from flowray.core.validation import finite_number, parse_date, whole_number
from flowray.exceptions import InputError

DEFAULT_MAX_PERIODS = 520
MAX_S_CURVE = 50.0


@dataclass(frozen=True)
class Risk:
    """A risk that fires with `likelihood` and then adds round(triangular(low, mode, high)) items."""

    likelihood: float
    low: float
    mode: float
    high: float

    def __post_init__(self) -> None:
        lik = finite_number("risks.likelihood", self.likelihood)
        if not 0.0 <= lik <= 1.0:
            raise InputError("risks.likelihood", self.likelihood, "must lie in [0, 1]")
        low = finite_number("risks.low", self.low, maximum=MAX_ITEMS)
        mode = finite_number("risks.mode", self.mode, maximum=MAX_ITEMS)
        high = finite_number("risks.high", self.high, maximum=MAX_ITEMS)
        if low < 0:
            raise InputError("risks.low", self.low, "must be >= 0")
        if not low <= mode <= high:
            raise InputError(
                "risks", (low, mode, high), "needs low <= mode <= high (low > high is not allowed)"
            )
        for name, val in (("likelihood", lik), ("low", low), ("mode", mode), ("high", high)):
            object.__setattr__(self, name, val)

    @classmethod
    def parse(cls, value: Any) -> Risk:
        """Accept a Risk, a (likelihood, low, mode, high) sequence or a mapping."""
        if isinstance(value, Risk):
            return value
        keys = ("likelihood", "low", "mode", "high")
        if isinstance(value, Mapping):
            missing = [k for k in keys if k not in value]
            unknown = sorted(str(k) for k in value if k not in keys)
            if missing or unknown:
                problem = f"missing {missing}" if missing else f"unknown keys {unknown}"
                raise InputError("risks", dict(value), f"{problem}; a risk has {list(keys)}")
            return cls(**{k: value[k] for k in keys})
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 4:
            return cls(*value)
        raise InputError("risks", value, "each risk is (likelihood, low, mode, high)")


@dataclass(frozen=True)
class Team:
    """Who does the work: history_size people produced the history; min..max are active now.

    Throughput is scaled by active / history_size. With an S-curve, the active
    contributors ramp from min to max over the first s_curve % of the work and
    back down over the last s_curve %.
    """

    history_size: float = 1.0
    min_contributors: float | None = None
    max_contributors: float | None = None
    s_curve: float = 0.0

    def __post_init__(self) -> None:
        size = finite_number("team.history_size", self.history_size, maximum=MAX_CONTRIBUTORS)
        if size <= 0:
            raise InputError("team.history_size", self.history_size, "must be > 0")
        high = size if self.max_contributors is None else self.max_contributors
        high = finite_number("team.max_contributors", high, maximum=MAX_CONTRIBUTORS)
        low = high if self.min_contributors is None else self.min_contributors
        low = finite_number("team.min_contributors", low, maximum=MAX_CONTRIBUTORS)
        if low < 0:
            raise InputError("team.min_contributors", low, "must be >= 0")
        if high <= 0:
            raise InputError("team.max_contributors", high, "must be > 0")
        if low > high:
            raise InputError(
                "team.contributors", (low, high), "needs min <= max (low > high is not allowed)"
            )
        curve = finite_number("team.s_curve", self.s_curve)
        if not 0.0 <= curve <= MAX_S_CURVE:
            raise InputError("team.s_curve", self.s_curve, "must lie in [0, 50] (percent)")
        if curve > 0 and low == 0:
            raise InputError(
                "team.min_contributors",
                low,
                "must be > 0 with an S-curve: zero contributors would never start the work",
            )
        object.__setattr__(self, "history_size", size)
        object.__setattr__(self, "min_contributors", low)
        object.__setattr__(self, "max_contributors", high)
        object.__setattr__(self, "s_curve", curve)

    @classmethod
    def parse(cls, value: Any) -> Team:
        if value is None:
            return cls()
        if isinstance(value, Team):
            return value
        if isinstance(value, Mapping):
            known = {"history_size", "min_contributors", "max_contributors", "s_curve"}
            unknown = set(value) - known
            if unknown:
                raise InputError("team", dict(value), f"unknown keys {sorted(unknown)}")
            return cls(**value)
        raise InputError("team", value, "must be a Team or a mapping of its fields")

    def contributors(self, fraction_done: float) -> float:
        """Active contributors when `fraction_done` of the work is complete (the S-curve)."""
        # __post_init__ fills both bounds in, so they are never None here.
        assert self.min_contributors is not None and self.max_contributors is not None
        low, high = float(self.min_contributors), float(self.max_contributors)
        ramp = self.s_curve / 100.0
        if ramp <= 0:
            return high
        if fraction_done < ramp:
            return low + (high - low) * fraction_done / ramp
        if fraction_done > 1.0 - ramp:
            return low + (high - low) * max(0.0, 1.0 - fraction_done) / ramp
        return high


def _parse_backlog(value: Any) -> int | tuple[int, int]:
    if isinstance(value, Mapping):
        value = (value.get("low"), value.get("high"))
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise InputError("backlog", value, "a range is (low, high)")
        low = whole_number("backlog.low", value[0], 0, MAX_ITEMS)
        high = whole_number("backlog.high", value[1], 0, MAX_ITEMS)
        if low > high:
            raise InputError(
                "backlog", (low, high), "needs low <= high (low > high is not allowed)"
            )
        return (low, high) if low != high else low
    return whole_number("backlog", value, 0, MAX_ITEMS)


def _parse_split(value: Any) -> tuple[tuple[float, float] | None, tuple[float, ...] | None]:
    """A tuple (low, high) is a uniform range; a list is samples; a mapping names which."""
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        if "samples" in value:
            value = list(value["samples"])
        elif "low" in value and "high" in value:
            value = (value["low"], value["high"])
        else:
            raise InputError("split_rate", value, "use {'low', 'high'} or {'samples': [...]}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, tuple):
        if len(value) != 2:
            raise InputError("split_rate", value, "a range is (low, high)")
        low = finite_number("split_rate.low", value[0], maximum=MAX_SPLIT_RATE)
        high = finite_number("split_rate.high", value[1], maximum=MAX_SPLIT_RATE)
        if low <= 0 or high <= 0:
            raise InputError("split_rate", value, "each split rate must be > 0 (1.0 = no split)")
        if low > high:
            raise InputError("split_rate", value, "needs low <= high (low > high is not allowed)")
        return (low, high), None
    if isinstance(value, Iterable) and not isinstance(value, str):
        samples = tuple(finite_number("split_rate", v, maximum=MAX_SPLIT_RATE) for v in value)
        if not samples:
            raise InputError("split_rate", value, "needs at least one sample")
        if min(samples) <= 0:
            raise InputError("split_rate", value, "each split rate must be > 0 (1.0 = no split)")
        return None, samples
    raise InputError("split_rate", value, "must be (low, high), a list of samples, or None")


def _parse_throughput(value: Any) -> tuple[float, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InputError("throughput", value, "must be a list of items completed per period")
    raw = list(value)
    if not raw:
        raise InputError("throughput", raw, "needs at least 1 value")
    if len(raw) > MAX_HISTORY_PERIODS:
        raise InputError(
            "throughput", f"{len(raw)} periods", f"must hold at most {MAX_HISTORY_PERIODS} periods"
        )
    out = []
    for i, v in enumerate(raw):
        try:
            number = float(v)
        except (TypeError, ValueError):
            raise InputError(f"throughput[{i}]", v, "must be a number") from None
        if not math.isfinite(number):
            raise InputError(f"throughput[{i}]", v, "must be finite (no NaN or infinity)")
        if number < 0:
            raise InputError(f"throughput[{i}]", v, "must be >= 0")
        if number > MAX_THROUGHPUT:
            raise InputError(f"throughput[{i}]", v, f"must be <= {MAX_THROUGHPUT} items a period")
        out.append(number)
    if max(out) == 0:
        raise InputError(
            "throughput",
            raw if len(raw) <= 12 else f"{len(raw)} zeros",
            "must not be all 0: nothing would ever finish",
        )
    return tuple(out)


@dataclass(frozen=True)
class Scenario:
    """The inputs of one forecast, named as in docs/model.md."""

    throughput: Sequence[float]  # any sequence of numbers; stored as a tuple of floats
    backlog: int | tuple[int, int] = 0
    period_days: int = 7
    split_rate: Any = None
    risks: tuple[Risk, ...] = ()
    team: Team = field(default_factory=Team)
    focus: float = 1.0
    lead_time_days: tuple[float, ...] | None = None
    start: dt.date | None = None
    deadline: dt.date | None = None
    max_periods: int = DEFAULT_MAX_PERIODS
    sampler: str = "bootstrap"
    split_range: tuple[float, float] | None = field(default=None, init=False, repr=False)
    split_samples: tuple[float, ...] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "throughput", _parse_throughput(self.throughput))
        put(self, "period_days", whole_number("period_days", self.period_days, 1, MAX_PERIOD_DAYS))
        put(self, "backlog", _parse_backlog(self.backlog))
        split_range, split_samples = _parse_split(self.split_rate)
        put(self, "split_range", split_range)
        put(self, "split_samples", split_samples)
        put(self, "split_rate", split_range if split_range is not None else split_samples)
        risks = self.risks if self.risks is not None else ()
        if isinstance(risks, (str, bytes)) or not isinstance(risks, Iterable):
            raise InputError("risks", risks, "must be a list of (likelihood, low, mode, high)")
        put(self, "risks", tuple(Risk.parse(r) for r in risks))
        put(self, "team", Team.parse(self.team))
        focus = finite_number("focus", self.focus)
        if not 0.0 < focus <= 1.0:
            raise InputError("focus", self.focus, "must be > 0 and <= 1 (share of capacity)")
        put(self, "focus", focus)
        if self.lead_time_days is not None:
            if isinstance(self.lead_time_days, str) or not isinstance(
                self.lead_time_days, Iterable
            ):
                raise InputError("lead_time_days", self.lead_time_days, "must be a list of days")
            leads = tuple(
                finite_number("lead_time_days", v, maximum=MAX_LEAD_TIME_DAYS)
                for v in self.lead_time_days
            )
            if not leads:
                put(self, "lead_time_days", None)
            else:
                if min(leads) < 0:
                    raise InputError("lead_time_days", self.lead_time_days, "each must be >= 0")
                put(self, "lead_time_days", leads)
        put(self, "start", parse_date("start", self.start))
        put(self, "deadline", parse_date("deadline", self.deadline))
        start, deadline = self.start, self.deadline
        if deadline is not None and start is None:
            raise InputError("deadline", deadline.isoformat(), "needs a start date")
        if deadline is not None and start is not None and deadline <= start:
            raise InputError(
                "deadline",
                deadline.isoformat(),
                f"must be after the start ({start.isoformat()})",
            )
        put(self, "max_periods", whole_number("max_periods", self.max_periods, 1, MAX_PERIODS))
        if self.max_periods * self.period_days > MAX_HORIZON_DAYS:
            raise InputError(
                "max_periods",
                self.max_periods,
                f"times period_days={self.period_days} must span at most {MAX_HORIZON_DAYS} days "
                f"(at most {MAX_HORIZON_DAYS // self.period_days} periods)",
            )
        reach = self.max_total_items() - 1  # max_total_items keeps one item of slack for sizing
        if reach > MAX_ITEMS:
            raise InputError(
                "backlog",
                self.to_dict()["backlog"],
                f"with its risks and splits may reach {reach} items; "
                f"the largest accepted is {MAX_ITEMS}",
            )
        if not isinstance(self.sampler, str) or not self.sampler:
            raise InputError("sampler", self.sampler, "must be a sampler name")

    # -- derived values ---------------------------------------------------
    @property
    def backlog_range(self) -> tuple[int, int]:
        if isinstance(self.backlog, tuple):
            return self.backlog
        return (self.backlog, self.backlog)

    @property
    def periods_to_deadline(self) -> int | None:
        """Whole periods between start and deadline (rounded down: a part period is not a period)."""
        if self.deadline is None or self.start is None:
            return None
        return (self.deadline - self.start).days // self.period_days

    def max_total_items(self) -> int:
        """An upper bound of total items in any run (sizes the histograms)."""
        high = self.backlog_range[1] + sum(math.ceil(r.high) for r in self.risks)
        split = 1.0
        if self.split_range is not None:
            split = self.split_range[1]
        elif self.split_samples is not None:
            split = max(self.split_samples)
        return int(math.ceil(high * split)) + 1

    def date_of(self, periods: int) -> dt.date | None:
        """Calendar date when `periods` periods after the start have passed."""
        if self.start is None:
            return None
        return self.start + dt.timedelta(days=int(periods) * self.period_days)

    def replace(self, **changes: Any) -> Scenario:
        data = self.to_dict()
        data.update(changes)
        return Scenario.from_dict(data)

    # -- JSON ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        split: dict[str, Any] | None = None
        if self.split_range is not None:
            split = {"low": self.split_range[0], "high": self.split_range[1]}
        elif self.split_samples is not None:
            split = {"samples": list(self.split_samples)}
        backlog: Any = self.backlog
        if isinstance(backlog, tuple):
            backlog = {"low": backlog[0], "high": backlog[1]}
        return {
            "throughput": list(self.throughput),
            "period_days": self.period_days,
            "backlog": backlog,
            "split_rate": split,
            "risks": [
                {"likelihood": r.likelihood, "low": r.low, "mode": r.mode, "high": r.high}
                for r in self.risks
            ],
            "team": {
                "history_size": self.team.history_size,
                "min_contributors": self.team.min_contributors,
                "max_contributors": self.team.max_contributors,
                "s_curve": self.team.s_curve,
            },
            "focus": self.focus,
            "lead_time_days": list(self.lead_time_days) if self.lead_time_days else None,
            "start": self.start.isoformat() if self.start else None,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "max_periods": self.max_periods,
            "sampler": self.sampler,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        known = {
            "throughput",
            "backlog",
            "period_days",
            "split_rate",
            "risks",
            "team",
            "focus",
            "lead_time_days",
            "start",
            "deadline",
            "max_periods",
            "sampler",
        }
        unknown = set(data) - known
        if unknown:
            raise InputError("scenario", sorted(unknown), f"unknown fields; known: {sorted(known)}")
        return cls(**dict(data))
