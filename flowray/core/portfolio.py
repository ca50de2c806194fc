"""The inputs of a portfolio forecast: teams, an ordered list of features, blackouts, checked.

A portfolio asks "when will each of these features be done?" of a list of
features in priority order, worked by several teams at once. Everything is
checked on construction, so bad input fails with an `InputError` naming the
field, the value and the rule before any run is simulated. The model itself
(one run, simulated per period) is `core/portfolio_engine.py` and
docs/portfolio.md.

Sizes: a feature's size is known (items), a range [low, high] (a whole number
drawn uniformly per run), unknown (drawn per run from the past feature sizes),
or given per team (each team's items, a number or a range). Items already done
are subtracted from a whole-feature size; a size given per team is each team's
items left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowray.core.limits import (
    MAX_HISTORY_PERIODS,
    MAX_ITEMS,
    MAX_PERIOD_DAYS,
    MAX_PERIODS,
    MAX_THROUGHPUT,
)
from flowray.core.validation import choice, parse_date, text, whole_number
from flowray.exceptions import InputError

MAX_FEATURES = 1_000
"""Features in one portfolio (each adds two histograms of the horizon to every chunk)."""

MAX_TEAMS = 100
"""Teams in one portfolio."""

MAX_FEATURE_WIP = 1_000
"""Features one team works on at once."""

PORTFOLIO_SAMPLERS = ("bootstrap",)
"""Throughput samplers of a portfolio: plain bootstrap on the team's whole history."""

DEFAULT_MAX_PERIODS = 520


def _date(field_name: str, value: Any) -> dt.date:
    day = parse_date(field_name, value, empty_is_none=False)
    if day is None:
        raise InputError(field_name, value, "is required (a date written YYYY-MM-DD)")
    return day


@dataclass(frozen=True)
class Blackout:
    """Days (first and last included) on which no work is done: holidays, a freeze."""

    first: dt.date
    last: dt.date

    @classmethod
    def parse(cls, field_name: str, value: Any) -> Blackout:
        """A blackout from a Blackout or a pair of dates [first, last]."""
        if isinstance(value, Blackout):
            return value
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
            raise InputError(field_name, value, "must be a pair of dates [first, last]")
        first = _date(f"{field_name}[0]", value[0])
        last = _date(f"{field_name}[1]", value[1])
        if last < first:
            raise InputError(
                field_name,
                [first.isoformat(), last.isoformat()],
                "must not end before it starts",
            )
        return cls(first, last)

    def covers(self, day: dt.date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class Estimate:
    """A throughput estimate for a team with no history: whole numbers low..high, likely optional.

    Without `likely`, every whole number from low to high is equally likely;
    with it, a discrete triangular: the weight rises linearly from low to likely
    and falls linearly to high (weight of k is proportional to its distance to
    the far end plus one).
    """

    low: int
    high: int
    likely: int | None = None

    def __post_init__(self) -> None:
        low = whole_number("estimate.low", self.low, 0, MAX_THROUGHPUT)
        high = whole_number("estimate.high", self.high, 0, MAX_THROUGHPUT)
        if high < low:
            raise InputError("estimate.high", high, f"must be >= estimate.low ({low})")
        if high == 0:
            raise InputError("estimate.high", high, "must be >= 1 (a team that never delivers)")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        if self.likely is not None:
            likely = whole_number("estimate.likely", self.likely, low, high)
            object.__setattr__(self, "likely", likely)

    def weights(self) -> list[float]:
        """Weights of low, low + 1, ..., high (not normalised)."""
        if self.likely is None:
            return [1.0] * (self.high - self.low + 1)
        out = []
        for k in range(self.low, self.high + 1):
            if k <= self.likely:
                out.append((k - self.low + 1) / (self.likely - self.low + 1))
            else:
                out.append((self.high - k + 1) / (self.high - self.likely + 1))
        return out


@dataclass(frozen=True)
class PortfolioTeam:
    """One team: its throughput source, its feature WIP and its blackouts.

    `throughput` is the history (items per period, oldest first) given inline or
    read from a stored project; `history_starts` are the history periods' start
    dates when known (a stored project's), so that periods touched by a
    blackout are left out of the sample; `project` names the stored project the
    history was read from (kept when the portfolio is stored, so it is read again
    then). A team with neither history nor
    estimate cannot be forecast: its features say so.
    """

    name: str
    throughput: tuple[int, ...] | None = None
    estimate: Estimate | None = None
    feature_wip: int = 1
    blackouts: tuple[Blackout, ...] = ()
    history_starts: tuple[dt.date, ...] | None = None
    project: str | None = None

    def __post_init__(self) -> None:
        name = text("team.name", self.name, required=True)
        object.__setattr__(self, "name", name)
        where = f"teams[{name}]"
        object.__setattr__(self, "project", text(f"{where}.project", self.project))
        if self.throughput is not None and self.estimate is not None:
            raise InputError(
                f"{where}.estimate", "given", "give either a throughput history or an estimate"
            )
        if self.throughput is not None:
            values = self.throughput
            if isinstance(values, str) or not isinstance(values, Sequence):
                raise InputError(f"{where}.throughput", values, "must be a list of whole numbers")
            if not 1 <= len(values) <= MAX_HISTORY_PERIODS:
                raise InputError(
                    f"{where}.throughput",
                    len(values),
                    f"must hold 1 to {MAX_HISTORY_PERIODS} periods",
                )
            checked = tuple(
                whole_number(f"{where}.throughput[{i}]", v, 0, MAX_THROUGHPUT)
                for i, v in enumerate(values)
            )
            if not any(checked):
                raise InputError(f"{where}.throughput", list(checked), "must not be all 0")
            object.__setattr__(self, "throughput", checked)
        if self.estimate is not None and not isinstance(self.estimate, Estimate):
            estimate = self.estimate
            if not isinstance(estimate, Mapping) or not {"low", "high"} <= set(estimate):
                raise InputError(
                    f"{where}.estimate", estimate, "must be {low = L, high = H[, likely = M]}"
                )
            unknown = set(estimate) - {"low", "high", "likely"}
            if unknown:
                raise InputError(
                    f"{where}.estimate", sorted(unknown)[0], "keys are low, high and likely"
                )
            try:
                checked_estimate = Estimate(**dict(estimate))
            except InputError as exc:
                raise InputError(f"{where}.{exc.field}", exc.value, exc.rule) from None
            object.__setattr__(self, "estimate", checked_estimate)
        wip = whole_number(f"{where}.feature_wip", self.feature_wip, 1, MAX_FEATURE_WIP)
        object.__setattr__(self, "feature_wip", wip)
        if isinstance(self.blackouts, str) or not isinstance(self.blackouts, Sequence):
            raise InputError(f"{where}.blackouts", self.blackouts, "must be a list of date pairs")
        object.__setattr__(
            self,
            "blackouts",
            tuple(
                Blackout.parse(f"{where}.blackouts[{i}]", b) for i, b in enumerate(self.blackouts)
            ),
        )
        if self.history_starts is not None:
            starts = tuple(
                _date(f"{where}.history_starts[{i}]", d) for i, d in enumerate(self.history_starts)
            )
            if self.throughput is None or len(starts) != len(self.throughput):
                raise InputError(
                    f"{where}.history_starts",
                    len(starts),
                    "must give one start date per throughput period",
                )
            object.__setattr__(self, "history_starts", starts)

    @property
    def can_forecast(self) -> bool:
        return self.throughput is not None or self.estimate is not None


Size = int | tuple[int, int] | None


def _size(field_name: str, value: Any) -> int | tuple[int, int]:
    """A size: whole items >= 0, or a range [low, high] with low <= high."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise InputError(field_name, value, "must be a number of items or a range [low, high]")
        low = whole_number(f"{field_name}[0]", value[0], 0, MAX_ITEMS)
        high = whole_number(f"{field_name}[1]", value[1], 0, MAX_ITEMS)
        if high < low:
            raise InputError(field_name, [low, high], "low must be <= high")
        return (low, high) if high > low else low
    return whole_number(field_name, value, 0, MAX_ITEMS)


@dataclass(frozen=True)
class Feature:
    """One feature of the ordered list: its size, the items already done and its teams.

    `size` is a whole number of items, a range (low, high), None (drawn per run
    from the portfolio's feature_sizes), or a mapping team -> items (or range),
    which names the teams and gives each its items left. Otherwise `teams` names
    the teams and the size is split evenly among them (the first teams in the
    list take one more item when it does not divide).
    """

    name: str
    size: Size | Mapping[str, int | tuple[int, int]] = None
    done: int = 0
    teams: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        name = text("feature.name", self.name, required=True)
        object.__setattr__(self, "name", name)
        where = f"features[{name}]"
        done = whole_number(f"{where}.done", self.done, 0, MAX_ITEMS)
        object.__setattr__(self, "done", done)
        if isinstance(self.size, Mapping):
            if self.teams and list(self.teams) != list(self.size):
                raise InputError(
                    f"{where}.teams", list(self.teams), "must match the teams of a per-team size"
                )
            if done:
                raise InputError(
                    f"{where}.done",
                    done,
                    "must be 0 with a per-team size (give each team's items left)",
                )
            sizes = {str(team): _size(f"{where}.size.{team}", v) for team, v in self.size.items()}
            object.__setattr__(self, "size", sizes)
            object.__setattr__(self, "teams", tuple(sizes))
        elif self.size is not None:
            object.__setattr__(self, "size", _size(f"{where}.size", self.size))
        teams = self.teams
        if isinstance(teams, str) or not isinstance(teams, Sequence):
            raise InputError(f"{where}.teams", teams, "must be a list of team names")
        teams = tuple(text(f"{where}.teams", t, required=True) for t in teams)
        if not teams:
            raise InputError(f"{where}.teams", [], "a feature needs at least one team")
        if len(set(teams)) != len(teams):
            raise InputError(f"{where}.teams", list(teams), "must not name a team twice")
        object.__setattr__(self, "teams", teams)


def _built(kind: type[Any], field_name: str, index: int, value: Any) -> Any:
    """A team or feature given as a mapping of its fields, built (and so checked) here."""
    if not isinstance(value, Mapping):
        return value
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise InputError(
            f"{field_name}[{index}].{unknown[0]}",
            unknown[0],
            f"is not a key ({', '.join(sorted(known))})",
        )
    fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in value.items()}
    return kind(**fields)


@dataclass(frozen=True)
class Portfolio:
    """Teams, an ordered list of features (first = highest priority), dates and horizon.

    Teams and features may be given as objects or as mappings of their fields:
    `Portfolio(teams=[{"name": "web", "throughput": [3, 5, 0, 4]}], features=[{"name":
    "Login", "size": 12, "teams": ["web"]}], start="2026-01-05")`.
    """

    teams: tuple[PortfolioTeam, ...]
    features: tuple[Feature, ...]
    start: dt.date
    target: dt.date | None = None
    period_days: int = 7
    level: float = 85.0
    feature_sizes: tuple[int, ...] = ()
    blackouts: tuple[Blackout, ...] = ()
    max_periods: int = DEFAULT_MAX_PERIODS
    sampler: str = "bootstrap"
    names: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        teams = (
            tuple(_built(PortfolioTeam, "teams", i, t) for i, t in enumerate(self.teams))
            if isinstance(self.teams, Sequence) and not isinstance(self.teams, str)
            else None
        )
        if not teams:
            raise InputError("teams", self.teams, "a portfolio needs at least one team")
        if len(teams) > MAX_TEAMS:
            raise InputError("teams", len(teams), f"must be at most {MAX_TEAMS}")
        for team in teams:
            if not isinstance(team, PortfolioTeam):
                raise InputError("teams", type(team).__name__, "must hold PortfolioTeam objects")
        names = {team.name: i for i, team in enumerate(teams)}
        if len(names) != len(teams):
            raise InputError("teams", [t.name for t in teams], "team names must be unique")
        features = (
            tuple(_built(Feature, "features", i, f) for i, f in enumerate(self.features))
            if isinstance(self.features, Sequence) and not isinstance(self.features, str)
            else None
        )
        if not features:
            raise InputError("features", self.features, "a portfolio needs at least one feature")
        if len(features) > MAX_FEATURES:
            raise InputError("features", len(features), f"must be at most {MAX_FEATURES}")
        seen: set[str] = set()
        for feature in features:
            if not isinstance(feature, Feature):
                raise InputError("features", type(feature).__name__, "must hold Feature objects")
            if feature.name in seen:
                raise InputError("features", feature.name, "feature names must be unique")
            seen.add(feature.name)
            for team_name in feature.teams:
                if team_name not in names:
                    raise InputError(
                        f"features[{feature.name}].teams",
                        team_name,
                        f"is not a team of this portfolio ({', '.join(names)})",
                    )
        object.__setattr__(self, "teams", teams)
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "names", names)
        start = _date("start", self.start)
        object.__setattr__(self, "start", start)
        period_days = whole_number("period_days", self.period_days, 1, MAX_PERIOD_DAYS)
        object.__setattr__(self, "period_days", period_days)
        max_periods = whole_number("max_periods", self.max_periods, 1, MAX_PERIODS)
        object.__setattr__(self, "max_periods", max_periods)
        if self.target is not None:
            target = _date("target", self.target)
            if target < start:
                raise InputError(
                    "target", target.isoformat(), f"must not be before the start ({start})"
                )
            object.__setattr__(self, "target", target)
            if self.target_periods is not None and self.target_periods > max_periods:
                raise InputError(
                    "target",
                    target.isoformat(),
                    f"is {self.target_periods} periods after the start, beyond "
                    f"max_periods={max_periods}; raise max_periods",
                )
        from flowray.core.validation import finite_number

        level = finite_number("level", self.level, 0, 100)
        if level <= 0 or level >= 100:
            raise InputError("level", self.level, "must lie strictly between 0 and 100 (percent)")
        object.__setattr__(self, "level", level)
        sizes = self.feature_sizes
        if isinstance(sizes, str) or not isinstance(sizes, Sequence):
            raise InputError("feature_sizes", sizes, "must be a list of whole numbers")
        object.__setattr__(
            self,
            "feature_sizes",
            tuple(
                whole_number(f"feature_sizes[{i}]", v, 0, MAX_ITEMS) for i, v in enumerate(sizes)
            ),
        )
        for feature in features:
            if feature.size is None and not self.feature_sizes:
                raise InputError(
                    f"features[{feature.name}].size",
                    None,
                    "is required when the portfolio gives no feature_sizes to draw from",
                )
        if isinstance(self.blackouts, str) or not isinstance(self.blackouts, Sequence):
            raise InputError("blackouts", self.blackouts, "must be a list of date pairs")
        object.__setattr__(
            self,
            "blackouts",
            tuple(Blackout.parse(f"blackouts[{i}]", b) for i, b in enumerate(self.blackouts)),
        )
        object.__setattr__(self, "sampler", choice("sampler", self.sampler, PORTFOLIO_SAMPLERS))

    @property
    def target_periods(self) -> int | None:
        """Whole periods that end on or before the target, as in 'when'."""
        if self.target is None:
            return None
        return (self.target - self.start).days // self.period_days

    def period_end(self, periods: int) -> dt.date:
        """The date on which `periods` periods after the start end."""
        return self.start + dt.timedelta(days=periods * self.period_days)

    def with_changes(self, **changes: Any) -> Portfolio:
        """A copy with some fields replaced (checked again)."""
        return dataclasses.replace(self, **changes)

    def cannot_forecast(self) -> list[bool]:
        """Per feature: True when one of its teams has neither history nor estimate."""
        return [
            any(not self.teams[self.names[t]].can_forecast for t in f.teams) for f in self.features
        ]


def _size_value(size: Any) -> Any:
    return list(size) if isinstance(size, tuple) else size


def portfolio_definition(portfolio: Portfolio) -> dict[str, Any]:
    """The portfolio as the mapping its TOML file holds, so it can be stored and read back.

    `parse_portfolio(portfolio_definition(p))` rebuilds `p` for teams with an
    inline history or an estimate; a team read from a stored project keeps
    `project = NAME` (its history is read again when the definition is parsed),
    so a stored portfolio follows its teams' current histories.
    """
    teams: list[dict[str, Any]] = []
    for team in portfolio.teams:
        entry: dict[str, Any] = {"name": team.name}
        if team.project is not None:
            entry["project"] = team.project
        elif team.throughput is not None:
            entry["throughput"] = list(team.throughput)
        elif team.estimate is not None:
            estimate: dict[str, Any] = {"low": team.estimate.low, "high": team.estimate.high}
            if team.estimate.likely is not None:
                estimate["likely"] = team.estimate.likely
            entry["estimate"] = estimate
        entry["feature_wip"] = team.feature_wip
        if team.blackouts:
            entry["blackouts"] = [[b.first.isoformat(), b.last.isoformat()] for b in team.blackouts]
        teams.append(entry)
    features: list[dict[str, Any]] = []
    for feature in portfolio.features:
        item: dict[str, Any] = {"name": feature.name}
        if isinstance(feature.size, Mapping):
            item["size"] = {team: _size_value(v) for team, v in feature.size.items()}
        elif feature.size is not None:
            item["size"] = _size_value(feature.size)
        if feature.done:
            item["done"] = feature.done
        item["teams"] = list(feature.teams)
        features.append(item)
    out: dict[str, Any] = {"start": portfolio.start.isoformat()}
    if portfolio.target is not None:
        out["target"] = portfolio.target.isoformat()
    out.update(period_days=portfolio.period_days, level=portfolio.level)
    if portfolio.feature_sizes:
        out["feature_sizes"] = list(portfolio.feature_sizes)
    if portfolio.blackouts:
        out["blackouts"] = [[b.first.isoformat(), b.last.isoformat()] for b in portfolio.blackouts]
    if portfolio.max_periods != DEFAULT_MAX_PERIODS:
        out["max_periods"] = portfolio.max_periods
    out["teams"] = teams
    out["features"] = features
    return out


def team_histories(portfolio: Portfolio) -> dict[str, dict[str, Any]]:
    """Each project team's history as used (items and period starts): what makes a forecast
    of a stored portfolio reproducible after the projects' histories move on."""
    return {
        team.name: {
            "project": team.project,
            "throughput": list(team.throughput or ()),
            "history_starts": [d.isoformat() for d in team.history_starts or ()],
        }
        for team in portfolio.teams
        if team.project is not None
    }
