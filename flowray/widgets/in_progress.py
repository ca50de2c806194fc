"""The "Items in progress" section of the forecast page: cycle times and the age of open items.

Shown, folded, for the selected project when it holds work items
(`pipeline.cycle_time_report`); hidden for pasted throughput and for projects
whose history was entered as throughput, which have no items. Its first lines are for stakeholders ("85% of finished items took
9 days or less"); the table, the scatter and the ageing chart follow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ipywidgets as widgets

from flowray import pipeline
from flowray.exceptions import InputError
from flowray.text import long_date, short_date
from flowray.widgets import charts
from flowray.widgets.html import escape, html_table, warning_box

SECTION_TITLE = "Items in progress"
HOW_TO_IMPORT = (
    "Import work items with start and done dates to see them here: "
    "flowray import items EXPORT.csv --project NAME"
)
HOW_TO_READ = (
    "Cycle time counts calendar days from start to done, both included. An item's likely "
    "date comes from the finished items that took at least as long as it has been open; "
    "with fewer than 10 of them, flowray does not guess."
)


class InProgressSection:
    """A folded Accordion: headline, items table, scatter and ageing chart of one project."""

    def __init__(self, workspace: Any, today: dt.date | None = None) -> None:
        self.workspace = workspace
        self.today = today
        self.report: pipeline.CycleTimeReport | None = None
        self.project: str | None = None
        self.headline = widgets.HTML("")
        self.table = widgets.HTML("")
        self.warnings = widgets.HTML("")
        self.how_to_read = widgets.HTML(
            f"<div style='color:#555;font-size:12px;margin:4px 0'>{escape(HOW_TO_READ)}</div>"
        )
        self.scatter = charts.cycle_scatter_chart()
        self.ageing = charts.ageing_chart()
        self.chart_box = widgets.VBox([self.scatter.widget, self.ageing.widget])
        body = widgets.VBox(
            [self.headline, self.warnings, self.table, self.chart_box, self.how_to_read]
        )
        self.widget = widgets.Accordion(children=[body], titles=(SECTION_TITLE,))
        self.widget.selected_index = None  # folded until asked for
        self.widget.layout.display = "none"

    @property
    def visible(self) -> bool:
        return self.widget.layout.display != "none"

    def hide(self) -> None:
        """Nothing to show (pasted throughput): the section goes away, its last report with it."""
        self.report = None
        self.project = None
        self.widget.layout.display = "none"
        self.widget.set_title(0, SECTION_TITLE)

    def show_project(self, project: str | None) -> None:
        """Read the project's work items and show them.

        A project without work items (its history entered as throughput) shows
        nothing; one whose items cannot give a cycle time says why, and how to
        import dated ones.
        """
        if not project:
            self.hide()
            return
        self.project = project
        self.widget.layout.display = None
        try:
            self.report = pipeline.cycle_time_report(project, self.workspace, self.today)
        except InputError as exc:
            if exc.field == "project":  # no work items at all (a throughput-only project)
                self.hide()
                return
            self.report = None
            self.headline.value = _para(
                f"No cycle times for {project} yet: {exc.rule}. {HOW_TO_IMPORT}."
            )
            self.table.value = ""
            self.warnings.value = ""
            self.chart_box.layout.display = "none"
            self.widget.set_title(0, f"{SECTION_TITLE}: no cycle times yet")
            return
        self._show(self.report)

    def _show(self, report: pipeline.CycleTimeReport) -> None:
        self.widget.set_title(0, section_title(report))
        self.headline.value = "".join(_para(line) for line in headline_lines(report))
        self.warnings.value = warning_box(
            [*report.warnings, *report.left_out_lines()], heading="Read with care"
        )
        self.table.value = items_table(report)
        self.chart_box.layout.display = None
        charts.show_cycle_scatter(
            self.scatter,
            report.scatter(),
            report.percentiles,
            f"How long the {report.finished} finished items took",
        )
        charts.show_ageing(
            self.ageing,
            [
                {
                    "item_id": item.item_id,
                    "age": item.age,
                    "band": item.band,
                    "words": item.older_than_words(report.finished),
                }
                for item in report.in_progress
            ],
            report.percentiles,
            f"Age of the {len(report.in_progress)} items in progress on {long_date(report.today)}",
        )


def section_title(report: pipeline.CycleTimeReport) -> str:
    """The folded section's title carries the one line a stakeholder needs."""
    ageing = report.in_progress
    if not ageing:
        return f"{SECTION_TITLE}: none"
    late = sum(1 for item in ageing if item.band is not None and item.band >= 85)
    return f"{SECTION_TITLE}: {len(ageing)}, {late} older than 85% of finished items"


def headline_lines(report: pipeline.CycleTimeReport) -> list[str]:
    """The stakeholder's lines: how long items take, and how many open ones are running late."""
    p = report.percentiles
    lines = [
        f"Half of the finished items took {p[50]} days or less, and 85% took {p[85]} days "
        f"or less (from {report.finished} finished items, as of {long_date(report.today)})."
    ]
    ageing = report.in_progress
    if not ageing:
        lines.append("No items are in progress.")
        return lines
    late = [item.item_id for item in ageing if item.band is not None and item.band >= 85]
    if late:
        shown = ", ".join(late[:5]) + (f" and {len(late) - 5} more" if len(late) > 5 else "")
        lines.append(
            f"{len(late)} of the {len(ageing)} items in progress "
            f"{'is' if len(late) == 1 else 'are'} already older than 85% of finished items: "
            f"{shown}."
        )
    else:
        lines.append(
            f"None of the {len(ageing)} items in progress is older than 85% of finished items."
        )
    return lines


def items_table(report: pipeline.CycleTimeReport) -> str:
    """Items in progress, oldest first: age, the share of finished items it is older than, its date."""
    rows = []
    for item in report.in_progress:
        forecast = item.forecast
        when = (
            f"{short_date(forecast.date(85))} (from {forecast.rests_on} items)"
            if forecast.reliable
            else f"too few finished items this old to say ({forecast.rests_on})"
        )
        rows.append(
            [
                item.item_id,
                short_date(item.started_on),
                f"{item.age} days",
                item.older_than_words(report.finished),
                when,
            ]
        )
    if not rows:
        return ""
    styles = [
        "background:#fdecea" if item.band is not None and item.band >= 85 else ""
        for item in report.in_progress
    ]
    return html_table(
        ["item", "started", "age", "compared with finished items", "85% likely done by"],
        rows,
        row_styles=styles,
        caption="Oldest first",
    )


def _para(text: str) -> str:
    return f"<div style='font-size:14px;margin:2px 0'>{escape(text)}</div>"


__all__ = ["SECTION_TITLE", "InProgressSection", "headline_lines", "items_table", "section_title"]
