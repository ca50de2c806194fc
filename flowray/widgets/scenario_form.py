"""The scenario form of the forecast page: the question, the history, the method, the work, the team, the dates.

`ScenarioForm` builds the input widgets, fills the project picker, and turns
the inputs into a `pipeline.ForecastRequest`, refusing bad input by field
before anything runs. The forecast panel (widgets/forecast.py) is built on it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from flowray import pipeline
from flowray.core import backtest
from flowray.core.checks import MIN_PERIODS
from flowray.core.engine import check_horizon, validate_runs
from flowray.exceptions import InputError, NotEnoughData
from flowray.text import long_date, period_word
from flowray.widgets.base import Panel, note
from flowray.widgets.html import escape

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


class ScenarioForm(Panel):
    """The inputs of one forecast and the request they make (the forecast panel's left side)."""

    db_path: str | Path | None
    workspace: pipeline.Workspace

    def _risks_changed(self) -> None:
        """Rows added while the panel is busy are disabled like the rest."""
        if self.busy:  # rows added while busy are disabled too
            for control in self.risks.controls():
                control.disabled = True

    def _build_inputs(self, runs: int, today: dt.date) -> None:
        """Make every input widget (the layout arranges them)."""
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

    # -- projects -----------------------------------------------------------------------------
    def load_projects(self) -> None:
        """Fill the project picker from the database (active projects)."""
        projects = pipeline.list_projects(self.workspace, active_only=True)
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
        history = pipeline.project_history(project.name, self.workspace)
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
            f"<div style='color:#555;font-size:13px'>{escape('; '.join(parts))}.</div>"
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
