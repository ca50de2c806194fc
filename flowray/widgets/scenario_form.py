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
from flowray.core.engine import check_horizon
from flowray.core.limits import (
    MAX_CONTRIBUTORS,
    MAX_HISTORY_PERIODS,
    MAX_ITEMS,
    MAX_SEED,
    MAX_SPLIT_RATE,
    MAX_THROUGHPUT,
)
from flowray.core.scenario import MAX_S_CURVE
from flowray.core.validation import finite_number
from flowray.exceptions import InputError, NotEnoughData
from flowray.text import long_date, period_word
from flowray.widgets import fields
from flowray.widgets.base import FIELD_LABELS, Panel, note
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
        "history's own past forecast errors and, while they are few, from the pooled errors of real teams. "
        "In flowray's backtests on real projects its 85% answers came true about 85% of the time; plain "
        "bootstrap's clearly less often."
    ),
    "domain": (
        "Every past week equally likely, all the history, no calibration: the plain model, as in "
        "spreadsheet forecasting tools. In flowray's backtests its 85% answers came true clearly "
        "less often than 85% of the time."
    ),
    "custom": (
        "Any sampler on the last N values (0 = the whole history); calibration learns from this history's "
        "own past forecast errors and needs about 20 weeks more than the horizon (the pooled prior of real "
        "teams covers flowray's default only). The backtests compare them."
    ),
}
DEFAULT_BACKLOG = 60
MAX_FORM_RUNS = 100_000_000  # a page's run stays minutes at most; the CLI goes up to MAX_RUNS
MIN_SPLIT = 0.01  # the scenario needs > 0; a hundredth is the smallest split anyone means
MIN_PEOPLE = 0.1  # the scenario needs > 0 people behind the history and at most
MIN_FOCUS = 5  # percent of capacity: below it the forecast runs for decades
POLL_SECONDS = 0.25
_NUMBER = re.compile(r"[^\s,;]+")


def _wide() -> widgets.Layout:
    """A fresh layout per widget: a shared Layout would hide every widget when one is hidden."""
    return widgets.Layout(width="370px")


def _date_box(
    field: str, label: str, value: dt.date | None, *, required: bool
) -> fields.CheckedText:
    """A date typed YYYY-MM-DD, read by core.validation, shown in words under the box."""
    return fields.CheckedText(
        field,
        fields.date(required=required),
        value=value,
        hint=fields.date_in_words,
        description=label,
        placeholder="YYYY-MM-DD",
        layout=_wide(),
        style=_LABEL_STYLE,
    )


_LABEL_STYLE = {"description_width": "185px"}  # room for "People behind the history"


def parse_throughput(text: str) -> list[float]:
    """'5, 7 3\\n0' -> [5.0, 7.0, 3.0, 0.0]; commas, semicolons, spaces and new lines separate values.

    Each value is read by validation.finite_number (0 up to MAX_THROUGHPUT), so
    "nan", "-5" and "1e12" are refused by position, as the scenario would.
    """
    tokens = _NUMBER.findall(text or "")
    if not tokens:
        raise InputError(
            "throughput",
            text or "",
            "paste the items finished per week, oldest first (or pick a project)",
        )
    return [
        finite_number(f"throughput[{i}]", token, 0, MAX_THROUGHPUT)
        for i, token in enumerate(tokens)
    ]


def _throughput(_field: str, value: str) -> list[float]:
    return parse_throughput(value)


def _throughput_words(values: list[float]) -> str:
    return f"{len(values)} values read, oldest first."


RISK_FIELDS = {
    "likelihood": "likelihood (%)",
    "low": "adds at least",
    "mode": "most likely",
    "high": "at most",
}
"""The words naming each value of a risk row in its errors ("risk 2 at most")."""


class RisksTable:
    """A small editable table of risks: likelihood (%), and the items added when it fires.

    Every box is a `CheckedText`: a bad likelihood or size shows under the table,
    named by row, and keeps Run disabled like any other field.
    """

    def __init__(self, wrap: Any = None) -> None:
        """`wrap(fn)` turns a step into a button handler (the panel's busy/try/finally guard)."""
        self.wrap = wrap or (lambda fn: lambda *_args: fn())
        self.rows: list[dict[str, Any]] = []
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
        self.on_change: Any = None  # called when rows come and go
        self.on_edit: Any = None  # called when a value in a row changes

    def add_row(
        self, likelihood: float = 20, low: int = 0, mode: int = 5, high: int = 10
    ) -> dict[str, Any]:
        number = len(self.rows) + 1
        small = widgets.Layout(width="58px")
        row: dict[str, Any] = {
            "likelihood": fields.CheckedText(
                f"risk {number} likelihood (%)",
                fields.number(0, 100),
                value=likelihood,
                layout=widgets.Layout(width="78px"),
            ),
            "low": fields.CheckedText(
                f"risk {number} adds at least", fields.whole(0, MAX_ITEMS), value=low, layout=small
            ),
            "mode": fields.CheckedText(
                f"risk {number} most likely", fields.whole(0, MAX_ITEMS), value=mode, layout=small
            ),
            "high": fields.CheckedText(
                f"risk {number} at most", fields.whole(0, MAX_ITEMS), value=high, layout=small
            ),
            "remove": widgets.Button(description="Remove", layout=widgets.Layout(width="72px")),
        }
        row["remove"].on_click(self.wrap(lambda *_a, r=row: self.remove_row(r)))
        row["messages"] = widgets.VBox(
            [row[k].message for k in ("likelihood", "low", "mode", "high")]
        )
        row["box"] = widgets.VBox(
            [
                widgets.HBox([row[k] for k in ("likelihood", "low", "mode", "high", "remove")]),
                row["messages"],
            ]
        )
        for key in ("likelihood", "low", "mode", "high"):
            row[key].observe(self._edited, names="value")
        self.rows.append(row)
        self._redraw()
        return row

    def remove_row(self, row: dict[str, Any]) -> None:
        if row in self.rows:
            self.rows.remove(row)
        self._redraw()

    def _edited(self, _change: Any) -> None:
        if self.on_edit:
            self.on_edit()

    def _redraw(self) -> None:
        for number, row in enumerate(
            self.rows, start=1
        ):  # errors name rows as the page counts them
            for key, words in RISK_FIELDS.items():
                row[key].field = f"risk {number} {words}"
        self.body.children = ([self.header] if self.rows else []) + [r["box"] for r in self.rows]
        self.empty.layout.display = "none" if self.rows else None
        if self.on_change:
            self.on_change()

    def boxes(self) -> list[fields.CheckedText]:
        """Every value box of every row, in order."""
        return [row[k] for row in self.rows for k in ("likelihood", "low", "mode", "high")]

    def controls(self) -> list[widgets.Widget]:
        out: list[widgets.Widget] = [self.add_button]
        for row in self.rows:
            out.extend(row[k] for k in ("likelihood", "low", "mode", "high", "remove"))
        return out

    def problems(self) -> dict[fields.CheckedText, InputError]:
        """Each box's own problem, then each row's order (at least <= most likely <= at most)."""
        out: dict[fields.CheckedText, InputError] = {}
        for i, row in enumerate(self.rows, start=1):
            for key in ("likelihood", "low", "mode", "high"):
                problem = row[key].problem()
                if problem is not None:
                    out[row[key]] = problem
            if any(row[k] in out for k in ("low", "mode", "high")):
                continue
            low, mode, high = (row[k].read() for k in ("low", "mode", "high"))
            if not low <= mode <= high:
                out[row["high"]] = InputError(
                    f"risk {i}",
                    f"{low}, {mode}, {high}",
                    "needs at least <= most likely <= at most",
                )
        return out

    def values(self) -> list[tuple[float, float, float, float]]:
        """(likelihood 0-1, low, mode, high) per row; errors name the row."""
        problems = self.problems()
        if problems:
            raise next(iter(problems.values()))
        return [
            (
                float(row["likelihood"].read()) / 100.0,
                row["low"].read(),
                row["mode"].read(),
                row["high"].read(),
            )
            for row in self.rows
        ]


class ScenarioForm(Panel):
    """The inputs of one forecast and the request they make (the forecast panel's left side)."""

    db_path: str | Path | None
    workspace: pipeline.Workspace

    def _risks_changed(self) -> None:
        """Rows added while the panel is busy are disabled like the rest; rows change the inputs."""
        if self.busy:  # rows added while busy are disabled too
            for control in self.risks.controls():
                control.disabled = True
        self.inputs_changed()

    def inputs_changed(self, _change: Any = None) -> None:
        """Hook: an input changed (the forecast panel re-checks the form and retires the answer)."""

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
        self.throughput = fields.CheckedArea(
            "throughput",
            _throughput,
            hint=_throughput_words,
            placeholder="Items finished per week, oldest first, e.g. 5, 7, 3, 0, 6, 8, 4, 5",
            layout=widgets.Layout(width="370px", height="64px"),
        )
        self.window = fields.CheckedText(
            "window",
            fields.whole(0, MAX_HISTORY_PERIODS),
            value=DEFAULT_WINDOW,
            description="Use the last N values",
            layout=_wide(),
            style=_LABEL_STYLE,
            tooltip="0 = the whole history",
        )
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
            layout=widgets.Layout(width="auto"),
        )
        self.period_days = widgets.Dropdown(
            options=[("1 week", 7), ("2 weeks", 14)],
            value=7,
            description="Each value covers",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        # -- inputs: the work ------------------------------------------------------------
        self.backlog = fields.CheckedText(
            "backlog",
            fields.whole(0, MAX_ITEMS),
            value=DEFAULT_BACKLOG,
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
        self.backlog_high = fields.CheckedText(
            "backlog.high",
            fields.whole(0, MAX_ITEMS),
            value=DEFAULT_BACKLOG + 20,
            layout=widgets.Layout(width="80px", display="none"),
        )
        self.split_low = fields.CheckedText(
            "split_rate.low",
            fields.number(MIN_SPLIT, MAX_SPLIT_RATE),
            value="1.0",
            description="Each item becomes",
            layout=widgets.Layout(width="240px"),
            style=_LABEL_STYLE,
        )
        self.split_high = fields.CheckedText(
            "split_rate.high",
            fields.number(MIN_SPLIT, MAX_SPLIT_RATE),
            value="1.0",
            description="to",
            layout=widgets.Layout(width="95px"),
            style={"description_width": "20px"},
        )
        self.risks = RisksTable(wrap=self.action)
        self.risks.on_change = self._risks_changed
        self.risks.on_edit = self.inputs_changed
        # -- inputs: team and focus ---------------------------------------------------
        self.history_size = fields.CheckedText(
            "team.history_size",
            fields.number(MIN_PEOPLE, MAX_CONTRIBUTORS),
            value=1,
            description="People behind the history",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.min_people = fields.CheckedText(
            "team.min_contributors",
            fields.number(0, MAX_CONTRIBUTORS),
            value=1,
            description="Fewest people active",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.max_people = fields.CheckedText(
            "team.max_contributors",
            fields.number(MIN_PEOPLE, MAX_CONTRIBUTORS),
            value=1,
            description="Most people active",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        self.s_curve = fields.CheckedText(
            "team.s_curve",
            fields.whole(0, int(MAX_S_CURVE)),
            value=0,
            description=FIELD_LABELS["team.s_curve"] + " (% of the work)",
            layout=_wide(),
            style={"description_width": "initial"},
            tooltip=(
                "The share of the work at the start (and again at the end) during which the team "
                "ramps up from the fewest to the most people (and back down): an S-curve."
            ),
        )
        self.focus = fields.CheckedText(
            "focus",
            fields.whole(MIN_FOCUS, 100),
            value=100,
            description="Focus (% of capacity)",
            layout=_wide(),
            style=_LABEL_STYLE,
        )
        # -- inputs: dates, runs (dates are typed YYYY-MM-DD and shown in words below) --------
        self.start = _date_box("start", "Start date", today, required=True)
        self.deadline = _date_box("deadline", "Deadline (optional)", None, required=False)
        self.until = _date_box(
            "end", "Count items until", today + dt.timedelta(weeks=12), required=True
        )
        self.runs = fields.CheckedText(
            "runs",
            fields.whole(1, MAX_FORM_RUNS),
            value=runs,
            description=FIELD_LABELS["runs"],
            layout=_wide(),
            style={"description_width": "initial"},
            tooltip="More simulated futures: steadier dates, a longer wait.",
        )
        self.seed = fields.CheckedText(
            "seed",
            fields.whole(0, MAX_SEED),
            value=0,
            description=FIELD_LABELS["seed"],
            layout=_wide(),
            style={"description_width": "initial"},
            tooltip=(
                "The random seed: the same number with the same inputs gives exactly the same "
                "answer; another number gives another draw of simulated futures."
            ),
        )
        self.force = widgets.Checkbox(
            value=False,
            indent=False,
            description=f"Forecast from short history anyway (fewer than {MIN_PERIODS} weeks)",
            layout=widgets.Layout(width="auto"),
        )

    def checked_boxes(self) -> list[fields.CheckedText]:
        """Every checked box of the form, shown or not (risks included)."""
        return [
            self.throughput,
            self.window,
            self.backlog,
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
            *self.risks.boxes(),
        ]

    def boxes_in_use(self) -> list[fields.CheckedText]:
        """The boxes the current question, history source and method read (the others are hidden)."""
        when = self.question.value == "when"
        boxes = [
            self.history_size,
            self.min_people,
            self.max_people,
            self.s_curve,
            self.focus,
            self.start,
            self.runs,
            self.seed,
        ]
        if self.source.value == "paste":
            boxes.append(self.throughput)
        if self.method_choice.value == "custom":
            boxes.append(self.window)
        if when:
            boxes += [self.backlog, self.split_low, self.split_high, self.deadline]
            if self.backlog_is_range.value:
                boxes.append(self.backlog_high)
            boxes += self.risks.boxes()
        else:
            boxes.append(self.until)
        return boxes

    def field_problems(self) -> dict[fields.CheckedText, InputError]:
        """The problem of every box in use: its own check first, then how it fits the others."""
        in_use = self.boxes_in_use()
        problems = {box: problem for box in in_use if (problem := box.problem()) is not None}
        if self.question.value == "when":
            problems.update(self.risks.problems())

        def ordered(low: fields.CheckedText, high: fields.CheckedText, rule: str) -> None:
            if low in in_use and high in in_use and low not in problems and high not in problems:
                first, second = low.read(), high.read()
                if first is not None and second is not None and second < first:
                    problems[high] = InputError(high.field, high.value, rule.format(first))

        ordered(self.backlog, self.backlog_high, "must be at least Items left ({})")
        ordered(self.split_low, self.split_high, "must be at least the first split value ({})")
        ordered(self.min_people, self.max_people, "must be at least Fewest people active ({})")
        for later in (self.deadline, self.until):
            if later in in_use and self.start not in problems and later not in problems:
                start, day = self.start.read(), later.read()
                if day is not None and day <= start:
                    problems[later] = InputError(
                        later.field,
                        later.value,
                        f"must be after the start date ({long_date(start)})",
                    )
        return problems

    def problems(self) -> list[InputError]:
        """Every reason the form cannot run now, first on the page first (empty: Run may run)."""
        out = []
        if self.source.value == "project" and not self.project.value:
            out.append(
                InputError("project", None, "pick a project, or choose 'Throughput pasted below'")
            )
        by_box = self.field_problems()
        out += [by_box[box] for box in self.checked_boxes() if box in by_box]
        return out

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
            start = self.start.problem() is None and self.start.read()
            if not start or project.target_date > start:
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
        """The pipeline request for the current inputs; bad input raises InputError naming the field.

        Every value is read through its box's check (core.validation), so the
        request holds exactly what the page shows as valid, or nothing is run.
        """
        problems = self.problems()
        if problems:
            raise problems[0]
        kind = self.question.value
        fields_: dict[str, Any] = {
            "start": self.start.read(),
            "team": {
                "history_size": self.history_size.read(),
                "min_contributors": self.min_people.read(),
                "max_contributors": self.max_people.read(),
                "s_curve": float(self.s_curve.read()),
            },
            "focus": self.focus.read() / 100.0,
        }
        throughput = None
        project = None
        if self.source.value == "project":
            project = self.project.value
        else:
            throughput = self.throughput.read()
            fields_["period_days"] = int(self.period_days.value)
        periods_end = None
        if kind == "when":
            low = self.backlog.read()
            fields_["backlog"] = (
                (low, self.backlog_high.read()) if self.backlog_is_range.value else low
            )
            split = (self.split_low.read(), self.split_high.read())
            if split != (1.0, 1.0):
                fields_["split_rate"] = split
            fields_["risks"] = self.risks.values()
            deadline = self.deadline.read()
            if deadline is not None:
                fields_["deadline"] = deadline
        else:
            periods_end = self.until.read()
        return pipeline.ForecastRequest(
            kind=kind,
            throughput=throughput,
            project=project,
            fields=fields_,
            method=self.chosen_method(),
            runs=self.runs.read(),
            seed=self.seed.read(),
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
        return pipeline.resolve_method(name, self.window.read() or pipeline.ALL_HISTORY)

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
