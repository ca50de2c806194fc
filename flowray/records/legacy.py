"""The old Flow Forecaster app's data written into the ledger (its reader is importers.flow_forecaster)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flowray.core.validation import parse_timestamp, whole_number
from flowray.records.base import (
    Connection,
    Record,
    Work,
    current_user,
    dumps,
    utcnow,
)
from flowray.records.ledger import insert_ledger_row
from flowray.records.projects import ensure_user, insert_throughput
from flowray.records.scores import score_open


@dataclass(frozen=True)
class ImportSummary(Record):
    """What an import of the old app's database moved over (and what it skipped)."""

    users: int = 0
    projects: int = 0
    forecasts: int = 0
    actuals: int = 0
    throughput_periods: int = 0
    scored_forecasts: int = 0
    skipped: list[str] = field(default_factory=list)


_LEGACY_KINDS = {"monte_carlo": "when", "deadline": "deadline", "ml_deadline": "ml"}
LEGACY_SOURCE = "flow_forecaster"


class FlowForecasterImport:
    """One import of the old app's data, inside the caller's transaction."""

    def __init__(self, con: Connection, data: Any) -> None:
        self.con, self.data = con, data
        self.counts = {
            "users": 0,
            "projects": 0,
            "forecasts": 0,
            "actuals": 0,
            "throughput_periods": 0,
        }
        self.skipped: list[str] = []
        self.user_names: dict[int, str] = {}  # old user id -> flowray user name
        self.name_by_email: dict[str, str] = {}
        self.project_ids: dict[int, int] = {}  # old project id -> flowray project_id
        self.forecast_ids: dict[int, int] = {}  # old forecast id -> ledger id (new ones only)
        self.already: set[int] = set()  # old forecast ids imported by an earlier run

    def run(self) -> ImportSummary:
        for user in self.data.users:
            self._user(user)
        for project in self.data.projects:
            self._project(project)
        for forecast in self.data.forecasts:
            self._forecast(forecast)
        for actual in self.data.actuals:
            self._actual(actual)
        self._throughput()
        scored = score_open(self.con, None)
        return ImportSummary(**self.counts, scored_forecasts=len(scored), skipped=self.skipped)

    def _user(self, user: Any) -> None:
        name = (user.name or user.email or f"flow_forecaster user {user.id}").strip()
        email = (user.email or "").strip() or None
        self.con.execute(
            "SELECT name FROM users WHERE name = ? OR (? IS NOT NULL AND email = ?)",
            [name, email, email],
        )
        row = self.con.fetchone()
        if row is None:
            self.con.execute(
                "INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?)",
                [
                    name,
                    email,
                    user.role or "member",
                    parse_timestamp("created_at", user.created_at) or utcnow(),
                ],
            )
            self.counts["users"] += 1
        else:
            name = row[0]
        self.user_names[user.id] = name
        if email:
            self.name_by_email[email.lower()] = name

    def _person(self, email_or_name: str | None) -> str | None:
        if not email_or_name:
            return None
        return self.name_by_email.get(email_or_name.strip().lower(), email_or_name.strip())

    def _project(self, project: Any) -> None:
        name = (project.name or f"flow_forecaster project {project.id}").strip()
        self.con.execute("SELECT project_id FROM projects WHERE name = ?", [name])
        row = self.con.fetchone()
        if row is not None:
            self.project_ids[project.id] = int(row[0])
            self.skipped.append(f"project {name!r} already exists; its forecasts are added to it")
            return
        owner = self._person(project.owner_email) or project.owner_name
        if owner:
            ensure_user(self.con, owner)
        team = project.team_size if project.team_size and project.team_size > 0 else None
        self.con.execute(
            "INSERT INTO projects (name, owner, description, team_size, status, start_date, "
            "target_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING project_id",
            [
                name,
                owner,
                project.description,
                team,
                project.status or "active",
                project.start_date,
                project.target_date,
                parse_timestamp("created_at", project.created_at) or utcnow(),
            ],
        )
        self.project_ids[project.id] = int(self.con.fetchone()[0])
        self.counts["projects"] += 1

    @staticmethod
    def _scenario(forecast: Any, period_days: int) -> dict[str, Any]:
        """The old inputs as a flowray Scenario.to_dict(), so the forecast can be re-run."""
        team = forecast.team
        out: dict[str, Any] = {
            "throughput": list(forecast.tp_samples),
            "period_days": period_days,
            "backlog": forecast.backlog if forecast.backlog is not None else 0,
            "split_rate": {"samples": list(forecast.split_rate_samples)}
            if forecast.split_rate_samples
            else None,
            "risks": [
                {"likelihood": r.likelihood, "low": r.low, "mode": r.mode, "high": r.high}
                for r in forecast.risks
            ],
            "focus": team.focus if team is not None and team.focus else 1.0,
            "lead_time_days": list(forecast.lt_samples) or None,
            "start": forecast.start_date.isoformat() if forecast.start_date else None,
            "deadline": forecast.deadline_date.isoformat() if forecast.deadline_date else None,
        }
        if team is not None and team.history_size:
            out["team"] = {
                "history_size": team.history_size,
                "min_contributors": team.min_contributors,
                "max_contributors": team.max_contributors,
                "s_curve": team.s_curve,
            }
        return out

    def _forecast(self, forecast: Any) -> None:
        where = f"forecast {forecast.id} ({forecast.name!r})"
        pid = self.project_ids.get(forecast.project_id)
        if pid is None:
            self.skipped.append(f"{where}: its project {forecast.project_id} is not in the file")
            return
        ref = f"forecast:{forecast.id}"
        created_at = parse_timestamp("created_at", forecast.created_at)
        self.con.execute(
            "SELECT forecast_id FROM forecasts WHERE project_id = ? AND source = ? AND source_ref = ? "
            "AND created_at IS NOT DISTINCT FROM ?",
            [pid, LEGACY_SOURCE, ref, created_at],
        )
        if self.con.fetchone() is not None:
            self.already.add(forecast.id)
            self.skipped.append(f"{where}: already imported")
            return
        kind = _LEGACY_KINDS.get(forecast.type or "")
        if kind is None:
            kind = "when"
            self.skipped.append(f"{where}: unknown type {forecast.type!r} stored as kind 'when'")
        if kind == "when" and forecast.deadline_date is not None:
            kind = "deadline"
        cadence = forecast.input_data.get("throughputCadenceDays") if forecast.input_data else None
        period_days = whole_number("throughputCadenceDays", cadence, 1) if cadence else 7
        percentiles = forecast.percentiles or {}
        created_by = (
            self._person(forecast.created_by)
            or self.user_names.get(forecast.user_id or -1)
            or current_user()
        )
        ensure_user(self.con, created_by)
        row = {
            "project_id": pid,
            "kind": kind,
            "unit": "periods",
            "name": forecast.name,
            "created_at": created_at or utcnow(),
            "created_by": created_by,
            "source": LEGACY_SOURCE,
            "source_ref": ref,
            "inputs": dumps(self._scenario(forecast, period_days)),
            "result": dumps(
                {
                    "imported_from": str(self.data.path),
                    "legacy_type": forecast.type,
                    "saved_via": forecast.saved_via,
                    "p85_source": forecast.p85_source,
                    "weeks_to_deadline": forecast.weeks_to_deadline,
                    "can_meet_deadline": forecast.can_meet_deadline,
                    "scope_completion_pct": forecast.scope_completion_pct,
                    "percentile_stats": percentiles,
                    "description": forecast.description,
                    "input_data": forecast.input_data,
                    "forecast_data": forecast.forecast_data,
                }
            ),
            "seed": None,
            "runs": forecast.n_simulations,
            "engine_version": "flow-forecaster",
            "period_days": period_days,
            "start_date": forecast.start_date,
            "deadline": forecast.deadline_date,
            "horizon_date": None,
            "backlog_low": forecast.backlog,
            "backlog_high": forecast.backlog,
            "data_from": None,
            "data_to": None,
            "data_periods": len(forecast.tp_samples) or None,
            # The app's percentiles are linear interpolations of run durations in weeks.
            "p50": percentiles.get("p50"),
            "p70": None,
            "p85": forecast.projected_weeks_p85,
            "p95": percentiles.get("p95"),
            "date_p50": None,
            "date_p70": None,
            "date_p85": None,
            "date_p95": None,
            "p_deadline": None,
            "not_done": 0,
        }
        self.forecast_ids[forecast.id] = insert_ledger_row(self.con, row)
        self.counts["forecasts"] += 1

    def _actual(self, actual: Any) -> None:
        where = f"actual {actual.id}"
        fid = self.forecast_ids.get(actual.forecast_id)
        if fid is None:
            reason = (
                "already imported with its forecast"
                if actual.forecast_id in self.already
                else f"its forecast {actual.forecast_id} is not in the file"
            )
            self.skipped.append(f"{where}: {reason}")
            return
        if actual.completion_date is None:
            self.skipped.append(f"{where}: no completion date")
            return
        self.con.execute("SELECT project_id FROM forecasts WHERE forecast_id = ?", [fid])
        pid = self.con.fetchone()[0]
        notes = actual.notes
        if actual.kind == "partial":
            extra = f"partial delivery ({actual.scope_delivered_pct}% of scope)"
            notes = f"{notes} [{extra}]" if notes else extra
        self.con.execute(
            "INSERT INTO actuals (project_id, forecast_id, completed_on, items_done, partial, notes, "
            "recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                pid,
                fid,
                actual.completion_date,
                actual.items_completed,
                actual.kind == "partial",
                notes,
                parse_timestamp("recorded_at", actual.recorded_at) or utcnow(),
                self._person(actual.recorded_by) or current_user(),
            ],
        )
        self.counts["actuals"] += 1

    def _throughput(self) -> None:
        """Give each project without history the tpSamples of its imported forecasts.

        Each sample list is dated as the periods just before the forecast's start
        (how the app's users fill it). Windows of several forecasts are merged
        (a later forecast wins where they disagree), and the longest gap-free run
        of periods ending at the latest one is kept.
        """
        by_project: dict[int, list[Any]] = {}
        for forecast in self.data.forecasts:
            pid = self.project_ids.get(forecast.project_id)
            if forecast.id in self.forecast_ids and pid is not None:
                by_project.setdefault(pid, []).append(forecast)
        for pid, forecasts in by_project.items():
            self.con.execute("SELECT count(*) FROM throughput WHERE project_id = ?", [pid])
            if self.con.fetchone()[0]:
                continue
            dated: dict[dt.date, int] = {}
            period_days = 7
            for forecast in sorted(forecasts, key=lambda f: (f.start_date or dt.date.min, f.id)):
                if forecast.start_date is None or not forecast.tp_samples:
                    continue
                cadence = (
                    forecast.input_data.get("throughputCadenceDays")
                    if forecast.input_data
                    else None
                )
                pdays = int(cadence) if cadence else 7
                if dated and pdays != period_days:
                    continue
                period_days = pdays
                n = len(forecast.tp_samples)
                for i, value in enumerate(forecast.tp_samples):
                    day = forecast.start_date - dt.timedelta(days=(n - i) * pdays)
                    if any((day - d).days % pdays for d in dated):
                        break  # not aligned with the periods already placed
                    dated[day] = int(round(value))
            if not dated:
                continue
            days = sorted(dated)
            run = [days[-1]]
            for day in reversed(days[:-1]):
                if (run[-1] - day).days != period_days:
                    break
                run.append(day)
            rows = [(d, dated[d]) for d in reversed(run)]
            insert_throughput(self.con, pid, rows, period_days)
            self.counts["throughput_periods"] += len(rows)


def import_flow_forecaster(data: Any) -> Work[ImportSummary]:
    """The work of one import of the old app's data (one transaction)."""
    return lambda con: FlowForecasterImport(con, data).run()
