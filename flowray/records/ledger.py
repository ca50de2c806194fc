"""The forecast ledger: every forecast ever made, immutable, with its full distribution.

Rows are appended, never updated or deleted; scores live in their own tables
(records.scores). A result dict (an engine result's `to_dict()`) is checked
and turned into a row before any lock is taken.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowray.core import validation
from flowray.core.scoring import LEVELS
from flowray.core.validation import optional_number, optional_whole_number, parse_date, text
from flowray.exceptions import InputError
from flowray.records.base import (
    KINDS,
    Connection,
    Record,
    Work,
    current_user,
    dumps,
    level_key,
    utcnow,
)
from flowray.records.projects import ensure_user, project_id
from flowray.records.scores import Score, read_score


@dataclass
class ForecastSummary(Record):
    """One ledger row without its JSON blobs (what a listing shows).

    For unit "periods" `percentiles[p]` is the p-th percentile of completion
    periods (None: beyond the horizon); for unit "items" (how_many) it is the
    conservative reading "at least N items with probability p".
    """

    forecast_id: int
    project: str
    kind: str
    unit: str
    name: str | None
    created_at: dt.datetime
    created_by: str
    source: str
    source_ref: str | None
    seed: int | None
    runs: int | None
    engine_version: str | None
    period_days: int
    start_date: dt.date | None
    deadline: dt.date | None
    horizon_date: dt.date | None
    backlog_low: int | None
    backlog_high: int | None
    data_from: dt.date | None
    data_to: dt.date | None
    data_periods: int | None
    percentiles: dict[int, float | None]
    dates: dict[int, dt.date | None]
    p_deadline: float | None
    not_done: int
    scored: bool
    method: str | None  # "recency+cal, window 12" when the result records how it was made
    # "plan": the project's plan in force; "past plan": a plan since replaced; "outlook": the
    # batch's forecast of a project without a plan; "backtest"; "what-if": any other forecast.
    role: str


@dataclass
class ForecastRecord(ForecastSummary):
    """A whole ledger row: the summary plus the stored inputs, result and score."""

    inputs: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    score: Score | None = None


_SUMMARY_COLUMNS = """
    f.forecast_id, p.name, f.kind, f.unit, f.name, f.created_at, f.created_by, f.source,
    f.source_ref, f.seed, f.runs, f.engine_version, f.period_days, f.start_date, f.deadline,
    f.horizon_date, f.backlog_low, f.backlog_high, f.data_from, f.data_to, f.data_periods,
    f.p50, f.p70, f.p85, f.p95, f.date_p50, f.date_p70, f.date_p85, f.date_p95,
    f.p_deadline, f.not_done, s.forecast_id IS NOT NULL,
    json_extract_string(f.result, '$.method.name'), json_extract_string(f.result, '$.method.window'),
    CASE WHEN cur.forecast_id IS NOT NULL THEN 'plan'
         WHEN ever.forecast_id IS NOT NULL THEN 'past plan'
         WHEN f.kind = 'backtest' THEN 'backtest'
         WHEN f.kind = 'how_many' AND json_extract_string(f.result, '$.batch.role') = 'outlook'
              THEN 'outlook'
         ELSE 'what-if' END
"""
# The plan in force of each project is its latest plan record (cur); ever: every plan.
_SUMMARY_FROM = """
    FROM forecasts f JOIN projects p USING (project_id)
    LEFT JOIN forecast_scores s USING (forecast_id)
    LEFT JOIN (SELECT project_id, arg_max(forecast_id, plan_id) AS forecast_id
               FROM forecast_plans GROUP BY project_id) cur
        ON cur.project_id = f.project_id AND cur.forecast_id = f.forecast_id
    LEFT JOIN (SELECT DISTINCT forecast_id FROM forecast_plans) ever
        ON ever.forecast_id = f.forecast_id
"""
_LIST_FORECASTS = (
    "SELECT "
    + _SUMMARY_COLUMNS
    + _SUMMARY_FROM
    + """
    WHERE ($project_id IS NULL OR f.project_id = $project_id)
      AND ($kind IS NULL OR f.kind = $kind)
    ORDER BY f.forecast_id
"""
)
_GET_FORECAST = (
    "SELECT "
    + _SUMMARY_COLUMNS
    + ", f.inputs, f.result "
    + _SUMMARY_FROM
    + " WHERE f.forecast_id = $forecast_id"
)


SUMMARY_WIDTH = 35  # the columns of _SUMMARY_COLUMNS; _GET_FORECAST's inputs and result follow


def _summary_args(row: Sequence[Any]) -> dict[str, Any]:
    (
        fid,
        project,
        kind,
        unit,
        name,
        created_at,
        created_by,
        source,
        source_ref,
        seed,
        runs,
        engine_version,
        period_days,
        start,
        deadline,
        horizon,
        b_low,
        b_high,
        d_from,
        d_to,
        d_periods,
        p50,
        p70,
        p85,
        p95,
        d50,
        d70,
        d85,
        d95,
        p_deadline,
        not_done,
        scored,
        method_name,
        method_window,
        role,
    ) = row[:SUMMARY_WIDTH]
    return {
        "forecast_id": fid,
        "project": project,
        "kind": kind,
        "unit": unit,
        "name": name,
        "created_at": created_at,
        "created_by": created_by,
        "source": source,
        "source_ref": source_ref,
        "seed": seed,
        "runs": runs,
        "engine_version": engine_version,
        "period_days": period_days,
        "start_date": start,
        "deadline": deadline,
        "horizon_date": horizon,
        "backlog_low": b_low,
        "backlog_high": b_high,
        "data_from": d_from,
        "data_to": d_to,
        "data_periods": d_periods,
        "percentiles": {50: p50, 70: p70, 85: p85, 95: p95},
        "dates": {50: d50, 70: d70, 85: d85, 95: d95},
        "p_deadline": p_deadline,
        "not_done": not_done,
        "scored": bool(scored),
        "method": None if method_name is None else f"{method_name}, window {method_window}",
        "role": role,
    }


@dataclass(frozen=True)
class PreparedForecast:
    """A ledger row and its distribution, validated before any lock is taken."""

    row: dict[str, Any]
    values: list[int]
    counts: list[int]


_LEDGER_COLUMNS = (
    "project_id",
    "kind",
    "unit",
    "name",
    "created_at",
    "created_by",
    "source",
    "source_ref",
    "inputs",
    "result",
    "seed",
    "runs",
    "engine_version",
    "period_days",
    "start_date",
    "deadline",
    "horizon_date",
    "backlog_low",
    "backlog_high",
    "data_from",
    "data_to",
    "data_periods",
    "p50",
    "p70",
    "p85",
    "p95",
    "date_p50",
    "date_p70",
    "date_p85",
    "date_p95",
    "p_deadline",
    "not_done",
)
_INSERT_LEDGER = """
    INSERT INTO forecasts (project_id, kind, unit, name, created_at, created_by, source, source_ref,
        inputs, result, seed, runs, engine_version, period_days, start_date, deadline, horizon_date,
        backlog_low, backlog_high, data_from, data_to, data_periods, p50, p70, p85, p95, date_p50,
        date_p70, date_p85, date_p95, p_deadline, not_done)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
        ?, ?)
    RETURNING forecast_id
"""


def insert_ledger_row(con: Connection, row: Mapping[str, Any]) -> int:
    con.execute(_INSERT_LEDGER, [row[c] for c in _LEDGER_COLUMNS])
    return int(con.fetchone()[0])


def insert_distribution(
    con: Connection, forecast_id: int, values: Sequence[int], counts: Sequence[int]
) -> None:
    if not values:
        return
    con.execute(
        "INSERT INTO forecast_distribution (forecast_id, value, count) "
        "SELECT $fid, unnest($values::INTEGER[]), unnest($counts::BIGINT[])",
        {"fid": forecast_id, "values": list(values), "counts": list(counts)},
    )


def _backlog_range(value: Any) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        return optional_whole_number("backlog.low", value.get("low"), 0), optional_whole_number(
            "backlog.high", value.get("high"), 0
        )
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise InputError("backlog", value, "a range is (low, high)")
        return optional_whole_number("backlog.low", value[0], 0), optional_whole_number(
            "backlog.high", value[1], 0
        )
    number = optional_whole_number("backlog", value, 0)
    return number, number


def _histogram(result: Mapping[str, Any], key: str, value_key: str) -> tuple[list[int], list[int]]:
    hist = result.get(key)
    if not isinstance(hist, Mapping):
        raise InputError(f"result.{key}", hist, f"needs {{'{value_key}': [...], 'counts': [...]}}")
    values, counts = hist.get(value_key), hist.get("counts")
    if (
        not isinstance(values, Sequence)
        or not isinstance(counts, Sequence)
        or len(values) != len(counts)
    ):
        raise InputError(
            f"result.{key}", "...", f"'{value_key}' and 'counts' must be lists of equal length"
        )
    merged: dict[int, int] = {}
    for v, c in zip(values, counts, strict=True):
        value = optional_whole_number(f"result.{key}.{value_key}", v, 0)
        count = optional_whole_number(f"result.{key}.counts", c, 0)
        assert value is not None and count is not None
        if count:
            merged[value] = merged.get(value, 0) + count
    ordered = sorted(merged)
    return ordered, [merged[v] for v in ordered]


def prepare_forecast(
    result: Mapping[str, Any],
    *,
    kind: str | None,
    created_by: str | None,
    data_window: tuple[Any, Any] | None,
    data_periods: int | None,
    name: str | None,
) -> PreparedForecast:
    """Validate an engine result dict (see docs/store.md) into a ledger row."""
    if not isinstance(result, Mapping):
        raise InputError(
            "result", type(result).__name__, "must be a result dict (result.to_dict())"
        )
    result_kind = result.get("kind")
    kind = kind or result_kind
    if kind not in KINDS:
        raise InputError("kind", kind, f"must be one of {list(KINDS)}")
    unit = "items" if "how_many" in (kind, result_kind) else "periods"
    scenario = result.get("scenario") or {}
    if not isinstance(scenario, Mapping):
        raise InputError("result.scenario", scenario, "must be a dict (Scenario.to_dict())")
    runs = optional_whole_number("result.runs", result.get("runs"), 1)
    if runs is None:
        raise InputError("result.runs", None, "is required (number of simulated runs)")
    period_days = optional_whole_number(
        "period_days", result.get("period_days") or scenario.get("period_days") or 7, 1
    )
    start = parse_date("start", result.get("start") or scenario.get("start"))
    deadline = parse_date("deadline", result.get("deadline") or scenario.get("deadline"))
    backlog_low, backlog_high = _backlog_range(scenario.get("backlog"))

    if unit == "periods":
        values, counts = _histogram(result, "histogram", "periods")
        max_periods = optional_whole_number(
            "max_periods", result.get("max_periods") or scenario.get("max_periods"), 1
        )
        if max_periods is not None:  # the engine's last bucket holds the runs not done
            keep = [i for i, v in enumerate(values) if v <= max_periods]
            values, counts = [values[i] for i in keep], [counts[i] for i in keep]
        not_done = runs - sum(counts)
        if not_done < 0:
            raise InputError(
                "result.histogram", sum(counts), f"counts add up to more than runs ({runs})"
            )
        stated = result.get("not_done")
        if stated is not None and optional_whole_number("result.not_done", stated, 0) != not_done:
            raise InputError(
                "result.not_done", stated, f"disagrees with runs - histogram ({not_done})"
            )
        headline = result.get("percentiles") or {}
        horizon = None
    else:
        values, counts = _histogram(result, "items_histogram", "items")
        if sum(counts) != runs:
            raise InputError(
                "result.items_histogram", sum(counts), f"counts must add up to runs ({runs})"
            )
        not_done = 0
        headline = result.get("at_least") or {}
        horizon = (
            parse_date("horizon_date", result.get("horizon_date") or result.get("end")) or deadline
        )
    dates = result.get("dates") or {}
    window = data_window or result.get("data_window")
    d_from = d_to = None
    if window is not None:
        if isinstance(window, Mapping):
            data_periods = data_periods or window.get("periods")
            window = (window.get("from"), window.get("to"))
        if not isinstance(window, (list, tuple)) or len(window) != 2:
            raise InputError(
                "data_window", window, "must be (first period start, last period start)"
            )
        d_from, d_to = (
            parse_date("data_window.from", window[0]),
            parse_date("data_window.to", window[1]),
        )
        if d_from and d_to and d_from > d_to:
            raise InputError("data_window", window, "needs from <= to")
    if data_periods is None and isinstance(scenario.get("throughput"), Sequence):
        data_periods = len(scenario["throughput"])
    stored_result = {
        k: v for k, v in result.items() if k not in ("histogram", "items_histogram", "scenario")
    }
    row = {
        "kind": kind,
        "unit": unit,
        "name": text("name", name),
        "created_at": utcnow(),
        "created_by": text("created_by", created_by) or current_user(),
        "source": "flowray",
        "source_ref": None,
        "inputs": dumps(scenario),
        "result": dumps(stored_result),
        "seed": optional_whole_number("result.seed", result.get("seed")),
        "runs": runs,
        "engine_version": text("engine_version", result.get("engine_version")),
        "period_days": period_days,
        "start_date": start,
        "deadline": deadline,
        "horizon_date": horizon,
        "backlog_low": backlog_low,
        "backlog_high": backlog_high,
        "data_from": d_from,
        "data_to": d_to,
        "data_periods": optional_whole_number("data_periods", data_periods, 0),
        "p_deadline": optional_number(
            "probability_by_deadline", result.get("probability_by_deadline")
        ),
        "not_done": not_done,
    }
    for level in LEVELS:
        row[f"p{level}"] = optional_number(f"percentiles.{level}", level_key(headline, level))
        row[f"date_p{level}"] = parse_date(f"dates.{level}", level_key(dates, level))
    return PreparedForecast(row, values, counts)


def save_forecast(
    project: str,
    result: Mapping[str, Any],
    *,
    kind: str | None = None,
    created_by: str | None = None,
    data_window: tuple[dt.date | str, dt.date | str] | None = None,
    data_periods: int | None = None,
    name: str | None = None,
    plan: str | None = None,
) -> Work[int]:
    """Append a forecast (an engine result's `to_dict()`) to the ledger; return its id.

    The ledger row and its full distribution are written in one transaction, so a
    crash leaves either the whole forecast or nothing. Ledger rows are never
    updated or deleted; scores go to their own tables. With `plan` (how it is set:
    one of PLAN_HOWS) the forecast also becomes the project's plan, in the same
    transaction; it must be a forecast a plan can be (see `set_plan`).
    """
    prepared = prepare_forecast(
        result,
        kind=kind,
        created_by=created_by,
        data_window=data_window,
        data_periods=data_periods,
        name=name,
    )
    if plan is not None:
        plan = validation.choice("plan", plan, PLAN_HOWS)
        _check_plan_row(prepared.row["kind"], prepared.row["backlog_low"], None)

    def work(con: Connection) -> int:
        row = dict(prepared.row, project_id=project_id(con, project))
        ensure_user(con, row["created_by"])
        forecast_id = insert_ledger_row(con, row)
        insert_distribution(con, forecast_id, prepared.values, prepared.counts)
        if plan is not None:
            _insert_plan(con, row["project_id"], forecast_id, row["created_by"], plan)
        return forecast_id

    return work


# ------------------------------------------------------------------------------------------ plans
PLAN_KINDS = ("when", "deadline")
"""What a plan forecasts: when a backlog is done (with or without a deadline)."""
PLAN_HOWS = ("cli", "page", "api", "batch")
"""How a plan is set: `flowray when --plan` or `flowray forecasts plan` (cli), a page's button
(page), a program (api), the batch re-making the plan in force (batch). Records written by the
v4 migration say "migration"."""


@dataclass
class PlanRecord(Record):
    """One row of a project's plan history: which forecast became its plan, when, by whom, how.

    The plan in force is the project's latest record; the earlier ones say which
    plan the portfolio, the batch and its alerts followed until then.
    """

    plan_id: int
    project: str
    forecast_id: int
    set_at: dt.datetime
    set_by: str
    how: str


_PLAN_COLUMNS = """
    SELECT pl.plan_id, p.name, pl.forecast_id, pl.set_at, pl.set_by, pl.how
    FROM forecast_plans pl JOIN projects p USING (project_id)
"""


def _check_plan_row(kind: str, backlog_low: int | None, forecast_id: int | None) -> None:
    """A plan is a "when" or "deadline" forecast of a backlog; anything else is refused by name."""
    field, value = ("forecast_id", forecast_id) if forecast_id is not None else ("kind", kind)
    if kind not in PLAN_KINDS:
        raise InputError(
            field,
            value,
            f"is a {kind} forecast; a plan is a when or deadline forecast "
            "(when a backlog is done), so it can be re-made as items get done",
        )
    if backlog_low is None:
        raise InputError(field, value, "has no backlog; a plan forecasts when a backlog is done")


def _insert_plan(con: Connection, pid: int, forecast_id: int, set_by: str, how: str) -> int:
    con.execute(
        "INSERT INTO forecast_plans (project_id, forecast_id, set_at, set_by, how) "
        "VALUES (?, ?, ?, ?, ?) RETURNING plan_id",
        [pid, forecast_id, utcnow(), set_by, how],
    )
    return int(con.fetchone()[0])


def _plan_record(row: Sequence[Any]) -> PlanRecord:
    plan_id, project, forecast_id, set_at, set_by, how = row
    return PlanRecord(int(plan_id), project, int(forecast_id), set_at, set_by, how)


def set_plan(
    project: str, forecast_id: int, *, set_by: str | None = None, how: str = "api"
) -> Work[PlanRecord]:
    """Make a saved forecast the project's plan (a new plan record; nothing is rewritten).

    Refused by name: an unknown forecast id, a forecast of another project, and a
    forecast that is not a "when" / "deadline" forecast of a backlog (a how-many
    forecast, an ML analysis, a backtest).
    """
    fid = validation.whole_number("forecast_id", forecast_id, 1)
    how = validation.choice("how", how, PLAN_HOWS)
    who = text("set_by", set_by) or current_user()

    def work(con: Connection) -> PlanRecord:
        pid = project_id(con, project)
        con.execute(
            "SELECT f.project_id, p.name, f.kind, f.backlog_low "
            "FROM forecasts f JOIN projects p USING (project_id) WHERE f.forecast_id = ?",
            [fid],
        )
        row = con.fetchone()
        if row is None:
            raise InputError("forecast_id", forecast_id, "no such forecast in the ledger")
        owner_id, owner, kind, backlog_low = row
        if owner_id != pid:
            raise InputError(
                "forecast_id",
                forecast_id,
                f"is a forecast of project {owner!r}, not of {project!r}; "
                "a project's plan is one of its own forecasts",
            )
        _check_plan_row(kind, backlog_low, fid)
        current = get_plan(project)(con)
        if current is not None and current.forecast_id == fid:
            return current  # already the plan in force: the history records changes only
        ensure_user(con, who)
        plan_id = _insert_plan(con, pid, fid, who, how)
        con.execute(_PLAN_COLUMNS + " WHERE pl.plan_id = ?", [plan_id])
        return _plan_record(con.fetchone())

    return work


def get_plan(project: str) -> Work[PlanRecord | None]:
    """The project's plan in force (its latest plan record), or None when it has none."""

    def work(con: Connection) -> PlanRecord | None:
        pid = project_id(con, project)
        con.execute(
            _PLAN_COLUMNS + " WHERE pl.project_id = ? ORDER BY pl.plan_id DESC LIMIT 1", [pid]
        )
        row = con.fetchone()
        return None if row is None else _plan_record(row)

    return work


def list_plans(project: str | None = None) -> Work[list[PlanRecord]]:
    """The plan history (of one project, or all), oldest first: which plan was in force when."""

    def work(con: Connection) -> list[PlanRecord]:
        pid = project_id(con, project) if project is not None else None
        con.execute(
            _PLAN_COLUMNS + " WHERE ($pid IS NULL OR pl.project_id = $pid) ORDER BY pl.plan_id",
            {"pid": pid},
        )
        return [_plan_record(r) for r in con.fetchall()]

    return work


def list_forecasts(
    project: str | None = None, *, kind: str | None = None
) -> Work[list[ForecastSummary]]:
    """Ledger rows (oldest first), optionally of one project and/or kind."""

    def work(con: Connection) -> list[ForecastSummary]:
        pid = project_id(con, project) if project is not None else None
        con.execute(_LIST_FORECASTS, {"project_id": pid, "kind": kind})
        return [ForecastSummary(**_summary_args(r)) for r in con.fetchall()]

    return work


def get_forecast(forecast_id: int) -> Work[ForecastRecord]:
    """One ledger row with its inputs, result and score (if resolved)."""
    fid = optional_whole_number("forecast_id", forecast_id, 1)

    def work(con: Connection) -> ForecastRecord:
        con.execute(_GET_FORECAST, {"forecast_id": fid})
        row = con.fetchone()
        if row is None:
            raise InputError("forecast_id", forecast_id, "no such forecast in the ledger")
        score = read_score(con, fid)
        return ForecastRecord(
            **_summary_args(row),
            inputs=json.loads(row[SUMMARY_WIDTH]) if row[SUMMARY_WIDTH] is not None else None,
            result=json.loads(row[SUMMARY_WIDTH + 1])
            if row[SUMMARY_WIDTH + 1] is not None
            else None,
            score=score,
        )

    return work


def get_distribution(forecast_id: int) -> Work[list[tuple[int, int]]]:
    """(value, count) pairs of the forecast's distribution, ascending (empty if none).

    Values are completion periods (unit "periods") or items (unit "items"); runs not
    done within the horizon are not listed: they are the ledger's `not_done`.
    """
    fid = optional_whole_number("forecast_id", forecast_id, 1)

    def work(con: Connection) -> list[tuple[int, int]]:
        con.execute(
            "SELECT value, count FROM forecast_distribution WHERE forecast_id = ? ORDER BY value",
            [fid],
        )
        return [(int(v), int(c)) for v, c in con.fetchall()]

    return work
