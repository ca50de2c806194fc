"""The portfolio panel: every active project's plan, at-risk projects first.

A project's plan is the forecast its team chose to follow ("Make this the
plan"; the nightly batch renews it); a saved what-if changes nothing here.
For each project: the plan's 85% date and the chance of meeting its
deadline, with the change since the previous plan; then forecasts against
actuals and calibration across all projects, so a stakeholder can judge how
much to trust the numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as widgets

from flowray import pipeline
from flowray.text import is_missing, probability, short_date
from flowray.widgets import charts
from flowray.widgets.base import Panel, note, section, title
from flowray.widgets.html import escape, html_table
from flowray.widgets.ledger import (
    ACTUALS_HEADERS,
    CALIBRATION_HEADERS,
    actuals_rows,
    calibration_rows,
    calibration_sentence,
)

AT_RISK = 0.5  # below: at risk
CONFIDENT = 0.85  # at or above: on track (the deadline is met at 85%)
STATUS_STYLES = {
    "At risk": ("#b42318", "#fdecea"),
    "Watch": ("#b26a00", "#fff4e0"),
    "On track": ("#1a7f37", "#e8f5e9"),
    "No deadline": ("#555", "#f5f5f5"),
    "No plan": ("#555", "#f5f5f5"),
}


def project_status(row: Any) -> str:
    """At risk (< 50%), Watch (< 85%), On track (>= 85%), or why there is no answer."""
    if is_missing(row.get("latest_forecast")):
        return "No plan"
    p = row.get("p_deadline")
    if is_missing(p):
        return "No deadline"
    if float(p) < AT_RISK:
        return "At risk"
    return "Watch" if float(p) < CONFIDENT else "On track"


def trend_words(change: Any) -> str:
    """+0.12 -> 'up 12 points'; None (the first plan) -> '-'."""
    if is_missing(change):
        return "-"
    points = round(float(change) * 100)
    if points == 0:
        return "unchanged"
    return f"{'up' if points > 0 else 'down'} {abs(points)} points"


def shift_words(days: Any) -> str:
    if is_missing(days):
        return "-"
    days = int(days)
    if days == 0:
        return "unchanged"
    return f"{abs(days)} days {'later' if days > 0 else 'earlier'}"


class PortfolioPanel(Panel):
    """All active projects, riskiest first, with the evidence of how good the forecasts have been."""

    def __init__(self, db_path: str | Path | None = None) -> None:
        super().__init__()
        self.db_path = db_path
        self.workspace = pipeline.Workspace(
            db_path
        )  # the ledger opens once per panel, not per read
        self.frame: Any = None
        self.refresh_button = widgets.Button(
            description="Refresh", button_style="primary", layout=widgets.Layout(width="100px")
        )
        self.headline = widgets.HTML("")
        self.table = widgets.HTML("")
        self.chart = charts.probability_chart()
        self.actuals = widgets.HTML("")
        self.calibration = widgets.HTML("")
        self.controls = [self.refresh_button]
        self.refresh_button.on_click(self.action(self.refresh))
        self.widget = widgets.VBox(
            [
                title(
                    "Project portfolio",
                    "Every active project's plan, projects at risk first. A plan is the "
                    "forecast a team chose to follow; what-ifs saved beside it change "
                    "nothing here.",
                ),
                widgets.HBox(
                    [self.refresh_button, self.status], layout=widgets.Layout(align_items="center")
                ),
                self.headline,
                self.table,
                self.chart.widget,
                section("Past forecasts against what happened (all projects)"),
                self.actuals,
                section("Calibration across projects"),
                self.calibration,
            ],
            layout=widgets.Layout(width="1150px"),
        )
        try:
            self.refresh()
        except Exception as exc:
            self.show_error(exc)

    def refresh(self) -> None:
        """Re-read the ledger and redraw the portfolio."""
        view = pipeline.ledger_view(None, self.workspace)  # one read of the database per refresh
        frame = view.portfolio
        self.frame = frame
        if frame.empty:
            self.headline.value = ""
            self.table.value = note(
                "No active projects in the database yet. Seed a demo with `flowray demo`, "
                "or add projects with `flowray project add`."
            ).value
            charts.show_probability_bars(self.chart, [], [], [], "Chance of meeting the deadline")
            self.actuals.value = self.calibration.value = ""
            self.show_info("No active projects.")
            return
        statuses = [project_status(row) for _, row in frame.iterrows()]
        counts = {s: statuses.count(s) for s in STATUS_STYLES if statuses.count(s)}
        self.headline.value = (
            "<div style='font-size:16px;margin:6px 0'>"
            + ", ".join(
                f"<b style='color:{STATUS_STYLES[s][0]}'>{n} {escape(s.lower())}</b>"
                for s, n in counts.items()
            )
            + f" of {len(frame)} active project(s). <span style='color:#555;font-size:13px'>At risk: below "
            f"{AT_RISK:.0%} chance of meeting the deadline; on track: at least {CONFIDENT:.0%}.</span></div>"
        )
        rows, styles = [], []
        for status, (_, row) in zip(statuses, frame.iterrows(), strict=True):
            rows.append(
                (
                    status,
                    row["project"],
                    short_date(row["target_date"]),
                    short_date(row["p85_date"]),
                    probability(row["p_deadline"]),
                    trend_words(row["p_deadline_change"]),
                    shift_words(row["p85_shift_days"]),
                    short_date(row["forecast_on"]),
                    str(int(row["forecasts"])),
                )
            )
            colour, background = STATUS_STYLES[status]
            styles.append(
                f"background:{background};color:{colour}" if status in ("At risk", "Watch") else ""
            )
        self.table.value = html_table(
            (
                "Status",
                "Project",
                "Target date",
                "85% likely by",
                "Chance of meeting target",
                "Change since the previous plan",
                "85% date moved",
                "Plan made on",
                "Plans so far",
            ),
            rows,
            row_styles=styles,
        )
        with_deadline = [
            (r["project"], r["p_deadline"], STATUS_STYLES[s][0])
            for s, (_, r) in zip(statuses, frame.iterrows(), strict=True)
        ]
        charts.show_probability_bars(
            self.chart,
            [n for n, _, _ in with_deadline],
            [None if is_missing(p) else float(p) for _, p, _ in with_deadline],
            [c for _, _, c in with_deadline],
            "Chance of meeting the deadline (each project's plan)",
        )
        ledger = view.ledger
        actuals = view.vs_actuals
        if actuals.empty:
            self.actuals.value = note(
                "No forecast has been resolved against an actual outcome yet."
            ).value
        else:
            self.actuals.value = html_table(
                ("Project",) + ACTUALS_HEADERS,
                [
                    (p,) + r
                    for p, r in zip(actuals["project"], actuals_rows(actuals, ledger), strict=True)
                ],
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
        at_risk = counts.get("At risk", 0)
        self.show_info(f"Updated. {at_risk} project(s) at risk." if at_risk else "Updated.")
