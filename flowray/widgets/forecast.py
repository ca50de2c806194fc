"""The forecast panel: set a scenario, run it on Ray with live progress, read and save the answer.

Run validates the inputs at once (errors name the field), then starts the
job through `flowray.pipeline.start_forecast` off the event loop and follows
it from an asyncio task: the kernel stays responsive, so Cancel works while
the job runs, and the progress bar and the percentiles update as chunks land.
The final result draws the histogram, the burn-down fan, the likelihood table,
P(deadline) and the data checks; Save writes it to the ledger.

The forecast method defaults to flowray's choice from the backtests
(recency-weighted sampling of the last 12 weeks, calibrated on the history's
own past forecast errors); "How to forecast" switches to plain bootstrap on all
the history (the plain model) or any sampler, window and calibration. The
calibration map is learned as a last step of the same Ray job; the result view
says which method produced the numbers, and says so when calibration was not
possible and what it fell back to.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from flowray import pipeline
from flowray.core import backtest
from flowray.core.checks import MIN_PERIODS
from flowray.core.engine import check_horizon, validate_runs
from flowray.core.results import ForecastResult, HowManyResult
from flowray.exceptions import InputError, NotEnoughData
from flowray.text import format_probability, long_date, period_word
from flowray.widgets import charts
from flowray.widgets.base import JobPanel, note, section, title
from flowray.widgets.html import html_table, warning_box

LEVELS = (50, 70, 85, 95)
DEFAULT_RUNS = (
    1_000_000  # 16 chunks of 65,536: about a second of work, a visibly moving progress bar
)
DEFAULT_WINDOW = (
    backtest.DEFAULT_WINDOW or 0
)  # "Choose sampler and window" starts from flowray's default
PROGRESS_STEPS = 1000  # the bar counts thousandths of the job (simulation, then calibration)
METHOD_CHOICES = (
    ("flowray's default: calibrated (recommended)", "default"),
    ("Plain bootstrap on all history (the plain model)", "domain"),
    ("Choose the sampler and window", "custom"),
)
SAMPLER_CHOICES = (
    ("Bootstrap: any past week, equally likely", "bootstrap"),
    ("Block bootstrap: runs of weeks kept", "block"),
    ("Recency-weighted: recent weeks count more", "recency"),
    ("Zero-inflated Weibull fit", "weibull"),
)
METHOD_NOTES = {
    "default": (
        "Recency-weighted sampling of the last {window} weeks, read through a calibration learned from this "
        "history's own past forecast errors. In flowray's backtests on real projects its 85% answers came "
        "true about 85% of the time; plain bootstrap's clearly less often."
    ),
    "domain": (
        "Every past week equally likely, all the history, no calibration: the plain model of docs/model.md and of "
        "spreadsheet tools (and of `flowray when` without --method). In flowray's backtests its 85% "
        "answers came true clearly less often than 85% of the time."
    ),
    "custom": (
        "Any sampler on the last N values (0 = the whole history); calibration learns from this history's "
        "own past forecast errors and needs about 20 weeks more than the horizon. The backtests compare them."
    ),
}
DEFAULT_BACKLOG = 60
POLL_SECONDS = 0.25
_NUMBER = re.compile(r"[^\s,;]+")


def _wide() -> widgets.Layout:
    """A fresh layout per widget: a shared Layout would hide every widget when one is hidden."""
    return widgets.Layout(width="370px")


_LABEL_STYLE = {"description_width": "170px"}


def parse_throughput(text: str) -> list[float]:
    """'5, 7 3\\n0' -> [5.0, 7.0, 3.0, 0.0]; commas, semicolons, spaces and new lines separate values."""
    tokens = _NUMBER.findall(text or "")
    if not tokens:
        raise InputError(
            "throughput",
            text or "",
            "paste the items finished per week, oldest first (or pick a project)",
        )
    values = []
    for i, token in enumerate(tokens):
        try:
            values.append(float(token))
        except ValueError:
            raise InputError(f"throughput[{i}]", token, "must be a number of items") from None
    return values


class RisksTable:
    """A small editable table of risks: likelihood (%), and the items added when it fires."""

    def __init__(self, wrap: Any = None) -> None:
        """`wrap(fn)` turns a step into a button handler (the panel's busy/try/finally guard)."""
        self.wrap = wrap or (lambda fn: lambda *_args: fn())
        self.rows: list[dict[str, widgets.Widget]] = []
        self.add_button = widgets.Button(
            description="Add a risk", layout=widgets.Layout(width="110px")
        )
        self.add_button.on_click(self.wrap(self.add_row))
        self.header = widgets.HTML(
            "<div style='font-size:12px;color:#555;display:flex;gap:6px'>"
            "<span style='width:78px'>Likelihood %</span><span style='width:58px'>Adds at least</span>"
            "<span style='width:58px'>most likely</span><span style='width:58px'>at most</span></div>"
        )
        self.body = widgets.VBox([])
        self.empty = note(
            "No risks: add one if something may add work (e.g. a 30% chance of 5-20 more items)."
        )
        self.widget = widgets.VBox([self.empty, self.body, self.add_button])
        self.on_change: Any = None

    def add_row(
        self, likelihood: float = 20, low: int = 0, mode: int = 5, high: int = 10
    ) -> dict[str, widgets.Widget]:
        small = widgets.Layout(width="58px")
        row = {
            "likelihood": widgets.BoundedFloatText(
                value=likelihood, min=0, max=100, step=5, layout=widgets.Layout(width="78px")
            ),
            "low": widgets.BoundedIntText(value=low, min=0, max=1_000_000, layout=small),
            "mode": widgets.BoundedIntText(value=mode, min=0, max=1_000_000, layout=small),
            "high": widgets.BoundedIntText(value=high, min=0, max=1_000_000, layout=small),
            "remove": widgets.Button(description="Remove", layout=widgets.Layout(width="72px")),
        }
        row["remove"].on_click(self.wrap(lambda r=row: self.remove_row(r)))
        row["box"] = widgets.HBox([row[k] for k in ("likelihood", "low", "mode", "high", "remove")])
        self.rows.append(row)
        self._redraw()
        return row

    def remove_row(self, row: dict[str, widgets.Widget]) -> None:
        if row in self.rows:
            self.rows.remove(row)
        self._redraw()

    def _redraw(self) -> None:
        self.body.children = ([self.header] if self.rows else []) + [r["box"] for r in self.rows]
        self.empty.layout.display = "none" if self.rows else None
        if self.on_change:
            self.on_change()

    def controls(self) -> list[widgets.Widget]:
        out: list[widgets.Widget] = [self.add_button]
        for row in self.rows:
            out.extend(row[k] for k in ("likelihood", "low", "mode", "high", "remove"))
        return out

    def values(self) -> list[tuple[float, float, float, float]]:
        """(likelihood 0-1, low, mode, high) per row; errors name the row."""
        out: list[tuple[float, float, float, float]] = []
        for i, row in enumerate(self.rows, start=1):
            pct = float(row["likelihood"].value)
            if not 0 <= pct <= 100:
                raise InputError(f"risk {i} likelihood", f"{pct}%", "must be between 0% and 100%")
            low, mode, high = (int(row[k].value) for k in ("low", "mode", "high"))
            if not low <= mode <= high:
                raise InputError(
                    f"risk {i}",
                    f"{low}, {mode}, {high}",
                    "needs at least <= most likely <= at most",
                )
            out.append((pct / 100.0, low, mode, high))
        return out


class ForecastPanel(JobPanel):
    """Inputs on the left, the live answer on the right, actions on top."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        runs: int = DEFAULT_RUNS,
        poll_seconds: float = POLL_SECONDS,
        today: dt.date | None = None,
    ) -> None:
        super().__init__()
        self.db_path = db_path
        self.poll_seconds = poll_seconds
        self.result: ForecastResult | HowManyResult | None = None  # the last complete result
        self.request: pipeline.ForecastRequest | None = None
        self.saved_id: int | None = None
        self.partial_updates = 0  # how many partial results were shown (tests, diagnostics)
        self._projects: dict[str, Any] = {}
        today = today or dt.date.today()

        # -- inputs: the question and the history ----------------------------------------
        self.question = widgets.ToggleButtons(
            options=[("When will it be done?", "when"), ("How many by a date?", "how_many")],
            value="when",
            style={"button_width": "180px"},
        )
        self.source = widgets.RadioButtons(
            options=[
                ("History of a stored project", "project"),
                ("Throughput pasted below", "paste"),
            ],
            value="project",
            layout=widgets.Layout(width="auto"),
        )
        self.project = widgets.Dropdown(
            description="Project",
            options=[],
            layout=widgets.Layout(width="300px"),
            style={"description_width": "60px"},
        )
        self.reload_button = widgets.Button(
            description="Reload", layout=widgets.Layout(width="80px")
        )
        self.project_info = note("")
        self.throughput = widgets.Textarea(
            placeholder="Items finished per week, oldest first, e.g. 5, 7, 3, 0, 6, 8, 4, 5",
            layout=widgets.Layout(width="370px", height="64px"),
        )
        self.window = widgets.BoundedIntText(
            value=DEFAULT_WINDOW,
            min=0,
            max=10_000,
            description="Use the last N values",
            layout=_wide(),
            style=_LABEL_STYLE,
            tooltip="0 = the whole history",
        )  # a longer label is cut at 170 px
        # -- inputs: how to forecast (flowray's default unless the user switches) ---------------
        self.method_choice = widgets.RadioButtons(
            options=list(METHOD_CHOICES), value="default", layout=widgets.Layout(width="auto")
        )
        self.method_note = note("")
        self.sampler = widgets.Dropdown(
            options=list(SAMPLER_CHOICES),
            value=backtest.DEFAULT_BASE_METHOD,
            description="Sampler",
            layout=_wide(),
            style={"description_width": "60px"},
        )
        self.calibrate = widgets.Checkbox(
            value=backtest.DEFAULT_CALIBRATED,
            indent=False,
            description="Calibrate on this history's own past forecast errors",
        )
        self.period_days = widgets.Dropdown(
            options=[("1 week", 7), ("2 weeks", 14)],
            value=7,
            description="Each value covers",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        # -- inputs: the work ------------------------------------------------------------
        self.backlog = widgets.BoundedIntText(
            value=DEFAULT_BACKLOG,
            min=0,
            max=10_000_000,
            description="Items left",
            layout=widgets.Layout(width="260px"),
            style=_LABEL_STYLE,
        )
        self.backlog_is_range = widgets.Checkbox(
            value=False,
            description="a range, up to",
            indent=False,
            layout=widgets.Layout(width="120px"),
        )
        self.backlog_high = widgets.BoundedIntText(
            value=DEFAULT_BACKLOG + 20,
            min=0,
            max=10_000_000,
            layout=widgets.Layout(width="80px", display="none"),
        )
        self.split_low = widgets.BoundedFloatText(
            value=1.0,
            min=0.01,
            max=100,
            step=0.1,
            description="Each item becomes",
            layout=widgets.Layout(width="240px"),
            style=_LABEL_STYLE,
        )
        self.split_high = widgets.BoundedFloatText(
            value=1.0,
            min=0.01,
            max=100,
            step=0.1,
            description="to",
            layout=widgets.Layout(width="95px"),
            style={"description_width": "20px"},
        )
        self.risks = RisksTable(wrap=self.action)
        self.risks.on_change = self._risks_changed
        # -- inputs: team and focus ---------------------------------------------------
        self.history_size = widgets.BoundedFloatText(
            value=1,
            min=0.1,
            max=10_000,
            description="People behind the history",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.min_people = widgets.BoundedFloatText(
            value=1,
            min=0,
            max=10_000,
            description="Fewest people active",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.max_people = widgets.BoundedFloatText(
            value=1,
            min=0.1,
            max=10_000,
            description="Most people active",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.s_curve = widgets.IntSlider(
            value=0,
            min=0,
            max=50,
            step=5,
            description="S-curve ramp (% of work)",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.focus = widgets.IntSlider(
            value=100,
            min=5,
            max=100,
            step=5,
            description="Focus (% of capacity)",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        # -- inputs: dates, runs -----------------------------------------------------------
        self.start = widgets.DatePicker(
            value=today, description="Start date", layout=_wide(), style=_LABEL_STYLE
        )
        self.deadline = widgets.DatePicker(
            value=None, description="Deadline (optional)", layout=_wide(), style=_LABEL_STYLE
        )
        self.until = widgets.DatePicker(
            value=today + dt.timedelta(weeks=12),
            description="Count items until",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.runs = widgets.BoundedIntText(
            value=runs,
            min=1,
            max=100_000_000,
            description="Simulated futures",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.seed = widgets.BoundedIntText(
            value=0,
            min=0,
            max=2**63 - 1,
            description="Seed (same seed, same answer)",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.force = widgets.Checkbox(
            value=False,
            indent=False,
            description=f"Forecast from short history anyway (fewer than {MIN_PERIODS} weeks)",
        )
        # -- actions --------------------------------------------------------------------------
        self.run_button = widgets.Button(
            description="Run forecast",
            button_style="primary",
            layout=widgets.Layout(width="140px", margin="0 6px 0 0"),
        )
        self.cancel_button = widgets.Button(
            description="Cancel",
            button_style="warning",
            disabled=True,
            layout=widgets.Layout(width="90px", margin="0 10px 0 0"),
        )
        self.save_name = widgets.Text(
            placeholder="Name in the ledger (optional)", layout=widgets.Layout(width="220px")
        )
        self.save_button = widgets.Button(
            description="Save to ledger",
            button_style="success",
            disabled=True,
            layout=widgets.Layout(width="130px"),
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="260px")
        )
        self.progress_text = widgets.Label("")
        # -- results ----------------------------------------------------------------------------
        self.headline = widgets.HTML(
            "<div style='color:#666;font-size:15px'>Set the scenario on the left and press "
            "<b>Run forecast</b>.</div>"
        )
        self.method_text = widgets.HTML(
            ""
        )  # which method produced the numbers, and its calibration
        self.summary = widgets.HTML("")
        self.deadline_text = widgets.HTML("")
        self.warnings = widgets.HTML("")
        self.chart = charts.forecast_chart()  # histogram on top, burn-down fan below, one date axis
        self.figure = self.chart.figure
        self._fan_shown = True
        self.likelihoods = widgets.HTML("")
        self.history_text = widgets.HTML("")

        self.controls = [
            self.question,
            self.source,
            self.project,
            self.reload_button,
            self.throughput,
            self.window,
            self.method_choice,
            self.sampler,
            self.calibrate,
            self.period_days,
            self.backlog,
            self.backlog_is_range,
            self.backlog_high,
            self.split_low,
            self.split_high,
            self.history_size,
            self.min_people,
            self.max_people,
            self.s_curve,
            self.focus,
            self.start,
            self.deadline,
            self.until,
            self.runs,
            self.seed,
            self.force,
            self.run_button,
            self.save_name,
        ]
        self.run_button.on_click(self.action(self.start_run))
        self.cancel_button.on_click(self.on_cancel)
        self.save_button.on_click(self.action(self.save))
        self.reload_button.on_click(self.action(self.load_projects))
        self.project.observe(
            self.guarded(lambda change: self.select_project(change["new"])), names="value"
        )
        self.source.observe(self.guarded(self._layout_changed), names="value")
        self.question.observe(self.guarded(self._layout_changed), names="value")
        self.backlog_is_range.observe(self.guarded(self._layout_changed), names="value")
        self.method_choice.observe(self.guarded(self._layout_changed), names="value")
        self.history_size.observe(self.guarded(self._team_size_changed), names="value")

        self.widget = self._build_layout()
        self._guard(self.load_projects)
        self._layout_changed()

    # -- layout -------------------------------------------------------------------------------
    def _build_layout(self) -> widgets.Widget:
        self.history_box = widgets.VBox(
            [
                self.source,
                widgets.HBox([self.project, self.reload_button]),
                self.project_info,
                self.throughput,
                self.period_days,
            ]
        )
        self.custom_method_box = widgets.VBox([self.sampler, self.window, self.calibrate])
        self.method_box = widgets.VBox(
            [self.method_choice, self.method_note, self.custom_method_box]
        )
        self.work_box = widgets.VBox(
            [
                section("The work left"),
                widgets.HBox([self.backlog, self.backlog_is_range, self.backlog_high]),
                widgets.HBox([self.split_low, self.split_high, widgets.Label("items")]),
                note(
                    "Split: how many delivered items one backlog item turns into (1 to 1 = no split)."
                ),
            ]
        )
        self.dates_box = widgets.VBox([section("Dates"), self.start, self.deadline, self.until])
        team = widgets.VBox(
            [
                note(
                    "Throughput is scaled by active people / people behind the history, times the focus."
                ),
                self.history_size,
                self.min_people,
                self.max_people,
                self.s_curve,
                self.focus,
            ]
        )
        runs = widgets.VBox([self.runs, self.seed, self.force])
        self.more = widgets.Accordion(
            children=[self.risks.widget, team, runs],
            titles=("Risks", "Team, S-curve and focus", "Runs, seed and short history"),
        )
        self.more.selected_index = None
        inputs = widgets.VBox(
            [
                section("The question"),
                self.question,
                section("Throughput history"),
                self.history_box,
                section("How to forecast"),
                self.method_box,
                self.work_box,
                self.dates_box,
                self.more,
            ],
            layout=widgets.Layout(width="400px", min_width="400px", margin="0 16px 0 0"),
        )
        results = widgets.VBox(
            [
                self.headline,
                self.method_text,
                self.summary,
                self.deadline_text,
                self.warnings,
                self.chart.widget,
                section("Likelihood table"),
                self.likelihoods,
                self.history_text,
            ],
            layout=widgets.Layout(width="800px"),
        )
        actions = widgets.HBox(
            [self.run_button, self.cancel_button, self.progress, self.progress_text],
            layout=widgets.Layout(align_items="center"),
        )
        saving = widgets.HBox(
            [self.save_name, self.save_button], layout=widgets.Layout(align_items="center")
        )
        return widgets.VBox(
            [
                title(
                    "Delivery forecast",
                    "When will the work be done, and how likely is the deadline? "
                    "Every answer comes from thousands of simulated futures built from past throughput.",
                ),
                widgets.HBox(
                    [actions, saving],
                    layout=widgets.Layout(justify_content="space-between", width="1220px"),
                ),
                self.status,
                widgets.HBox([inputs, results]),
            ],
            layout=widgets.Layout(width="1230px"),
        )

    def _layout_changed(self, _change: Any = None) -> None:
        pasted = self.source.value == "paste"
        self.throughput.layout.display = None if pasted else "none"
        self.period_days.layout.display = None if pasted else "none"
        self.project_info.layout.display = "none" if pasted else None
        when = self.question.value == "when"
        self.work_box.layout.display = None if when else "none"
        self.deadline.layout.display = None if when else "none"
        self.until.layout.display = None if not when else "none"
        self.backlog_high.layout.display = None if self.backlog_is_range.value else "none"
        choice = self.method_choice.value
        self.custom_method_box.layout.display = None if choice == "custom" else "none"
        self.method_note.value = note(
            METHOD_NOTES[choice].format(window=backtest.DEFAULT_WINDOW)
        ).value
        if self._fan_shown != when:  # no burn-down without a backlog ("how many")
            charts.show_burn_down_plot(self.chart, when)
            self._fan_shown = when

    def _risks_changed(self) -> None:
        if self.busy:  # rows added while busy are disabled too
            for control in self.risks.controls():
                control.disabled = True

    def all_controls(self) -> list[widgets.Widget]:
        return list(self.controls) + self.risks.controls()

    def after_busy_change(self, busy: bool) -> None:
        """Cancel is usable only while a run is followed (start_run enables it); Save only after one."""
        self.cancel_button.disabled = True
        self.save_button.disabled = busy or self.result is None or self.saved_id is not None

    def _guard(self, fn: Any) -> None:
        """Run a non-button step (e.g. at start-up) showing, never raising, its errors."""
        try:
            fn()
        except Exception as exc:
            self.show_error(exc)

    # -- projects -----------------------------------------------------------------------------
    def load_projects(self) -> None:
        """Fill the project picker from the database (active projects)."""
        projects = pipeline.list_projects(self.db_path, active_only=True)
        self._projects = {p.name: p for p in projects}
        current = self.project.value
        self.project.options = [(p.name, p.name) for p in projects]
        if current in self._projects:
            self.project.value = current
        elif projects:
            self.project.value = projects[0].name
        if not projects:
            self.source.value = "paste"
            self.project_info.value = ""
            self.show_info(
                "No projects in the database yet: paste a throughput history, or import one "
                "with `flowray project add` and `flowray throughput`."
            )
        else:
            self.show_info(f"{len(projects)} active project(s) in the database.")

    def select_project(self, name: str | None) -> None:
        """Prefill team size and deadline from the project, and describe its history."""
        project = self._projects.get(name or "")
        if project is None:
            self.project_info.value = ""
            return
        history = pipeline.project_history(project.name, self.db_path)
        parts = []
        if history:
            days = history[-1].period_days
            parts.append(
                f"{len(history)} {period_word(days, len(history))} of history, "
                f"{long_date(history[0].period_start)} to {long_date(history[-1].period_start)}"
            )
        else:
            parts.append("no throughput history stored yet")
        if project.team_size:
            parts.append(f"team of {project.team_size}")
            self.history_size.value = project.team_size
            self.min_people.value = project.team_size
            self.max_people.value = project.team_size
        if project.target_date:
            parts.append(f"target {long_date(project.target_date)}")
            start = self.start.value
            if start is None or project.target_date > start:
                self.deadline.value = project.target_date
        self.project_info.value = (
            f"<div style='color:#555;font-size:13px'>{html.escape('; '.join(parts))}.</div>"
        )

    def _team_size_changed(self, change: Any) -> None:
        """Keep 'same team as the history' the default: min and max follow while they were equal."""
        old, new = change["old"], change["new"]
        if self.min_people.value == old and self.max_people.value == old:
            self.min_people.value = new
            self.max_people.value = new

    # -- the request -----------------------------------------------------------------------------
    def build_request(self) -> pipeline.ForecastRequest:
        """The pipeline request for the current inputs; bad input raises InputError naming the field."""
        kind = self.question.value
        start = self.start.value
        if start is None:
            raise InputError("start", None, "pick a start date")
        fields: dict[str, Any] = {
            "start": start,
            "team": {
                "history_size": float(self.history_size.value),
                "min_contributors": float(self.min_people.value),
                "max_contributors": float(self.max_people.value),
                "s_curve": float(self.s_curve.value),
            },
            "focus": self.focus.value / 100.0,
        }
        throughput = None
        project = None
        if self.source.value == "project":
            project = self.project.value
            if not project:
                raise InputError(
                    "project", None, "pick a project, or choose 'Throughput pasted below'"
                )
        else:
            throughput = parse_throughput(self.throughput.value)
            fields["period_days"] = int(self.period_days.value)
        periods_end = None
        if kind == "when":
            low = int(self.backlog.value)
            fields["backlog"] = (
                (low, int(self.backlog_high.value)) if self.backlog_is_range.value else low
            )
            split = (float(self.split_low.value), float(self.split_high.value))
            if split != (1.0, 1.0):
                fields["split_rate"] = split
            fields["risks"] = self.risks.values()
            if self.deadline.value is not None:
                fields["deadline"] = self.deadline.value
        else:
            if self.until.value is None:
                raise InputError("end", None, "pick the date to count items until")
            periods_end = self.until.value
        runs, seed = validate_runs(int(self.runs.value), int(self.seed.value))
        return pipeline.ForecastRequest(
            kind=kind,
            throughput=throughput,
            project=project,
            fields=fields,
            method=self.chosen_method(),
            runs=runs,
            seed=seed,
            end=periods_end,
            force=bool(self.force.value),
            db_path=self.db_path,
        )

    def chosen_method(self) -> pipeline.ForecastMethod:
        """The method picked under "How to forecast" (flowray's default unless switched)."""
        choice = self.method_choice.value
        if choice == "default":
            return pipeline.default_method()
        if choice == "domain":
            return pipeline.DOMAIN_MODEL
        name = backtest.method_name(self.sampler.value, bool(self.calibrate.value))
        return pipeline.resolve_method(name, int(self.window.value) or pipeline.ALL_HISTORY)

    def validate(self, request: pipeline.ForecastRequest) -> None:
        """Everything start_forecast would refuse, checked before touching the cluster."""
        try:
            scenario, _warnings = pipeline.build_scenario(request)
        except NotEnoughData as exc:
            rule = exc.rule.replace("(force to override)", "").strip()
            raise NotEnoughData(
                exc.field,
                exc.value,
                f"{rule}; tick 'Forecast from short history anyway' "
                "(under Runs) to forecast regardless",
            ) from None
        question = pipeline.question_for(request, scenario)
        if question.kind == "when":
            check_horizon(scenario)

    # -- run, follow, cancel ---------------------------------------------------------------------
    def start_run(self) -> Any:
        """Validate now; start the job and follow it in the background (returns at once)."""
        request = self.build_request()
        self.validate(request)
        self.request = request
        self.reset_job()
        self.result = None
        self.saved_id = None
        self.partial_updates = 0
        self.progress.value = 0
        self.progress.max = PROGRESS_STEPS
        self.progress.bar_style = ""
        self.progress_text.value = f"0 of {request.runs:,} runs"
        self.method_text.value = ""
        self.show_info(
            "Starting the run on the Ray cluster (the first run also starts Ray: 10-20 s)..."
        )
        return self.start_background(lambda: self.follow(request))

    async def follow(self, request: pipeline.ForecastRequest) -> None:
        """Start the job off the event loop, then follow its progress and partial results until it ends."""
        await self.follow_job(lambda: pipeline.start_forecast(request))

    @property
    def running(self) -> Any:
        """The pipeline.RunningForecast of the current or last run (None before the first)."""
        return self.job

    def on_started(self, job: Any) -> None:
        self.show_info("Running: the percentiles below update as batches of runs finish.")

    def show_partial(self, job: Any) -> None:
        partial = job.partial()
        if partial is not None and partial.runs > 0:
            self.show_result(partial, final=False)
            self.partial_updates += 1

    def on_done(self, result: Any) -> None:
        self.result = result
        self.show_result(result, final=True)
        self.show_success(
            f"Done: {result.runs:,} simulated futures. Save it to keep it in the ledger."
        )

    def on_cancelled(self, progress: Any) -> None:
        self.progress.bar_style = "warning"
        self.show_info(
            f"Cancelled after {progress.runs_done:,} of {progress.runs_total:,} runs. "
            "The numbers shown use only the runs finished before the cancel, and cannot be saved."
        )

    def on_failed(self) -> None:
        self.progress.bar_style = "danger"

    def show_progress(self, progress: Any) -> None:
        self.progress.max = PROGRESS_STEPS
        self.progress.value = min(
            PROGRESS_STEPS, max(self.progress.value, round(progress.fraction * PROGRESS_STEPS))
        )
        text = f"{progress.runs_done:,} of {progress.runs_total:,} runs ({progress.fraction:.0%})"
        if getattr(progress, "stage", "") == "calibrating":
            text += "; calibrating on past forecast errors..."
        self.progress_text.value = text

    # -- results -------------------------------------------------------------------------------------
    def show_result(self, result: ForecastResult | HowManyResult, *, final: bool) -> None:
        if isinstance(result, HowManyResult):
            self._show_how_many(result, final)
        else:
            self._show_when(result, final)
        self._show_method(result)

    def _show_method(self, result: ForecastResult | HowManyResult) -> None:
        """Which method made these numbers; an amber box when calibration was asked for but not possible."""
        report = result.method_report
        if report is None:
            self.method_text.value = ""
            return
        words = html.escape(report.describe())
        fell_back = report.method.calibrated and not report.pending and not report.calibrated
        if fell_back:
            self.method_text.value = (
                "<div style='background:#fff8e1;border-left:4px solid #f0b400;padding:6px 12px;margin:4px 0;"
                f"font-size:13px'><b>Method:</b> {words}</div>"
            )
        else:
            self.method_text.value = (
                f"<div style='color:#444;font-size:13px;margin:4px 0'><b>Method:</b> {words}</div>"
            )

    def _show_when(self, result: ForecastResult, final: bool) -> None:
        scenario = result.scenario
        unit = scenario.period_days
        so_far = (
            ""
            if final
            else f" <span style='color:#888;font-size:14px'>(so far, from {result.runs:,} runs)</span>"
        )
        p85 = result.percentile(85)
        if p85 is None:
            head = f"Fewer than 85% of the simulated futures finish within {scenario.max_periods} {period_word(unit)}."
        else:
            head = f"85% likely by {long_date(scenario.date_of(p85))}"
        self.headline.value = f"<div style='font-size:26px;font-weight:700;color:#4a148c'>{html.escape(head)}{so_far}</div>"
        rows = []
        for level in LEVELS:
            w = result.percentile(level)
            err = result.percentile_error(level)["plus_minus"]
            if w is None:
                rows.append((f"{level}% likely", "not within the horizon", "-", "-"))
                continue
            rows.append(
                (
                    f"{level}% likely by",
                    long_date(scenario.date_of(w)),
                    f"{w} {period_word(unit, w)}",
                    "-" if err is None else f"± {err} {period_word(unit, err)}",
                )
            )
        self.summary.value = html_table(
            ["", "Date", "From the start", "Sampling error (95%)"],
            rows,
            caption=f"Start {long_date(scenario.start)}; {result.runs:,} simulated futures. The sampling error "
            "shows how much more runs could still move each date.",
        )
        self.deadline_text.value = self._deadline_words(result)
        self.likelihoods.value = html_table(
            ["Likelihood", "Done by", "From the start"],
            [
                (
                    row["label"] if row["likelihood"] == 100 else f"{row['likelihood']}%",
                    long_date(row["date"]) if row["date"] else "not within the horizon",
                    "-"
                    if row["periods"] is None
                    else f"{row['periods']} {period_word(unit, row['periods'])}",
                )
                for row in result.likelihood_table()
            ],
            row_styles=[
                "font-weight:700;background:#f3e5f5" if row["likelihood"] == 85 else ""
                for row in result.likelihood_table()
            ],
        )
        charts.show_histogram(
            self.chart,
            charts.completion_histogram(result, LEVELS),
            "When the simulated futures finish" + ("" if final else " (so far)"),
        )
        if final:
            charts.show_burn_down(
                self.chart,
                charts.burn_down_data(result),
                "Burn-down: items still to do, by date (5-95% and 15-85% of futures)",
            )
        else:
            charts.clear_burn_down(self.chart, "Burn-down: drawn when the run is complete")
        self._show_checks(result, final)

    def _deadline_words(self, result: ForecastResult) -> str:
        scenario = result.scenario
        prob = result.probability_by_deadline
        if prob is None:
            return ""
        met = result.deadline_met_at(85)
        colour = "#1a7f37" if met else ("#b26a00" if prob >= 0.5 else "#b42318")
        items = result.items_by_deadline(85)
        total = scenario.backlog_range
        backlog = f"{total[0]}" if total[0] == total[1] else f"{total[0]}-{total[1]}"
        p85 = result.date_at(85)
        lines = [
            f"<span style='font-size:18px;font-weight:700;color:{colour}'>"
            f"{html.escape(format_probability(prob))} likely to finish by the deadline, "
            f"{html.escape(long_date(scenario.deadline))}.</span>",
        ]
        if items is not None:
            lines.append(
                f"By the deadline, 85% likely at least {items} items done (of {backlog} left at the start, "
                "before splits and risks)."
            )
        if met:
            lines.append("The deadline is met at 85% confidence.")
        elif p85 is not None:
            lines.append(f"To be 85% sure, plan for {html.escape(long_date(p85))}.")
        return "<div style='margin:6px 0;font-size:14px'>" + "<br>".join(lines) + "</div>"

    def _show_how_many(self, result: HowManyResult, final: bool) -> None:
        end = result.end_date
        until = (
            long_date(end)
            if end
            else f"{result.periods} {period_word(result.scenario.period_days)}"
        )
        so_far = (
            ""
            if final
            else f" <span style='color:#888;font-size:14px'>(so far, from {result.runs:,} runs)</span>"
        )
        head = f"85% likely: at least {result.at_least(85)} items by {until}"
        self.headline.value = f"<div style='font-size:26px;font-weight:700;color:#4a148c'>{html.escape(head)}{so_far}</div>"
        rows = []
        for level in LEVELS:
            err = result.at_least_error(level)["plus_minus"]
            rows.append(
                (f"{level}% likely", f"at least {result.at_least(level)} items", f"± {err} items")
            )
        self.summary.value = html_table(
            ["", f"Done by {until}", "Sampling error (95%)"],
            rows,
            caption=f"{result.periods} whole {period_word(result.scenario.period_days)} from "
            f"{long_date(result.scenario.start)}; {result.runs:,} simulated futures. "
            "Read conservatively: 85% likely means 85% of futures did at least this much.",
        )
        self.deadline_text.value = ""
        self.likelihoods.value = html_table(
            ["Likelihood", f"Items done by {until}"],
            [(f"{p}%", f"at least {result.at_least(p)}") for p in range(50, 100, 5)],
            row_styles=[
                "font-weight:700;background:#f3e5f5" if p == 85 else "" for p in range(50, 100, 5)
            ],
        )
        charts.show_histogram(
            self.chart,
            charts.items_histogram(result, LEVELS),
            "How many items the simulated futures finish" + ("" if final else " (so far)"),
        )
        self._show_checks(result, final)

    def _show_checks(self, result: ForecastResult | HowManyResult, final: bool) -> None:
        checks = result.checks
        lines = list(checks.warnings)
        running_warnings = list(getattr(self.job, "warnings", []) or [])
        lines += [
            w[0].upper() + w[1:]
            for w in running_warnings
            if w not in lines and not w.lower().startswith("only ")
        ]
        if isinstance(result, ForecastResult) and result.not_done:
            lines.append(
                f"{result.not_done_share:.1%} of the simulated futures were not done within "
                f"{result.scenario.max_periods} {period_word(result.scenario.period_days)}; "
                "they are left out of the chart."
            )
        self.warnings.value = warning_box(lines)
        unit = result.scenario.period_days
        cv = "-" if checks.cv is None else f"{checks.cv:.2f}"
        stability = (
            checks.stability
            if checks.stability_pct is None
            else f"{checks.stability} ({checks.stability_pct:.0f}%)"
        )
        self.history_text.value = (
            "<div style='color:#555;font-size:13px;margin-top:6px'>History used: "
            f"{checks.count} {period_word(unit, checks.count)}, on average {checks.mean:.1f} items a "
            f"{period_word(unit, 1)} (variation {cv}), {checks.zero_share:.0%} empty {period_word(unit)}, "
            f"stability {html.escape(stability)}, {len(checks.signals)} process signal(s) (XmR).</div>"
        )

    # -- save -----------------------------------------------------------------------------------------------
    def save(self) -> int:
        """Write the last complete result to the ledger of the picked project; returns its id."""
        if self.result is None:
            raise InputError("forecast", None, "run a forecast to the end before saving it")
        project = self.project.value or (self.request.project if self.request else None)
        if not project:
            raise InputError(
                "project",
                None,
                "pick the project to save this forecast under "
                "(add projects with `flowray project add`)",
            )
        history = None
        if self.request is not None and self.request.project:
            history = pipeline.project_history(self.request.project, self.db_path)
        name = self.save_name.value.strip() or None
        self.saved_id = pipeline.save_forecast(
            project, self.result, self.db_path, name=name, history_periods=history
        )
        self.show_success(f"Saved as forecast #{self.saved_id} in the ledger of {project}.")
        return self.saved_id


def forecast_panel(db_path: str | Path | None = None, **options: Any) -> ForecastPanel:
    return ForecastPanel(db_path, **options)
