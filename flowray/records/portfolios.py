"""Stored portfolios, the features marked done, and the immutable portfolio forecasts.

A portfolio's definition is the mapping its TOML file holds
(`core.portfolio.portfolio_definition`), kept as append-only revisions: saving
it again adds a revision, so every forecast keeps the definition it was made
from. A forecast is appended with, per feature, its answers and its exact
histogram of completion periods; nothing ever updates or deletes it. When a
feature is marked done, every saved forecast of that portfolio that covered it
is scored for that feature, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowray.core.histograms import Distribution
from flowray.core.scoring import SCORING_METHOD, LevelScore, periods_between, score_distribution
from flowray.core.validation import finite_number, parse_date, text, whole_number
from flowray.exceptions import InputError
from flowray.records.base import Connection, Record, Work, current_user, dumps, utcnow
from flowray.records.projects import ensure_user

if TYPE_CHECKING:  # pragma: no cover - typing only
    from flowray.core.portfolio_results import PortfolioResult

PORTFOLIO_METHOD = "bootstrap"
"""How a portfolio forecast draws throughput: plain bootstrap of each team's whole history."""


@dataclass(frozen=True)
class FeatureDone(Record):
    """A feature of a stored portfolio marked done: on which day, recorded when and by whom."""

    feature: str
    done_on: dt.date
    recorded_at: dt.datetime
    recorded_by: str


@dataclass(frozen=True)
class StoredPortfolio(Record):
    """A stored portfolio: its latest definition (the TOML mapping) and its features done."""

    portfolio_id: int
    name: str
    revision: int
    definition: dict[str, Any]
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    updated_by: str
    done: list[FeatureDone] = field(default_factory=list)


@dataclass(frozen=True)
class FeatureScore(Record):
    """How one saved forecast fared for one feature once the feature was done."""

    done_on: dt.date
    actual_value: int  # periods from the forecast's start, counted as the engine dates them
    pit: float | None
    pit_low: float | None
    pit_high: float | None
    crps: float | None
    median: float | None
    target_met: bool | None
    brier: float | None
    levels: dict[int, LevelScore]


@dataclass(frozen=True)
class FeatureForecast(Record):
    """One feature of a saved portfolio forecast (list order = position)."""

    position: int
    feature: str
    cannot_forecast: bool
    not_done: int
    p_target: float | None
    all_done_by_target: float | None
    score: FeatureScore | None = None


@dataclass(frozen=True)
class PortfolioForecastRecord(Record):
    """One saved portfolio forecast, its features (with scores once done) and its result."""

    forecast_id: int
    portfolio: str
    revision: int
    created_at: dt.datetime
    created_by: str
    name: str | None
    seed: int
    runs: int
    runs_asked: int
    sampler: str
    method: str
    start_date: dt.date
    target: dt.date | None
    period_days: int
    level: float
    max_periods: int
    cut_line: int | None
    engine_version: str | None
    features: list[FeatureForecast]
    result: dict[str, Any]
    inputs: dict[str, Any]


@dataclass(frozen=True)
class PreparedPortfolioForecast:
    """A portfolio forecast's rows, built and checked before any lock is taken."""

    definition: dict[str, Any]
    row: dict[str, Any]
    features: list[list[Any]]
    distribution: list[list[int]]  # position, value, count


def portfolio_name(value: Any) -> str:
    name = text("name", value, required=True)
    if len(name) > 200:
        raise InputError("name", name[:40] + "...", "must be at most 200 characters")
    return name


def _definition_row(definition: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(definition, Mapping):
        raise InputError("definition", type(definition).__name__, "must be a portfolio mapping")
    start = parse_date("definition.start", definition.get("start"))
    if start is None:
        raise InputError("definition.start", None, "is required (a date written YYYY-MM-DD)")
    features = definition.get("features")
    if not isinstance(features, Sequence) or not features:
        raise InputError("definition.features", features, "needs at least one feature")
    return {
        "start_date": start,
        "target": parse_date("definition.target", definition.get("target")),
        "period_days": whole_number("definition.period_days", definition.get("period_days", 7), 1),
        "level": finite_number("definition.level", definition.get("level", 85.0), 0, 100),
        "features": len(features),
        "definition": dumps(definition),
    }


def _find(con: Connection, name: str) -> int | None:
    con.execute("SELECT portfolio_id FROM portfolios WHERE name = ?", [name])
    row = con.fetchone()
    return None if row is None else int(row[0])


def _require(con: Connection, name: str) -> int:
    pid = _find(con, name)
    if pid is None:
        con.execute("SELECT name FROM portfolios ORDER BY name LIMIT 20")
        known = [r[0] for r in con.fetchall()]
        raise InputError("portfolio", name, f"no such stored portfolio; known: {known}")
    return pid


def _latest(con: Connection, pid: int) -> tuple[int, dict[str, Any]]:
    con.execute(
        "SELECT revision, definition FROM portfolio_definitions WHERE portfolio_id = ? "
        "ORDER BY revision DESC LIMIT 1",
        [pid],
    )
    revision, definition = con.fetchone()
    return int(revision), json.loads(definition)


def _store_definition(
    con: Connection, name: str, row: Mapping[str, Any], who: str
) -> tuple[int, int]:
    """(portfolio id, revision) of the definition: a new revision unless it equals the latest."""
    ensure_user(con, who)
    now = utcnow()
    pid = _find(con, name)
    if pid is None:
        con.execute(
            "INSERT INTO portfolios (name, created_at, created_by) VALUES (?, ?, ?) "
            "RETURNING portfolio_id",
            [name, now, who],
        )
        pid = int(con.fetchone()[0])
        revision = 0
    else:
        revision, latest = _latest(con, pid)
        if latest == json.loads(row["definition"]):
            return pid, revision
    con.execute(
        "INSERT INTO portfolio_definitions (portfolio_id, revision, created_at, created_by, "
        "start_date, target, period_days, level, features, definition) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            pid,
            revision + 1,
            now,
            who,
            row["start_date"],
            row["target"],
            row["period_days"],
            row["level"],
            row["features"],
            row["definition"],
        ],
    )
    return pid, revision + 1


def save_definition(
    name: str, definition: Mapping[str, Any], *, created_by: str | None = None
) -> Work[int]:
    """Create a stored portfolio or give it a new definition (a revision); return its id."""
    name = portfolio_name(name)
    row = _definition_row(definition)
    who = text("created_by", created_by) or current_user()
    return lambda con: _store_definition(con, name, row, who)[0]


def list_portfolio_names() -> Work[list[str]]:
    def work(con: Connection) -> list[str]:
        con.execute("SELECT name FROM portfolios ORDER BY name")
        return [str(r[0]) for r in con.fetchall()]

    return work


def _done(con: Connection, pid: int) -> list[FeatureDone]:
    con.execute(
        "SELECT feature, done_on, recorded_at, recorded_by FROM portfolio_features_done "
        "WHERE portfolio_id = ? ORDER BY done_on, feature",
        [pid],
    )
    return [FeatureDone(*r) for r in con.fetchall()]


def get_portfolio(name: str) -> Work[StoredPortfolio]:
    """A stored portfolio's latest definition and its features done; unknown names are refused."""
    name = portfolio_name(name)

    def work(con: Connection) -> StoredPortfolio:
        pid = _require(con, name)
        con.execute(
            "SELECT p.created_at, p.created_by, d.revision, d.created_at, d.created_by, "
            "d.definition FROM portfolios p JOIN portfolio_definitions d USING (portfolio_id) "
            "WHERE portfolio_id = ? ORDER BY d.revision DESC LIMIT 1",
            [pid],
        )
        created_at, created_by, revision, updated_at, updated_by, definition = con.fetchone()
        return StoredPortfolio(
            pid,
            name,
            int(revision),
            json.loads(definition),
            created_at,
            created_by,
            updated_at,
            updated_by,
            _done(con, pid),
        )

    return work


# ----------------------------------------------------------------------------------- forecasts


def prepare_portfolio_forecast(
    definition: Mapping[str, Any],
    inputs: Mapping[str, Any],
    result: PortfolioResult,
    *,
    name: str | None,
    created_by: str | None,
) -> PreparedPortfolioForecast:
    """The rows of one forecast: per feature its answers and its completion histogram."""
    data = result.to_dict()
    if not result.runs:
        raise InputError("result.runs", 0, "a forecast to save needs at least one run")
    _definition_row(definition)  # checked before any lock
    joint = data.get("all_done_by_target") or [None] * len(data["features"])
    features: list[list[Any]] = []
    distribution: list[list[int]] = []
    completion = result.histograms.completion
    horizon = result.portfolio.max_periods
    for f, feature in enumerate(data["features"]):
        counts = completion[f] if f < completion.shape[0] else []
        done_counts = [int(c) for c in counts[: horizon + 1]]
        not_done = result.runs - sum(done_counts)
        features.append(
            [
                f + 1,
                feature["name"],
                bool(feature["cannot_forecast"]),
                not_done,
                feature.get("probability_by_target"),
                joint[f],
            ]
        )
        distribution.extend([f + 1, w, c] for w, c in enumerate(done_counts) if c)
    portfolio = result.portfolio
    row = {
        "created_at": utcnow(),
        "created_by": text("created_by", created_by) or current_user(),
        "name": text("forecast_name", name),
        "seed": int(result.seed),
        "runs": int(result.runs),
        "runs_asked": int(result.runs_asked),
        "sampler": result.sampler,
        "method": PORTFOLIO_METHOD,
        "start_date": portfolio.start,
        "target": portfolio.target,
        "period_days": portfolio.period_days,
        "level": float(portfolio.level),
        "max_periods": horizon,
        "cut_line": data.get("cut_line"),
        "inputs": dumps(inputs),
        "result": dumps(data),
        "engine_version": data.get("engine_version"),
    }
    return PreparedPortfolioForecast(dict(definition), row, features, distribution)


_INSERT_FORECAST = """
    INSERT INTO portfolio_forecasts (portfolio_id, revision, created_at, created_by, name, seed,
        runs, runs_asked, sampler, method, start_date, target, period_days, level, max_periods,
        cut_line, inputs, result, engine_version)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    RETURNING portfolio_forecast_id
"""
_FORECAST_COLUMNS = (
    "created_at",
    "created_by",
    "name",
    "seed",
    "runs",
    "runs_asked",
    "sampler",
    "method",
    "start_date",
    "target",
    "period_days",
    "level",
    "max_periods",
    "cut_line",
    "inputs",
    "result",
    "engine_version",
)


_LIST_FORECASTS = """
    SELECT portfolio_forecast_id, revision, created_at, created_by, name, seed, runs, runs_asked,
        sampler, method, start_date, target, period_days, level, max_periods, cut_line, inputs,
        result, engine_version
    FROM portfolio_forecasts WHERE portfolio_id = ? ORDER BY portfolio_forecast_id
"""


def save_forecast(name: str, prepared: PreparedPortfolioForecast) -> Work[int]:
    """Append a portfolio forecast (saving its definition first when new or changed); its id.

    One transaction: the definition, the forecast row, its features and their
    histograms are all written, or nothing is.
    """
    name = portfolio_name(name)
    definition_row = _definition_row(prepared.definition)

    def work(con: Connection) -> int:
        who = prepared.row["created_by"]
        pid, revision = _store_definition(con, name, definition_row, who)
        con.execute(
            _INSERT_FORECAST, [pid, revision, *(prepared.row[c] for c in _FORECAST_COLUMNS)]
        )
        fid = int(con.fetchone()[0])
        columns = list(zip(*prepared.features, strict=True))  # one statement, not one per row
        con.execute(
            "INSERT INTO portfolio_forecast_features (portfolio_forecast_id, position, feature, "
            "cannot_forecast, not_done, p_target, all_done_by_target) "
            "SELECT $fid, unnest($positions::INTEGER[]), unnest($names::VARCHAR[]), "
            "unnest($cannot::BOOLEAN[]), unnest($not_done::BIGINT[]), "
            "unnest($p_target::DOUBLE[]), unnest($joint::DOUBLE[])",
            {
                "fid": fid,
                "positions": list(columns[0]),
                "names": list(columns[1]),
                "cannot": list(columns[2]),
                "not_done": list(columns[3]),
                "p_target": list(columns[4]),
                "joint": list(columns[5]),
            },
        )
        if prepared.distribution:
            con.execute(
                "INSERT INTO portfolio_forecast_distribution "
                "(portfolio_forecast_id, position, value, count) "
                "SELECT $fid, unnest($positions::INTEGER[]), unnest($values::INTEGER[]), "
                "unnest($counts::BIGINT[])",
                {
                    "fid": fid,
                    "positions": [d[0] for d in prepared.distribution],
                    "values": [d[1] for d in prepared.distribution],
                    "counts": [d[2] for d in prepared.distribution],
                },
            )
        return fid

    return work


def _scores(con: Connection, fids: list[int]) -> dict[tuple[int, int], FeatureScore]:
    if not fids:
        return {}
    con.execute(
        "SELECT portfolio_forecast_id, position, level, quantile, met, expected_met, coverage "
        "FROM portfolio_feature_score_levels WHERE list_contains($ids, portfolio_forecast_id) "
        "ORDER BY level",
        {"ids": fids},
    )
    levels: dict[tuple[int, int], dict[int, LevelScore]] = {}
    for fid, position, *level in con.fetchall():
        levels.setdefault((int(fid), int(position)), {})[int(level[0])] = LevelScore(*level)
    con.execute(
        "SELECT portfolio_forecast_id, position, done_on, actual_value, pit, pit_low, pit_high, "
        "crps, median, target_met, brier FROM portfolio_feature_scores "
        "WHERE list_contains($ids, portfolio_forecast_id)",
        {"ids": fids},
    )
    out = {}
    for fid, position, done_on, actual, pit, low, high, crps, median, met, brier in con.fetchall():
        key = (int(fid), int(position))
        out[key] = FeatureScore(
            done_on, int(actual), pit, low, high, crps, median, met, brier, levels.get(key, {})
        )
    return out


def list_forecasts(name: str) -> Work[list[PortfolioForecastRecord]]:
    """A stored portfolio's saved forecasts, oldest first, with each feature's score once done."""
    name = portfolio_name(name)

    def work(con: Connection) -> list[PortfolioForecastRecord]:
        pid = _require(con, name)
        con.execute(
            _LIST_FORECASTS,
            [pid],
        )
        rows = con.fetchall()
        fids = [int(r[0]) for r in rows]
        features: dict[int, list[list[Any]]] = {}
        if fids:
            con.execute(
                "SELECT portfolio_forecast_id, position, feature, cannot_forecast, not_done, "
                "p_target, all_done_by_target FROM portfolio_forecast_features "
                "WHERE list_contains($ids, portfolio_forecast_id) ORDER BY position",
                {"ids": fids},
            )
            for fid, *rest in con.fetchall():
                features.setdefault(int(fid), []).append(rest)
        scores = _scores(con, fids)
        out = []
        for r in rows:
            fid = int(r[0])
            values = dict(zip(_FORECAST_COLUMNS, r[2:], strict=True))
            out.append(
                PortfolioForecastRecord(
                    forecast_id=fid,
                    portfolio=name,
                    revision=int(r[1]),
                    created_at=values["created_at"],
                    created_by=values["created_by"],
                    name=values["name"],
                    seed=int(values["seed"]),
                    runs=int(values["runs"]),
                    runs_asked=int(values["runs_asked"]),
                    sampler=values["sampler"],
                    method=values["method"],
                    start_date=values["start_date"],
                    target=values["target"],
                    period_days=int(values["period_days"]),
                    level=float(values["level"]),
                    max_periods=int(values["max_periods"]),
                    cut_line=values["cut_line"],
                    engine_version=values["engine_version"],
                    features=[
                        FeatureForecast(
                            int(p), str(n), bool(c), int(nd), pt, ad, scores.get((fid, int(p)))
                        )
                        for p, n, c, nd, pt, ad in features.get(fid, [])
                    ],
                    result=json.loads(values["result"]),
                    inputs=json.loads(values["inputs"]),
                )
            )
        return out

    return work


def get_feature_distribution(forecast_id: int, position: int) -> Work[list[tuple[int, int]]]:
    """(completion period, runs) of one feature of a saved forecast, ascending (not-done runs
    are the feature's `not_done`)."""
    fid = whole_number("forecast_id", forecast_id, 1)
    pos = whole_number("position", position, 1)

    def work(con: Connection) -> list[tuple[int, int]]:
        con.execute(
            "SELECT value, count FROM portfolio_forecast_distribution "
            "WHERE portfolio_forecast_id = ? AND position = ? ORDER BY value",
            [fid, pos],
        )
        return [(int(v), int(c)) for v, c in con.fetchall()]

    return work


# ------------------------------------------------------------------------------- done, scores


def _crps(values: Sequence[int], counts: Sequence[int], runs: int, horizon: int, y: int) -> float:
    """Exact CRPS on the integers, the runs not done counted at the horizon + 1 (a lower bound)."""
    from flowray.core.metrics import crps_histogram

    not_done = runs - sum(counts)
    if not_done > 0:
        values, counts = [*values, horizon + 1], [*counts, not_done]
    return crps_histogram(values, counts, y)


def _score_feature(con: Connection, pid: int, feature: str, done_on: dt.date) -> list[int]:
    """Score every saved forecast of the portfolio that covered `feature` and started by its
    done date, unless already scored; return their ids."""
    con.execute(
        """
        SELECT f.portfolio_forecast_id, ff.position, f.start_date, f.period_days, f.runs,
               f.max_periods, f.target, ff.p_target
        FROM portfolio_forecasts f
        JOIN portfolio_forecast_features ff USING (portfolio_forecast_id)
        LEFT JOIN portfolio_feature_scores s
            ON s.portfolio_forecast_id = ff.portfolio_forecast_id AND s.position = ff.position
        WHERE f.portfolio_id = ? AND ff.feature = ? AND NOT ff.cannot_forecast
          AND s.portfolio_forecast_id IS NULL AND f.start_date <= ?
        ORDER BY f.portfolio_forecast_id
        """,
        [pid, feature, done_on],
    )
    covering = con.fetchall()
    if not covering:
        return []
    # every covering forecast's histogram in one query; the rows go in two statements
    # (the feature's position may differ from one forecast to the next)
    con.execute(
        "SELECT d.portfolio_forecast_id, list(d.value ORDER BY d.value), "
        "list(d.count ORDER BY d.value) FROM portfolio_forecast_distribution d "
        "JOIN portfolio_forecast_features ff USING (portfolio_forecast_id, position) "
        "WHERE list_contains($ids, d.portfolio_forecast_id) AND ff.feature = $feature "
        "GROUP BY d.portfolio_forecast_id",
        {"ids": [int(r[0]) for r in covering], "feature": feature},
    )
    histograms = {int(r[0]): (list(r[1]), list(r[2])) for r in con.fetchall()}
    now = utcnow()
    score_rows: list[list[Any]] = []
    level_rows: list[list[Any]] = []
    for fid, position, start, pdays, runs, horizon, target, p_target in covering:
        values, counts = histograms.get(int(fid), ([], []))
        actual = periods_between(start, done_on, int(pdays))
        dist = Distribution(tuple(values), tuple(counts), int(runs))
        pit, pit_low, pit_high, median, levels = score_distribution(dist, "periods", actual)
        crps = _crps(values, counts, int(runs), int(horizon), actual)
        target_met = brier = None
        if target is not None:
            target_met = done_on <= target
            if p_target is not None:
                brier = (p_target - (1.0 if target_met else 0.0)) ** 2
        score_rows.append(
            [
                fid,
                position,
                feature,
                done_on,
                now,
                SCORING_METHOD,
                actual,
                pit,
                pit_low,
                pit_high,
                crps,
                None if median is None else float(median),
                target_met,
                brier,
            ]
        )
        level_rows.extend(
            [fid, position, s.level, s.quantile, s.met, s.expected_met, s.coverage] for s in levels
        )
    con.executemany(
        "INSERT INTO portfolio_feature_scores (portfolio_forecast_id, position, feature, "
        "done_on, scored_at, method, actual_value, pit, pit_low, pit_high, crps, median, "
        "target_met, brier) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        score_rows,
    )
    con.executemany(
        "INSERT INTO portfolio_feature_score_levels (portfolio_forecast_id, position, level, "
        "quantile, met, expected_met, coverage) VALUES (?, ?, ?, ?, ?, ?, ?)",
        level_rows,
    )
    scored = sorted({int(r[0]) for r in score_rows})
    return scored


def mark_done(
    name: str,
    feature: str,
    done_on: dt.date | str,
    *,
    recorded_by: str | None = None,
    today: dt.date | None = None,
) -> Work[list[int]]:
    """Record a feature of a stored portfolio as done and score the forecasts that covered it.

    Refused by name: an unknown portfolio, a feature not in its definition, a date
    after today, a feature already marked done. Returns the ids of the forecasts scored.
    """
    name = portfolio_name(name)
    feature = text("feature", feature, required=True)
    day = parse_date("done_on", done_on)
    if day is None:
        raise InputError("done_on", done_on, "is required (a date written YYYY-MM-DD)")
    limit = today or dt.date.today()
    if day > limit:
        raise InputError(
            "done_on",
            day.isoformat(),
            f"is after today ({limit.isoformat()}); mark a feature done once it is done",
        )
    who = text("recorded_by", recorded_by) or current_user()

    def work(con: Connection) -> list[int]:
        pid = _require(con, name)
        _, definition = _latest(con, pid)
        known = [str(f.get("name")) for f in definition.get("features", [])]
        if feature not in known:
            raise InputError(
                "feature", feature, f"is not a feature of portfolio {name!r}; known: {known}"
            )
        con.execute(
            "SELECT done_on FROM portfolio_features_done WHERE portfolio_id = ? AND feature = ?",
            [pid, feature],
        )
        already = con.fetchone()
        if already is not None:
            raise InputError(
                "feature", feature, f"is already marked done on {already[0].isoformat()}"
            )
        ensure_user(con, who)
        con.execute(
            "INSERT INTO portfolio_features_done (portfolio_id, feature, done_on, recorded_at, "
            "recorded_by) VALUES (?, ?, ?, ?, ?)",
            [pid, feature, day, utcnow(), who],
        )
        return _score_feature(con, pid, feature, day)

    return work
