"""Actuals (what happened), the scores of the forecasts they resolve, and calibration."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flowray.core.histograms import Distribution
from flowray.core.scoring import (
    LEVELS,
    SCORING_METHOD,
    LevelScore,
    periods_between,
    score_distribution,
    score_headline,
)
from flowray.core.validation import optional_whole_number, parse_date, parse_timestamp, text
from flowray.exceptions import InputError
from flowray.records.base import Connection, Record, Work, current_user, utcnow
from flowray.records.projects import project_id


@dataclass(frozen=True)
class Score(Record):
    forecast_id: int
    actual_id: int
    scored_at: dt.datetime
    method: str
    actual_value: int
    pit: float | None
    pit_low: float | None
    pit_high: float | None
    median: float | None
    median_error: float | None
    deadline_met: bool | None
    brier: float | None
    levels: dict[int, LevelScore]


@dataclass(frozen=True)
class Actual(Record):
    actual_id: int
    project: str
    forecast_id: int | None
    completed_on: dt.date
    items_done: int | None
    partial: bool
    notes: str | None
    recorded_at: dt.datetime
    recorded_by: str


@dataclass(frozen=True)
class ActualAdded(Record):
    """The stored actual and the ids of the forecasts it resolved (and scored)."""

    actual: Actual
    scored_forecasts: list[int]


@dataclass(frozen=True)
class CalibrationLevel(Record):
    """Calibration at one level. `met_share` is the literal hit rate; compare it with
    `expected_share` (what a calibrated discrete forecast would hit) and with the
    level itself through `pit_coverage` (exactly the level in expectation)."""

    project: str | None
    level: int
    n: int
    met: int
    met_share: float | None
    n_distribution: int
    expected_share: float | None
    pit_coverage: float | None


def add_actual(
    project: str | None,
    completed_on: dt.date | str,
    items_done: int | None,
    *,
    forecast_id: int | None = None,
    partial: bool = False,
    notes: str | None = None,
    recorded_by: str | None = None,
    recorded_at: dt.datetime | None = None,
) -> Work[ActualAdded]:
    """Record what happened and score every open forecast it resolves (same transaction).

    Without `forecast_id` the actual belongs to the project and resolves each of its
    open forecasts it applies to (see docs/store.md); with it, only that forecast.
    `partial=True` means the work was not finished by `completed_on` (a cut-off).
    """
    day = parse_date("completed_on", completed_on)
    if day is None:
        raise InputError("completed_on", completed_on, "is required")
    items = optional_whole_number("items_done", items_done, 0)
    fid = optional_whole_number("forecast_id", forecast_id, 1)
    who = text("recorded_by", recorded_by) or current_user()
    stamp = parse_timestamp("recorded_at", recorded_at) or utcnow()
    # What happened cannot happen after it is recorded (the local date, which may lead UTC).
    today = max(stamp.date(), dt.date.today()) if recorded_at is None else stamp.date()
    if day > today:
        raise InputError(
            "completed_on",
            day.isoformat(),
            f"is after today ({today.isoformat()}); record an actual once the work is done",
        )
    note = text("notes", notes)
    if project is None and fid is None:
        raise InputError("project", None, "give a project or a forecast id")

    def work(con: Connection) -> ActualAdded:
        pid = project_id(con, project) if project is not None else None
        if fid is not None:
            con.execute("SELECT project_id FROM forecasts WHERE forecast_id = ?", [fid])
            row = con.fetchone()
            if row is None:
                raise InputError("forecast_id", fid, "no such forecast in the ledger")
            if pid is not None and row[0] != pid:
                raise InputError("forecast_id", fid, f"belongs to another project than {project!r}")
            pid = int(row[0])
        con.execute(
            "INSERT INTO actuals (project_id, forecast_id, completed_on, items_done, partial, "
            "notes, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING actual_id",
            [pid, fid, day, items, bool(partial), note, stamp, who],
        )
        actual_id = int(con.fetchone()[0])
        scored = score_open(con, actual_id)
        return ActualAdded(get_actual(con, actual_id), scored)

    return work


def get_actual(con: Connection, actual_id: int) -> Actual:
    con.execute(
        "SELECT a.actual_id, p.name, a.forecast_id, a.completed_on, a.items_done, a.partial, "
        "a.notes, a.recorded_at, a.recorded_by FROM actuals a JOIN projects p USING (project_id) "
        "WHERE a.actual_id = ?",
        [actual_id],
    )
    return Actual(*con.fetchone())


def list_actuals(project: str | None = None) -> Work[list[Actual]]:
    def work(con: Connection) -> list[Actual]:
        pid = project_id(con, project) if project is not None else None
        con.execute(
            "SELECT a.actual_id, p.name, a.forecast_id, a.completed_on, a.items_done, a.partial, "
            "a.notes, a.recorded_at, a.recorded_by FROM actuals a JOIN projects p USING "
            "(project_id) WHERE ($pid IS NULL OR a.project_id = $pid) ORDER BY a.actual_id",
            {"pid": pid},
        )
        return [Actual(*r) for r in con.fetchall()]

    return work


def score_pending() -> Work[list[int]]:
    """Score every open forecast that a recorded actual resolves; return their ids."""

    return lambda con: score_open(con, None)


def get_score(forecast_id: int) -> Work[Score | None]:
    fid = optional_whole_number("forecast_id", forecast_id, 1)

    return lambda con: read_score(con, fid)


def _score(row: Any, levels: dict[int, LevelScore]) -> Score:
    """A Score from a forecast_scores row (its twelve columns in field order) and its levels."""
    (
        forecast_id,
        actual_id,
        scored_at,
        method,
        actual_value,
        pit,
        pit_low,
        pit_high,
        median,
        median_error,
        deadline_met,
        brier,
    ) = row
    return Score(
        forecast_id=forecast_id,
        actual_id=actual_id,
        scored_at=scored_at,
        method=method,
        actual_value=actual_value,
        pit=pit,
        pit_low=pit_low,
        pit_high=pit_high,
        median=median,
        median_error=median_error,
        deadline_met=deadline_met,
        brier=brier,
        levels=levels,
    )


def read_score(con: Connection, forecast_id: int | None) -> Score | None:
    con.execute(
        "SELECT forecast_id, actual_id, scored_at, method, actual_value, pit, pit_low, pit_high, "
        "median, median_error, deadline_met, brier FROM forecast_scores WHERE forecast_id = ?",
        [forecast_id],
    )
    row = con.fetchone()
    if row is None:
        return None
    con.execute(
        "SELECT level, quantile, met, expected_met, coverage FROM forecast_score_levels "
        "WHERE forecast_id = ? ORDER BY level",
        [forecast_id],
    )
    levels = {int(r[0]): LevelScore(*r) for r in con.fetchall()}
    return _score(row, levels)


def calibration(project: str | None = None) -> Work[list[CalibrationLevel]]:
    """Per level 50/70/85/95: the share of resolved forecasts met, overall or for one project."""

    def work(con: Connection) -> list[CalibrationLevel]:
        pid = project_id(con, project) if project is not None else None
        con.execute(
            "SELECT level, n, met, met_share, n_distribution, expected_share, pit_coverage "
            "FROM calibration WHERE project_id IS NOT DISTINCT FROM $pid ORDER BY level",
            {"pid": pid},
        )
        found = {int(r[0]): r for r in con.fetchall()}
        out = []
        for level in LEVELS:
            r = found.get(level)
            if r is None:
                out.append(CalibrationLevel(project, level, 0, 0, None, 0, None, None))
            else:
                out.append(
                    CalibrationLevel(
                        project, level, int(r[1]), int(r[2]), r[3], int(r[4]), r[5], r[6]
                    )
                )
        return out

    return work


def score_open(con: Connection, actual_id: int | None) -> list[int]:
    """Score open forecasts against actuals (one actual, or all recorded ones).

    A forecast takes the earliest-recorded actual that resolves it. Rules:
    - the actual is linked to the forecast, or belongs to its project and was
      recorded after the forecast was made (no hindsight);
    - unit "periods": the actual is a completion (not partial) on or after the
      forecast's start and, unless linked, reports at least the forecast's (low)
      backlog in items done; the actual value is ceil(days / period_days);
    - unit "items": the actual was taken on the forecast's horizon date; the actual
      value is the items done.
    """
    con.execute(
        """
        SELECT f.forecast_id, a.actual_id, f.unit, f.period_days, f.start_date, f.deadline,
               f.horizon_date, f.runs, f.not_done, f.p50, f.p70, f.p85, f.p95, f.p_deadline,
               a.completed_on, a.items_done
        FROM forecasts f
        JOIN actuals a ON a.project_id = f.project_id
        LEFT JOIN forecast_scores s ON s.forecast_id = f.forecast_id
        WHERE s.forecast_id IS NULL
          AND ($actual_id IS NULL OR a.actual_id = $actual_id)
          AND f.kind <> 'backtest' AND f.start_date IS NOT NULL
          AND (a.forecast_id = f.forecast_id
               OR (a.forecast_id IS NULL AND a.recorded_at >= f.created_at))
          AND ((f.unit = 'periods' AND NOT a.partial AND a.completed_on >= f.start_date
                AND (a.forecast_id IS NOT NULL OR a.items_done IS NULL
                     OR f.backlog_low IS NULL OR a.items_done >= f.backlog_low))
               OR (f.unit = 'items' AND a.completed_on = f.horizon_date
                   AND a.items_done IS NOT NULL))
        ORDER BY f.forecast_id, a.recorded_at, a.actual_id
        """,
        {"actual_id": actual_id},
    )
    chosen: dict[int, tuple[Any, ...]] = {}
    for row in con.fetchall():
        chosen.setdefault(row[0], row)
    if not chosen:
        return []
    con.execute(
        "SELECT forecast_id, list(value ORDER BY value), list(count ORDER BY value) "
        "FROM forecast_distribution WHERE list_contains($ids, forecast_id) GROUP BY forecast_id",
        {"ids": list(chosen)},
    )
    dists = {r[0]: (r[1], r[2]) for r in con.fetchall()}
    now = utcnow()
    score_rows: list[list[Any]] = []
    level_rows: list[list[Any]] = []
    for fid, row in chosen.items():
        (
            _,
            aid,
            unit,
            pdays,
            start,
            deadline,
            _horizon,
            runs,
            not_done,
            p50,
            p70,
            p85,
            p95,
            p_deadline,
            completed_on,
            items_done,
        ) = row
        actual = (
            periods_between(start, completed_on, pdays) if unit == "periods" else int(items_done)
        )
        pit = pit_low = pit_high = median = median_error = None
        if fid in dists and runs:
            dist = Distribution(tuple(dists[fid][0]), tuple(dists[fid][1]), int(runs))
            pit, pit_low, pit_high, median, levels = score_distribution(dist, unit, actual)
        else:  # no distribution (e.g. imported): hits against the stored headline only
            headline = dict(zip(LEVELS, (p50, p70, p85, p95), strict=True))
            levels = score_headline(headline, unit, actual)
            median = p50
        if median is not None:
            median_error = float(actual - median)
        deadline_met = brier = None
        if unit == "periods" and deadline is not None:
            deadline_met = completed_on <= deadline
            if p_deadline is not None:
                brier = (p_deadline - (1.0 if deadline_met else 0.0)) ** 2
        score_rows.append(
            [
                fid,
                aid,
                now,
                SCORING_METHOD,
                actual,
                pit,
                pit_low,
                pit_high,
                None if median is None else float(median),
                median_error,
                deadline_met,
                brier,
            ]
        )
        level_rows.extend(
            [fid, s.level, s.quantile, s.met, s.expected_met, s.coverage] for s in levels
        )
    con.executemany(
        "INSERT INTO forecast_scores (forecast_id, actual_id, scored_at, method, actual_value, "
        "pit, pit_low, pit_high, median, median_error, deadline_met, brier) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        score_rows,
    )
    if level_rows:
        con.executemany(
            "INSERT INTO forecast_score_levels (forecast_id, level, quantile, met, expected_met, "
            "coverage) VALUES (?, ?, ?, ?, ?, ?)",
            level_rows,
        )
    return sorted(chosen)


def list_scores(project: str | None = None) -> Work[dict[int, Score]]:
    """Every score (of one project, or all), by forecast id: two queries however many there are."""

    def work(con: Connection) -> dict[int, Score]:
        pid = project_id(con, project) if project is not None else None
        con.execute(
            "SELECT l.forecast_id, l.level, l.quantile, l.met, l.expected_met, l.coverage "
            "FROM forecast_score_levels l JOIN forecasts f USING (forecast_id) "
            "WHERE ($pid IS NULL OR f.project_id = $pid) ORDER BY l.forecast_id, l.level",
            {"pid": pid},
        )
        levels: dict[int, dict[int, LevelScore]] = {}
        for fid, *level in con.fetchall():
            levels.setdefault(int(fid), {})[int(level[0])] = LevelScore(*level)
        con.execute(
            "SELECT s.forecast_id, s.actual_id, s.scored_at, s.method, s.actual_value, s.pit, "
            "s.pit_low, s.pit_high, s.median, s.median_error, s.deadline_met, s.brier "
            "FROM forecast_scores s JOIN forecasts f USING (forecast_id) "
            "WHERE ($pid IS NULL OR f.project_id = $pid) ORDER BY s.forecast_id",
            {"pid": pid},
        )
        return {int(row[0]): _score(row, levels.get(int(row[0]), {})) for row in con.fetchall()}

    return work
