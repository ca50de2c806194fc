"""The forecast panel: a scenario form, a live answer, and the run / follow / cancel / save actions.

The inputs are `ScenarioForm` (widgets/scenario_form.py), the answer is
`ForecastView` (widgets/forecast_view.py); the job is started through
`flowray.pipeline.start_forecast` off the event loop and followed by
`JobPanel`: the progress bar and the percentiles update as chunks land.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from flowray import pipeline
from flowray.core import backtest
from flowray.core.results import ForecastResult, HowManyResult
from flowray.core.validation import text
from flowray.exceptions import InputError
from flowray.widgets import charts
from flowray.widgets.base import (
    JobPanel,
    field_label,
    note,
    run_and_cancel_buttons,
    run_blockers_html,
    section,
    title,
)
from flowray.widgets.forecast_view import ForecastView
from flowray.widgets.in_progress import InProgressSection
from flowray.widgets.scenario_form import (
    DEFAULT_RUNS,
    METHOD_NOTES,
    POLL_SECONDS,
    PROGRESS_STEPS,
    ScenarioForm,
    parse_throughput,
)

__all__ = ["PROGRESS_STEPS", "ForecastPanel", "forecast_panel", "parse_throughput"]

SECTION_TITLES = ("Risks", "Team, ramp-up and focus", "Number of runs and short history")
"""The folded sections under the dates (an Accordion)."""
STALE_WORDS = "Inputs changed: press Run forecast again for an answer that matches them."
REFUSED_WORDS = "No answer: fix the input named above, then press Run forecast."
RUNNING_WORDS = "Running: the answer appears here as the simulated futures come in."
FAILED_WORDS = "No answer: the run failed (the reason is above). Press Run forecast to try again."


def _contains(parent: widgets.Widget, target: widgets.Widget) -> bool:
    """Whether `target` sits anywhere inside `parent` (a box's children, their children, ...)."""
    if parent is target:
        return True
    return any(_contains(child, target) for child in getattr(parent, "children", ()))


class ForecastPanel(ScenarioForm, ForecastView, JobPanel):
    """Inputs on the left, the live answer on the right, actions on top."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        runs: int = DEFAULT_RUNS,
        poll_seconds: float = POLL_SECONDS,
        today: dt.date | None = None,
        warm_up: bool = False,
    ) -> None:
        """`warm_up`: while the user reads the page, load the compiled kernel in this
        process, so the first Run shows numbers within a second or two (the dashboards). The
        first Run runs here while Ray is joined in the background; later Runs use Ray
        (`pipeline.page_engine`)."""
        super().__init__()
        if warm_up:
            threading.Thread(
                target=pipeline.warm_up_engine,
                args=("serial",),
                name="flowray-warm-up",
                daemon=True,
            ).start()
        self.db_path = (
            db_path  # runs name it in their request; the panel reads through its workspace
        )
        self.workspace = pipeline.Workspace(db_path)  # the ledger opens once per panel
        self.poll_seconds = poll_seconds
        self.result: ForecastResult | HowManyResult | None = None  # the last complete result
        self.request: pipeline.ForecastRequest | None = None
        self.saved_id: int | None = None
        self.planned_id: int | None = None  # the saved answer made the project's plan
        self.partial_updates = 0  # how many partial results were shown (tests, diagnostics)
        self.input_problems: list[InputError] = []  # why Run is off (empty: it may run)
        self._projects: dict[str, Any] = {}
        today = today or dt.date.today()

        self._build_inputs(runs, today)
        # -- actions --------------------------------------------------------------------------
        self.run_button, self.cancel_button = run_and_cancel_buttons("Run forecast", "140px")
        self.save_name = widgets.Text(
            placeholder="Name in the ledger (optional)", layout=widgets.Layout(width="220px")
        )
        self.problems_text = widgets.HTML("")  # why Run is off: every field still to fix
        self.save_button = widgets.Button(
            description="Save as a what-if",
            button_style="success",
            disabled=True,
            tooltip="Keep this answer in the ledger; the project's plan stays as it is",
            layout=widgets.Layout(width="150px"),
        )
        self.plan_button = widgets.Button(
            description="Make this the plan",
            button_style="primary",
            disabled=True,
            tooltip="Save this answer and make it the plan the portfolio, the nightly batch and "
            "its alerts follow",
            layout=widgets.Layout(width="160px", margin="0 0 0 8px"),
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="260px")
        )
        self.progress_text = widgets.Label("")
        self._build_result_widgets()
        self.in_progress = InProgressSection(self.workspace, today)  # the project's open items
        # disabled while a job runs: every input, and the buttons that act on them
        self.controls = [
            *self.watched_inputs(),
            self.reload_button,
            self.run_button,
            self.save_name,
        ]
        self.run_button.on_click(self.action(self.start_run))
        self.cancel_button.on_click(self.on_cancel)
        self.save_button.on_click(self.action(self.save))
        self.plan_button.on_click(self.action(self.make_plan))
        self.reload_button.on_click(self.action(self.load_projects))
        self.project.observe(
            self.guarded(lambda change: self.select_project(change["new"])), names="value"
        )
        self.source.observe(self.guarded(self._layout_changed), names="value")
        for picker in (self.project, self.source):
            picker.observe(self.guarded(self._show_in_progress), names="value")
        self.reload_button.on_click(self.guarded(self._show_in_progress))  # after a new import
        self.question.observe(self.guarded(self._layout_changed), names="value")
        self.backlog_is_range.observe(self.guarded(self._layout_changed), names="value")
        self.method_choice.observe(self.guarded(self._layout_changed), names="value")
        self.history_size.observe(self.guarded(self._team_size_changed), names="value")
        for control in self.watched_inputs():
            control.observe(self.guarded(self.inputs_changed), names="value")

        self.widget = self._build_layout()
        self._guard(self.load_projects)
        self._layout_changed()
        self.check_inputs()

    # -- layout -------------------------------------------------------------------------------
    def _build_layout(self) -> widgets.Widget:
        self.history_box = widgets.VBox(
            [
                self.source,
                widgets.HBox([self.project, self.reload_button]),
                self.project_info,
                self.throughput.box,
                self.period_days,
            ]
        )
        self.custom_method_box = widgets.VBox([self.sampler, self.window.box, self.calibrate])
        self.method_box = widgets.VBox(
            [self.method_choice, self.method_note, self.custom_method_box]
        )
        self.work_box = widgets.VBox(
            [
                section("The work left"),
                widgets.HBox([self.backlog, self.backlog_is_range, self.backlog_high]),
                self.backlog.message,
                self.backlog_high.message,
                widgets.HBox([self.split_low, self.split_high, widgets.Label("items")]),
                self.split_low.message,
                self.split_high.message,
                note(
                    "Split: how many delivered items one backlog item turns into (1 to 1 = no split)."
                ),
            ]
        )
        self.dates_box = widgets.VBox(
            [section("Dates"), self.start.box, self.deadline.box, self.until.box]
        )
        team = widgets.VBox(
            [
                note(
                    "Throughput is scaled by active people / people behind the history, times the focus."
                ),
                self.history_size.box,
                self.min_people.box,
                self.max_people.box,
                self.s_curve.box,
                self.focus.box,
            ]
        )
        runs = widgets.VBox([self.runs.box, self.seed.box, self.force])
        self.more = widgets.Accordion(
            children=[self.risks.widget, team, runs],
            titles=SECTION_TITLES,
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
                self.details,
                self.in_progress.widget,
            ],
            layout=widgets.Layout(width="800px"),
        )
        actions = widgets.HBox(
            [self.run_button, self.cancel_button, self.progress, self.progress_text],
            layout=widgets.Layout(align_items="center"),
        )
        saving = widgets.HBox(
            [self.save_name, self.save_button, self.plan_button],
            layout=widgets.Layout(align_items="center"),
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
                self.problems_text,
                widgets.HBox([inputs, results]),
            ],
            layout=widgets.Layout(width="1230px"),
        )

    def _layout_changed(self, _change: Any = None) -> None:
        pasted = self.source.value == "paste"
        self.throughput.set_visible(pasted)
        self.period_days.layout.display = None if pasted else "none"
        self.project_info.layout.display = "none" if pasted else None
        when = self.question.value == "when"
        self.work_box.layout.display = None if when else "none"
        self.deadline.set_visible(when)
        self.until.set_visible(not when)
        self.backlog_high.set_visible(bool(self.backlog_is_range.value))
        choice = self.method_choice.value
        self.custom_method_box.layout.display = None if choice == "custom" else "none"
        self.method_note.value = note(
            METHOD_NOTES[choice].format(window=backtest.DEFAULT_WINDOW)
        ).value
        if self._fan_shown != when:  # no burn-down without a backlog ("how many")
            charts.show_burn_down_plot(self.chart, when)
            self._fan_shown = when

    def _show_in_progress(self, _change: Any = None) -> None:
        """The selected project's items in progress; nothing for pasted throughput."""
        if self.source.value == "project" and self.project.value:
            self.in_progress.show_project(self.project.value)
        else:
            self.in_progress.hide()

    def watched_inputs(self) -> list[widgets.Widget]:
        """Every input whose change makes the answer on screen stale (risk rows report their own)."""
        return [
            self.question,
            self.source,
            self.project,
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
        ]

    # -- checking the inputs, retiring the answer they no longer match -------------------------
    def inputs_changed(self, _change: Any = None) -> None:
        """An input changed: check the form again, and retire an answer made from other inputs."""
        if not hasattr(self, "problems_text"):
            return  # still building the panel
        self.check_inputs()
        if self.answer_shown:
            self.result = None
            self.saved_id = None
            self.planned_id = None
            self.save_button.disabled = True
            self.plan_button.disabled = True
            self.clear_answer(STALE_WORDS)
            self.show_info(STALE_WORDS)  # not "Done: save it" over an answer that is gone
        elif self.last_error is not None:
            self.show_info("Inputs changed: press Run forecast when they are ready.")

    def check_inputs(self) -> list[InputError]:
        """Show each field's problem under it, say which fields hold Run back, and enable Run only when none."""
        by_box = self.field_problems()
        for box in self.checked_boxes():
            box.show_problem(by_box.get(box))
        problems = self.problems()
        self.input_problems = problems
        names = ", ".join(dict.fromkeys(self.where(p) for p in problems)) if problems else ""
        self.problems_text.value = run_blockers_html(names)
        self.run_button.disabled = self.busy or bool(problems)
        return problems

    def where(self, problem: InputError) -> str:
        """A field's label, with the folded section it sits in (a problem there is easy to miss)."""
        label = field_label(problem.field)
        boxes = {box.field: box for box in self.checked_boxes()}
        box = boxes.get(problem.field)
        for index, child in enumerate(self.more.children if hasattr(self, "more") else ()):
            if box is not None and _contains(child, box):
                return f"{label} (under {SECTION_TITLES[index]})"
        return label

    def all_controls(self) -> list[widgets.Widget]:
        return list(self.controls) + self.risks.controls()

    def after_busy_change(self, busy: bool) -> None:
        """Cancel is usable only while a run is followed (start_run enables it); Save only after one.

        Run stays off while any input holds a problem.
        """
        self.cancel_button.disabled = True
        self.save_button.disabled = busy or self.result is None or self.saved_id is not None
        self.plan_button.disabled = busy or not self.can_be_the_plan()
        if not busy:
            self.check_inputs()

    def _guard(self, fn: Any) -> None:
        """Run a non-button step (e.g. at start-up) showing, never raising, its errors."""
        try:
            fn()
        except Exception as exc:
            self.show_error(exc)

    # -- run, follow, cancel ---------------------------------------------------------------------
    def start_run(self) -> Any:
        """Validate now; start the job and follow it in the background (returns at once).

        The answer on screen goes first: a run that is refused or fails leaves
        no answer behind, only the reason.
        """
        self.result = None
        self.saved_id = None
        self.planned_id = None
        self.save_button.disabled = True
        self.plan_button.disabled = True
        try:
            request = self.build_request()
            self.validate(request)
        except Exception:
            self.clear_answer(REFUSED_WORDS)
            raise
        self.clear_answer(RUNNING_WORDS)
        self.request = request
        self.reset_job()
        self.partial_updates = 0
        self.progress.value = 0
        self.progress.max = PROGRESS_STEPS
        self.progress.bar_style = ""
        self.progress_text.value = f"0 of {request.runs:,} runs"
        if request.engine is None:
            request.engine = pipeline.page_engine()
        self.show_info(
            "Starting the run on the compute cluster..."
            if request.engine == "ray"
            else "Starting the run in this page (the compute cluster is joined meanwhile, "
            "for the next runs)..."
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
        self.show_info("Running: the answer below updates as batches of simulated futures finish.")

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
        self.clear_answer(FAILED_WORDS)

    def show_progress(self, progress: Any) -> None:
        self.progress.max = PROGRESS_STEPS
        self.progress.value = min(
            PROGRESS_STEPS, max(self.progress.value, round(progress.fraction * PROGRESS_STEPS))
        )
        text = f"{progress.runs_done:,} of {progress.runs_total:,} runs ({progress.fraction:.0%})"
        if getattr(progress, "stage", "") == "calibrating":
            text += "; calibrating on past forecast errors..."
        self.progress_text.value = text

    # -- save -----------------------------------------------------------------------------------------------
    def save(self) -> int:
        """Write the last complete result to the ledger as a what-if; returns its id.

        A what-if changes neither the portfolio nor the batch: only `make_plan` does.
        """
        result, project, history, name = self._saving()
        self.saved_id = pipeline.save_forecast(
            project, result, self.workspace, name=name, history_periods=history
        )
        self.save_name.value = ""  # the next answer gets a name of its own
        self.show_success(
            f"Saved as forecast #{self.saved_id} (a what-if) in the ledger of {project}; "
            "the project's plan is unchanged."
        )
        return self.saved_id

    def can_be_the_plan(self) -> bool:
        """A complete "when" answer of a project, not yet made the plan."""
        return (
            isinstance(self.result, ForecastResult)
            and self.request is not None
            and bool(self.request.project or self.project.value)
            and self.planned_id is None
        )

    def make_plan(self) -> int:
        """Make the answer on screen the project's plan (saving it first if needed); its id."""
        if not isinstance(self.result, ForecastResult):
            raise InputError(
                "plan", None, "only a completed 'when will it be done' answer can be the plan"
            )
        _, project, history, name = self._saving()
        if self.saved_id is None:
            self.saved_id = pipeline.save_plan(
                project,
                self.result,
                self.workspace,
                how="page",
                name=name,
                history_periods=history,
            )
        else:
            pipeline.make_plan(project, self.saved_id, self.workspace, how="page")
        self.planned_id = self.saved_id
        self.save_name.value = ""
        self.show_success(
            f"Forecast #{self.saved_id} is now the plan of {project}: the portfolio, the nightly "
            "batch and its alerts follow it."
        )
        return self.saved_id

    def _saving(
        self,
    ) -> tuple[ForecastResult | HowManyResult, str, list[Any] | None, str | None]:
        """(the answer on screen, its project, the project's history, the name typed) to save."""
        result = self.result
        if result is None:
            raise InputError("forecast", None, "run a forecast to the end before saving it")
        # the project the answer was made from; a pasted history is saved under the picked one
        project = (self.request.project if self.request else None) or self.project.value
        if not project:
            raise InputError(
                "project",
                None,
                "pick the project to save this forecast under "
                "(add projects with `flowray project add`)",
            )
        history = None
        if self.request is not None and self.request.project:
            history = pipeline.project_history(self.request.project, self.workspace)
        return result, project, history, text("name", self.save_name.value)


def forecast_panel(db_path: str | Path | None = None, **options: Any) -> ForecastPanel:
    return ForecastPanel(db_path, **options)
