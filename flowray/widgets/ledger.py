"""The ledger panel: one project's forecasts over time, how they compare with what happened.

Shows how the 85% date moved from forecast to forecast (chart and table),
every resolved forecast next to the actual outcome, and the project's
calibration: how often its 50/70/85/95% forecasts were met.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from flowray import pipeline
from flowray.text import as_date, is_missing, long_date, probability, short_date
from flowray.widgets import charts
from flowray.widgets.base import Panel, note, section, title
from flowray.widgets.html import escape, html_table

KIND_WORDS = {"when": "when", "deadline": "when + deadline", "how_many": "how many"}


def period_days_of(row: Any) -> int:
    """A ledger row's period length, read back from its own dates (the frame has no column for it)."""
    start, p85, date = as_date(row.get("start")), row.get("p85"), as_date(row.get("p85_date"))
    if start is not None and date is not None and not is_missing(p85) and float(p85) > 0:
        days = (date - start).days / float(p85)
        if days > 0 and days == int(days):
            return int(days)
    return 7


def calibration_rows(frame: Any) -> list[tuple[str, ...]]:
    """Level, resolved, met, share met, what a calibrated forecast would meet, in words."""
    rows: list[tuple[str, ...]] = []
    for _, row in frame.iterrows():
        n = int(row["n"])
        rows.append(
            (
                f"{int(row['level'])}%",
                str(n),
                str(int(row["met"])),
                "-" if is_missing(row["met_share"]) else f"{float(row['met_share']):.0%}",
                "-"
                if is_missing(row["expected_share"])
                else f"about {float(row['expected_share']):.0%}",
            )
        )
    return rows


CALIBRATION_HEADERS = (
    "Forecast level",
    "Resolved forecasts",
    "Met",
    "Share met",
    "A calibrated forecast meets",
)


def calibration_sentence(frame: Any) -> str:
    """'Of 8 resolved forecasts, the 85% date was met 6 times (75%; about 88% expected).'"""
    if frame is None or frame.empty:
        return "No forecast has been resolved against an actual outcome yet."
    row = frame[frame["level"] == 85]
    if row.empty or int(row.iloc[0]["n"]) == 0:
        return "No forecast has been resolved against an actual outcome yet."
    r = row.iloc[0]
    expected = (
        ""
        if is_missing(r["expected_share"])
        else f"; a well-calibrated forecast would meet it about {float(r['expected_share']):.0%} of the time"
    )
    share = "" if is_missing(r["met_share"]) else f" ({float(r['met_share']):.0%})"
    return (
        f"Of {int(r['n'])} resolved forecast(s), the 85% answer was met {int(r['met'])} time(s){share}"
        f"{expected}."
    )


def actual_dates(actuals: Any, ledger: Any) -> dict[int, dt.date]:
    """Forecast id -> the date its work was actually done (resolved 'when' forecasts)."""
    by_id = {int(r["id"]): r for _, r in ledger.iterrows()} if not ledger.empty else {}
    out = {}
    for _, row in actuals.iterrows():
        start, fid = as_date(row["start"]), int(row["id"])
        if row["kind"] == "how_many" or start is None or is_missing(row["actual"]):
            continue
        days = period_days_of(by_id[fid]) if fid in by_id else 7
        out[fid] = start + dt.timedelta(days=int(row["actual"]) * days)
    return out


def actuals_rows(actuals: Any, ledger: Any) -> list[tuple[str, ...]]:
    """Resolved forecasts: the forecast dates next to the date the work was actually done."""
    by_id = {int(r["id"]): r for _, r in ledger.iterrows()} if not ledger.empty else {}
    done = actual_dates(actuals, ledger)
    rows: list[tuple[str, ...]] = []
    for _, row in actuals.iterrows():
        fid = int(row["id"])
        ledger_row = by_id.get(fid)
        start = as_date(row["start"])
        if row["kind"] == "how_many":
            forecast50 = f"at least {_int(row['p50'])} items"
            forecast85 = f"at least {_int(row['p85'])} items"
            actual = f"{_int(row['actual'])} items"
        else:
            days = period_days_of(ledger_row) if ledger_row is not None else 7
            forecast50 = _date_after(start, row["p50"], days)
            forecast85 = _date_after(start, row["p85"], days)
            actual = short_date(done.get(fid))
        met = row["met_85"]
        rows.append(
            (
                f"#{fid}",
                short_date(start),
                forecast50,
                forecast85,
                actual,
                "-" if is_missing(met) else ("yes" if bool(met) else "no"),
            )
        )
    return rows


ACTUALS_HEADERS = ("Forecast", "As of", "50% likely", "85% likely", "Actual", "85% met")


def _int(value: Any) -> str:
    return "-" if is_missing(value) else str(int(value))


def _date_after(start: dt.date | None, periods: Any, period_days: int) -> str:
    if start is None or is_missing(periods):
        return "-" if is_missing(periods) else f"{int(periods)} periods"
    return short_date(start + dt.timedelta(days=int(periods) * period_days))


class LedgerPanel(Panel):
    """Pick a project; see its forecasts over time, forecasts against actuals, and calibration."""

    def __init__(self, db_path: str | Path | None = None, *, project: str | None = None) -> None:
        super().__init__()
        self.db_path = db_path
        self.workspace = pipeline.Workspace(
            db_path
        )  # the ledger opens once per panel, not per read
        self.ledger: Any = None
        self.project = widgets.Dropdown(
            description="Project", options=[], layout=widgets.Layout(width="380px")
        )
        self.refresh_button = widgets.Button(
            description="Refresh", button_style="primary", layout=widgets.Layout(width="100px")
        )
        self.summary = widgets.HTML("")
        self.chart = charts.ledger_chart()
        self.table = widgets.HTML("")
        self.actuals = widgets.HTML("")
        self.calibration = widgets.HTML("")
        self.controls = [self.project, self.refresh_button]
        self.refresh_button.on_click(self.action(self.refresh))
        self.project.observe(self.guarded(self._project_changed), names="value")
        self.widget = widgets.VBox(
            [
                title(
                    "Forecast ledger",
                    "Every saved forecast of a project, how its dates moved, "
                    "and how the forecasts compared with what actually happened.",
                ),
                widgets.HBox([self.project, self.refresh_button]),
                self.status,
                self.summary,
                self.chart.widget,
                section("Forecasts, oldest first"),
                self.table,
                section("Forecasts against what happened"),
                self.actuals,
                section("Calibration of this project's forecasts"),
                self.calibration,
            ],
            layout=widgets.Layout(width="1100px"),
        )
        try:
            self.load_projects(project)
        except Exception as exc:
            self.show_error(exc)

    def load_projects(self, prefer: str | None = None) -> None:
        names = [p.name for p in pipeline.list_projects(self.workspace)]
        self._loading = True
        try:
            self.project.options = names
            if prefer in names:
                self.project.value = prefer
            elif names and self.project.value not in names:
                self.project.value = names[0]
        finally:
            self._loading = False
        if not names:
            self.show_info("No projects in the database yet.")
            return
        self.refresh()

    def _project_changed(self, _change: Any) -> None:
        if getattr(self, "_loading", False) or self.busy:
            return
        self.action(self.refresh)()

    def refresh(self) -> None:
        """Re-read the ledger of the picked project and redraw everything."""
        project = self.project.value
        if not project:
            self.show_info("Pick a project.")
            return
        view = pipeline.ledger_view(project, self.workspace)  # one read of the database per refresh
        ledger = view.ledger
        self.ledger = ledger
        plans = ledger[ledger["kind"].isin(["when", "deadline"])] if not ledger.empty else ledger
        self.summary.value = self._summary(project, plans)
        actuals = view.vs_actuals
        if not plans.empty:
            by_start = plans.copy()
            by_start["_as_of"] = [
                as_date(s) or as_date(c)
                for s, c in zip(by_start["start"], by_start["created_at"], strict=True)
            ]
            by_start = by_start.sort_values(["_as_of", "id"])
            data = charts.ledger_lines(
                by_start.assign(created_at=by_start["_as_of"]), actual_dates(actuals, ledger)
            )
        else:
            data = {"x": [], "p85": [], "p50": [], "actual": [], "deadlines": []}
        charts.show_ledger_lines(
            self.chart,
            data,
            f"{project}: how the forecast completion date moved",
            x_title="Forecast as of (its start date)",
        )
        self.table.value = self._ledger_table(ledger)
        self.actuals.value = (
            html_table(ACTUALS_HEADERS, actuals_rows(actuals, ledger))
            if not actuals.empty
            else note(
                "No forecast of this project has been resolved yet: record the actual "
                "completion with `flowray actual add`."
            ).value
        )
        calibration = view.calibration
        self.calibration.value = (
            f"<div style='font-size:14px;margin:2px 0'>{escape(calibration_sentence(calibration))}</div>"
            + (
                html_table(CALIBRATION_HEADERS, calibration_rows(calibration))
                if not calibration.empty
                else ""
            )
        )
        self.show_info(f"{len(ledger)} forecast(s) of {project} in the ledger.")

    def _summary(self, project: str, plans: Any) -> str:
        if plans.empty:
            return f"<div style='font-size:15px'>{escape(project)} has no saved 'when' forecast yet.</div>"
        latest = plans.iloc[-1]
        parts = [
            f"Latest forecast (#{int(latest['id'])}, as of {long_date(latest['start'])}): "
            f"<b>85% likely by {long_date(latest['p85_date'])}</b>"
        ]
        if len(plans) > 1:
            previous = plans.iloc[-2]
            a, b = as_date(latest["p85_date"]), as_date(previous["p85_date"])
            if a and b:
                days = (a - b).days
                moved = (
                    "unchanged"
                    if days == 0
                    else f"{abs(days)} days {'later' if days > 0 else 'earlier'}"
                )
                parts.append(f"{moved} than the forecast before")
        if not is_missing(latest["p_deadline"]):
            parts.append(
                f"{probability(latest['p_deadline'])} likely to meet the deadline of {long_date(latest['deadline'])}"
            )
        return "<div style='font-size:15px;margin:4px 0'>" + "; ".join(parts) + ".</div>"

    @staticmethod
    def _ledger_table(ledger: Any) -> str:
        if ledger.empty:
            return note("No forecasts saved yet.").value
        rows = []
        for _, row in ledger.iterrows():
            rows.append(
                (
                    f"#{int(row['id'])}",
                    short_date(row["created_at"]),
                    short_date(row["start"]),
                    KIND_WORDS.get(str(row["kind"]), str(row["kind"])),
                    short_date(row["p50_date"]),
                    short_date(row["p85_date"]),
                    short_date(row["deadline"]),
                    probability(row["p_deadline"]),
                    _method_words(row.get("method")),
                    "yes" if bool(row["scored"]) else "not yet",
                )
            )
        return html_table(
            (
                "Forecast",
                "Made on",
                "As of",
                "Question",
                "50% likely by",
                "85% likely by",
                "Deadline",
                "Chance of deadline",
                "Method",
                "Resolved",
            ),
            rows,
        )


def _method_words(label: Any) -> str:
    """'recency+cal, window 12' -> 'recency, last 12, calibrated'; '-' when the row does not say."""
    if not isinstance(label, str) or not label:
        return "-"
    name, _, window = label.partition(", window ")
    base, calibrated = name.removesuffix("+cal"), name.endswith("+cal")
    span = "all history" if window in ("", "all") else f"last {window}"
    return f"{base}, {span}" + (", calibrated" if calibrated else "")
