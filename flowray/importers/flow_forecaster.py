"""The SQLite database of the old Flow Forecaster web app, read (read-only) into plain records.

stdlib sqlite3 only; `flowray.store` writes what this reads into the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowray.core.validation import parse_timestamp
from flowray.exceptions import InputError
from flowray.importers.dates import DateParseError, parse_date
from flowray.importers.work_items import _existing_file


@dataclass
class LegacyUser:
    """A user of the old Flow Forecaster app (timestamps naive, UTC)."""

    id: int
    email: str
    name: str
    role: str | None
    created_at: dt.datetime | None
    is_active: bool | None = None
    last_login: dt.datetime | None = None


@dataclass
class LegacyProject:
    """A project of the old app; `owner_email` comes from its user_id, `owner_name` from its text owner field."""

    id: int
    name: str
    description: str | None
    owner_email: str | None
    owner_name: str | None
    team_size: int | None
    status: str | None
    start_date: dt.date | None
    target_date: dt.date | None
    priority: int | None = None
    business_value: int | None = None
    risk_level: str | None = None
    capacity_allocated: float | None = None
    strategic_importance: str | None = None
    stakeholder: str | None = None
    tags: list[str] = field(default_factory=list)
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


@dataclass
class LegacyRisk:
    """A risk of an old forecast; `likelihood` converted from the app's percent to [0, 1]."""

    likelihood: float
    low: float
    mode: float
    high: float
    description: str | None = None


@dataclass
class LegacyTeam:
    """Team inputs normalised across the app's payloads (teamSize vs historical_team_size, ...)."""

    history_size: int | None
    min_contributors: int | None
    max_contributors: int | None
    s_curve: float
    focus: float


@dataclass
class LegacyForecast:
    """One stored forecast of the old app, with its JSON blobs decoded.

    `projected_weeks_p85` is the column, or `forecast_data.percentile_stats.p85`
    when the column is NULL (`p85_source` says which). The app's `resultsTable`
    (whose "85" row holds the 15th percentile) is never used.
    """

    id: int
    project_id: int
    type: str  # monte_carlo | deadline | ml_deadline (or whatever the DB holds)
    name: str
    created_at: dt.datetime | None
    created_by: str | None
    backlog: int | None
    start_date: dt.date | None
    deadline_date: dt.date | None
    weeks_to_deadline: float | None
    projected_weeks_p85: float | None
    p85_source: str | None
    can_meet_deadline: bool | None
    scope_completion_pct: float | None
    percentiles: dict[str, float]
    tp_samples: list[float]
    lt_samples: list[float]
    split_rate_samples: list[float]
    risks: list[LegacyRisk]
    team: LegacyTeam
    n_simulations: int | None
    saved_via: str  # "web" (POST /api/forecasts) or "celery_task"
    input_data: dict[str, Any]
    forecast_data: dict[str, Any]
    description: str | None = None
    user_id: int | None = None


@dataclass
class LegacyActual:
    """What actually happened to an old forecast; `kind` is full or partial (less than the backlog)."""

    id: int
    forecast_id: int
    project_id: int | None
    completion_date: dt.date | None
    weeks_taken: float | None
    items_completed: int | None
    notes: str | None
    recorded_at: dt.datetime | None
    recorded_by: str | None
    kind: str | None = None
    scope_delivered_pct: float | None = None
    weeks_error: float | None = None
    weeks_error_pct: float | None = None
    scope_error_pct: float | None = None


@dataclass
class FlowForecasterData:
    """Everything `read_flow_forecaster` found, plus notes on every fallback it used."""

    path: str
    users: list[LegacyUser]
    projects: list[LegacyProject]
    forecasts: list[LegacyForecast]
    actuals: list[LegacyActual]
    counts: dict[str, int]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


# Constant statements only: table names are never taken from the file into SQL.
_COUNT_SQL = {
    "users": "SELECT COUNT(*) FROM users",
    "projects": "SELECT COUNT(*) FROM projects",
    "forecasts": "SELECT COUNT(*) FROM forecasts",
    "actuals": "SELECT COUNT(*) FROM actuals",
    "portfolios": "SELECT COUNT(*) FROM portfolios",
    "portfolio_projects": "SELECT COUNT(*) FROM portfolio_projects",
    "portfolio_risks": "SELECT COUNT(*) FROM portfolio_risks",
    "simulation_runs": "SELECT COUNT(*) FROM simulation_runs",
    "cod_training_datasets": "SELECT COUNT(*) FROM cod_training_datasets",
    "cod_models": "SELECT COUNT(*) FROM cod_models",
}
_ROWS_SQL = {
    "users": "SELECT * FROM users ORDER BY id",
    "projects": "SELECT * FROM projects ORDER BY id",
    "forecasts": "SELECT * FROM forecasts ORDER BY id",
    "actuals": "SELECT * FROM actuals ORDER BY id",
}
_IMPORTED_TABLES = ("users", "projects", "forecasts", "actuals")


def _get(row: sqlite3.Row, name: str) -> Any:
    return row[name] if name in row.keys() else None  # sqlite3.Row: keys() lists names


def _legacy_datetime(value: Any, where: str, notes: list[str]) -> dt.datetime | None:
    if value in (None, ""):
        return None
    unreadable = f"{where}: timestamp {value!r} unreadable; left empty."
    if isinstance(value, bool):
        notes.append(unreadable)
        return None
    if isinstance(value, (int, float)):
        try:
            parsed = dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            notes.append(unreadable)
            return None
    else:
        try:
            parsed = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            try:
                parsed = dt.datetime.combine(parse_date(str(value)), dt.time())
            except DateParseError:
                notes.append(unreadable)
                return None
    try:
        return parse_timestamp(where, parsed)
    except InputError as exc:
        notes.append(f"{where}: timestamp {value!r} {exc.rule}; left empty.")
        return None


def _legacy_date(value: Any, where: str, notes: list[str]) -> dt.date | None:
    """The app writes DD/MM/YYYY; its date inputs may also leave YYYY-MM-DD."""
    if value in (None, ""):
        return None
    try:
        return parse_date(str(value), dayfirst=True)
    except DateParseError as exc:
        notes.append(f"{where}: date {value!r} {exc.rule}; left empty.")
        return None


def _number(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _whole(value: Any) -> int | None:
    number = _number(value)
    return int(round(number)) if number is not None else None


def _json_object(text: Any, where: str, notes: list[str]) -> dict[str, Any]:
    if text in (None, ""):
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        notes.append(f"{where}: not valid JSON; read as empty.")
        return {}
    if not isinstance(value, dict):
        notes.append(f"{where}: JSON is a {type(value).__name__}, not an object; read as empty.")
        return {}
    return value


def _number_list(value: Any, where: str, notes: list[str]) -> list[float]:
    if value in (None, ""):
        return []
    if isinstance(value, str):  # some payloads carry "3, 5, 2"
        value = [v for v in re.split(r"[,;\s]+", value) if v]
    if not isinstance(value, list):
        notes.append(f"{where}: expected a list, got {type(value).__name__}; left empty.")
        return []
    numbers = [_number(v) for v in value]
    if any(n is None for n in numbers):
        notes.append(f"{where}: {sum(n is None for n in numbers)} non-numeric value(s) skipped.")
    return [n for n in numbers if n is not None]


def _risks(raw: Any, where: str, notes: list[str]) -> list[LegacyRisk]:
    risks: list[LegacyRisk] = []
    if raw in (None, ""):
        return risks
    if not isinstance(raw, list):
        notes.append(f"{where}: risks is a {type(raw).__name__}, not a list; none imported.")
        return risks
    for index, risk in enumerate(raw, start=1):
        if not isinstance(risk, dict):
            notes.append(f"{where} risk {index}: not an object; skipped.")
            continue
        likelihood = _number(risk.get("likelihood"))
        low, mode, high = (
            _number(risk.get(k)) for k in ("lowImpact", "mediumImpact", "highImpact")
        )
        if likelihood is None or low is None or mode is None or high is None:
            notes.append(f"{where} risk {index}: likelihood or impacts missing; skipped.")
            continue
        if not 0 <= likelihood <= 100:
            notes.append(f"{where} risk {index}: likelihood {likelihood}% outside 0..100; skipped.")
            continue
        risks.append(LegacyRisk(likelihood / 100.0, low, mode, high, risk.get("description")))
    return risks


def _team(inputs: dict[str, Any], project_team: int | None) -> LegacyTeam:
    """monte_carlo payloads carry historical_team_size/min/max; deadline ones carry teamSize."""
    history = _whole(inputs.get("historical_team_size"))
    if history is None:
        history = _whole(inputs.get("teamSize"))
    if history is None:
        history = _whole(inputs.get("totalContributors"))
    if history is None:
        history = project_team
    low = _whole(inputs.get("minContributors"))
    high = _whole(inputs.get("maxContributors"))
    focus = _number(inputs.get("teamFocus"))
    if focus is None or not 0 < focus <= 1:
        percent = _number(inputs.get("teamFocusPercent"))
        focus = percent / 100.0 if percent is not None and 0 < percent <= 100 else 1.0
    return LegacyTeam(
        history_size=history,
        min_contributors=low if low is not None else history,
        max_contributors=high if high is not None else history,
        s_curve=_number(inputs.get("sCurveSize")) or 0.0,
        focus=focus,
    )


def _open_sqlite_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    try:
        connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise InputError("path", str(path), f"is not a readable SQLite database ({exc})") from None
    connection.row_factory = sqlite3.Row
    connection.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
    return connection


def read_flow_forecaster(path: str | Path) -> FlowForecasterData:
    """Read users, projects, forecasts and actuals from the old app's SQLite file (opened read-only).

    Real databases vary: dates DD/MM/YYYY or YYYY-MM-DD, NULL denormalised
    columns (forecasts saved by the Celery task), missing optional tables or
    columns. Each fallback used is written to `notes`; only a file that is not
    a Flow Forecaster database raises InputError.
    """
    source = _existing_file(path)
    notes = []
    connection = _open_sqlite_read_only(source)
    try:
        tables = {
            r["name"]
            for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not {"projects", "forecasts"} <= tables:
            raise InputError(
                "path", str(path), f"is not a Flow Forecaster database (tables: {sorted(tables)})"
            )
        counts = {
            name: connection.execute(sql).fetchone()[0]
            for name, sql in _COUNT_SQL.items()
            if name in tables
        }
        for name, count in counts.items():
            if name not in _IMPORTED_TABLES and count:
                notes.append(f"Table {name} has {count} row(s); flowray does not import it.")
        rows = {
            name: (connection.execute(_ROWS_SQL[name]).fetchall() if name in tables else [])
            for name in _IMPORTED_TABLES
        }
        for name in _IMPORTED_TABLES:
            if name not in tables:
                notes.append(f"Table {name} is missing; nothing imported from it.")
    except sqlite3.DatabaseError as exc:
        raise InputError("path", str(path), f"could not be read as SQLite ({exc})") from None
    finally:
        connection.close()

    users = [
        LegacyUser(
            id=r["id"],
            email=_get(r, "email"),
            name=_get(r, "name"),
            role=_get(r, "role"),
            created_at=_legacy_datetime(_get(r, "created_at"), f"user {r['id']} created_at", notes),
            is_active=None if _get(r, "is_active") is None else bool(_get(r, "is_active")),
            last_login=_legacy_datetime(_get(r, "last_login"), f"user {r['id']} last_login", notes),
        )
        for r in rows["users"]
    ]
    email_by_user = {u.id: u.email for u in users}
    projects: list[LegacyProject] = []
    for r in rows["projects"]:
        where = f"project {r['id']}"
        user_id = _get(r, "user_id")
        owner_email = email_by_user.get(user_id)
        if owner_email is None:
            notes.append(f"{where}: owner user {user_id!r} not found; owner e-mail left empty.")
        tags_raw = _get(r, "tags")
        tags: list[str] = []
        if tags_raw:
            try:
                parsed = json.loads(tags_raw)
                tags = [str(t) for t in parsed] if isinstance(parsed, list) else [str(parsed)]
            except ValueError:
                tags = [t.strip() for t in str(tags_raw).split(",") if t.strip()]
        projects.append(
            LegacyProject(
                id=r["id"],
                name=_get(r, "name"),
                description=_get(r, "description"),
                owner_email=owner_email,
                owner_name=_get(r, "owner"),
                team_size=_whole(_get(r, "team_size")),
                status=_get(r, "status"),
                start_date=_legacy_date(_get(r, "start_date"), f"{where} start_date", notes),
                target_date=_legacy_date(
                    _get(r, "target_end_date"), f"{where} target_end_date", notes
                ),
                priority=_whole(_get(r, "priority")),
                business_value=_whole(_get(r, "business_value")),
                risk_level=_get(r, "risk_level"),
                capacity_allocated=_number(_get(r, "capacity_allocated")),
                strategic_importance=_get(r, "strategic_importance"),
                stakeholder=_get(r, "stakeholder"),
                tags=tags,
                created_at=_legacy_datetime(_get(r, "created_at"), f"{where} created_at", notes),
                updated_at=_legacy_datetime(_get(r, "updated_at"), f"{where} updated_at", notes),
            )
        )
    team_by_project = {p.id: p.team_size for p in projects}

    forecasts = [_legacy_forecast(r, team_by_project, notes) for r in rows["forecasts"]]
    forecast_by_id = {f.id: f for f in forecasts}
    actuals: list[LegacyActual] = []
    for r in rows["actuals"]:
        where = f"actual {r['id']}"
        forecast = forecast_by_id.get(_get(r, "forecast_id"))
        if forecast is None:
            notes.append(f"{where}: forecast {_get(r, 'forecast_id')!r} not found.")
        items = _whole(_get(r, "actual_items_completed"))
        delivered = _number(_get(r, "actual_scope_delivered_pct"))
        kind: str | None = None
        if forecast is not None and forecast.backlog is not None and items is not None:
            kind = "partial" if items < forecast.backlog else "full"
        elif delivered is not None:
            kind = "partial" if delivered < 100 else "full"
        actuals.append(
            LegacyActual(
                id=r["id"],
                forecast_id=_get(r, "forecast_id"),
                project_id=forecast.project_id if forecast else None,
                completion_date=_legacy_date(
                    _get(r, "actual_completion_date"), f"{where} actual_completion_date", notes
                ),
                weeks_taken=_number(_get(r, "actual_weeks_taken")),
                items_completed=items,
                notes=_get(r, "notes"),
                recorded_at=_legacy_datetime(_get(r, "recorded_at"), f"{where} recorded_at", notes),
                recorded_by=_get(r, "recorded_by"),
                kind=kind,
                scope_delivered_pct=delivered,
                weeks_error=_number(_get(r, "weeks_error")),
                weeks_error_pct=_number(_get(r, "weeks_error_pct")),
                scope_error_pct=_number(_get(r, "scope_error_pct")),
            )
        )
    return FlowForecasterData(str(path), users, projects, forecasts, actuals, counts, list(notes))


def _legacy_forecast(
    r: sqlite3.Row, team_by_project: dict[int, int | None], notes: list[str]
) -> LegacyForecast:
    where = f"forecast {r['id']}"
    inputs = _json_object(_get(r, "input_data"), f"{where} input_data", notes)
    results = _json_object(_get(r, "forecast_data"), f"{where} forecast_data", notes)
    stats = results.get("percentile_stats")
    percentiles = (
        {str(k): n for k, v in stats.items() if (n := _number(v)) is not None}
        if isinstance(stats, dict)
        else {}
    )

    p85 = _number(_get(r, "projected_weeks_p85"))
    p85_source: str | None = "column" if p85 is not None else None
    if p85 is None and "p85" in percentiles:
        p85, p85_source = percentiles["p85"], "forecast_data.percentile_stats.p85"
    elif p85 is None and _number(results.get("projected_weeks_p85")) is not None:
        p85, p85_source = (
            _number(results.get("projected_weeks_p85")),
            "forecast_data.projected_weeks_p85",
        )
    if p85_source not in (None, "column"):
        notes.append(f"{where}: projected_weeks_p85 is NULL; P85 = {p85} taken from {p85_source}.")
    elif p85 is None:
        notes.append(f"{where}: no P85 anywhere (column NULL, no percentile_stats).")

    backlog = _whole(_get(r, "backlog"))
    if backlog is None:
        backlog = _whole(inputs.get("backlog", inputs.get("numberOfTasks")))
        if backlog is not None:
            notes.append(f"{where}: backlog column NULL; {backlog} taken from input_data.")
    start_raw = _get(r, "start_date") or inputs.get("startDate")
    deadline_raw = _get(r, "deadline_date") or inputs.get("deadlineDate")
    weeks_to_deadline = _number(_get(r, "weeks_to_deadline"))
    if weeks_to_deadline is None:
        weeks_to_deadline = _number(results.get("weeks_to_deadline"))
    can_meet = _get(r, "can_meet_deadline")
    created_by = _get(r, "created_by")
    saved_via = "celery_task" if "task_id" in results else "web"
    if created_by is None:
        notes.append(f"{where}: created_by is NULL (saved via {saved_via}).")
    project_id = _get(r, "project_id")
    return LegacyForecast(
        id=r["id"],
        project_id=project_id,
        type=_get(r, "forecast_type") or "monte_carlo",
        name=_get(r, "name"),
        created_at=_legacy_datetime(_get(r, "created_at"), f"{where} created_at", notes),
        created_by=created_by,
        backlog=backlog,
        start_date=_legacy_date(start_raw, f"{where} start_date", notes),
        deadline_date=_legacy_date(deadline_raw, f"{where} deadline_date", notes),
        weeks_to_deadline=weeks_to_deadline,
        projected_weeks_p85=p85,
        p85_source=p85_source,
        can_meet_deadline=None if can_meet is None else bool(can_meet),
        scope_completion_pct=_number(_get(r, "scope_completion_pct")),
        percentiles=percentiles,
        tp_samples=_number_list(inputs.get("tpSamples"), f"{where} tpSamples", notes),
        lt_samples=_number_list(inputs.get("ltSamples"), f"{where} ltSamples", notes),
        split_rate_samples=_number_list(
            inputs.get("splitRateSamples"), f"{where} splitRateSamples", notes
        ),
        risks=_risks(inputs.get("risks"), where, notes),
        team=_team(inputs, team_by_project.get(project_id)),
        n_simulations=_whole(inputs.get("numberOfSimulations", inputs.get("nSimulations"))),
        saved_via=saved_via,
        input_data=inputs,
        forecast_data=results,
        description=_get(r, "description"),
        user_id=_get(r, "user_id"),
    )
