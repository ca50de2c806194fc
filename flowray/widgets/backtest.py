"""The backtest panel: how well would a method have forecast these series in the past?

At many past dates ("origins") the method forecasts the next weeks from the
history before that date only, and the forecast is compared with what then
happened. The panel runs that on Ray (`pipeline.submit_backtest`) with
progress and Cancel, and shows coverage (how often the 50/70/85/95% answers
were met) and the PIT histogram (flat = well calibrated).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ipywidgets as widgets

from flowray import pipeline
from flowray.core import backtest as core_backtest
from flowray.core.limits import MAX_SEED
from flowray.data import demo_series_names, load_demo_series
from flowray.exceptions import InputError
from flowray.widgets import charts, fields
from flowray.widgets.base import (
    FIELD_LABELS,
    JobPanel,
    field_label,
    note,
    run_and_cancel_buttons,
    run_blockers_html,
    section,
    title,
)
from flowray.widgets.html import escape, html_table

LEVELS = ("50", "70", "85", "95")
QUESTION_WORDS = {"when": "When (completion date)", "how_many": "How many (items done)"}
METHOD_LABELS = {
    "bootstrap": "Bootstrap (uniform draws of past weeks)",
    "block": "Block bootstrap (keeps runs of weeks)",
    "recency": "Recency-weighted",
    "weibull": "Zero-inflated Weibull",
    "gbm": "Gradient boosting (ML, slow)",
    "forest": "Quantile forest (ML, slow)",
    "linear": "Linear quantile (ML, slow)",
}
WINDOW_CHOICES = [
    ("last 12 weeks", "12"),
    ("last 26 weeks", "26"),
    ("last 52 weeks", "52"),
    ("all of it", "all"),
]
POLL_SECONDS = 0.25
MAX_HORIZON_WEEKS = 104  # two years ahead: beyond it too few past dates remain to score
MAX_STEP_WEEKS = 52
MIN_RUNS = 100  # fewer futures per forecast and the scores are mostly sampling noise
MAX_RUNS_PER_FORECAST = 1_000_000  # times every past date and series: hours beyond it
_LABEL_STYLE = {"description_width": "190px"}


def method_label(base: str) -> str:
    label = METHOD_LABELS.get(base, base)
    if base == core_backtest.DEFAULT_BASE_METHOD:
        label += " (default" + (", with calibration)" if core_backtest.DEFAULT_CALIBRATED else ")")
    return label


def coverage_words(report: dict[str, Any], question: str, level: str = "85") -> str:
    block = report["pooled"][question]
    origins = int(block.get("origins", 0))
    if origins <= 0:
        return f"{QUESTION_WORDS[question]}: no origin could be scored."
    share = float(block["coverage"][level])
    return (
        f"{QUESTION_WORDS[question]}: the {level}% answer was met at {share:.0%} of {origins} past dates "
        f"(well calibrated: about {level}%)."
    )


class BacktestPanel(JobPanel):
    """Choose series, method, window and horizon; run on Ray; read coverage and PIT."""

    def __init__(
        self,
        db_path: str | Path | None = None,
        *,
        poll_seconds: float = POLL_SECONDS,
        runs: int = core_backtest.DEFAULT_RUNS,
    ) -> None:
        super().__init__()
        self.db_path = (
            db_path  # runs name it in their request; the panel reads through its workspace
        )
        self.workspace = pipeline.Workspace(db_path)  # the ledger opens once per panel
        self.poll_seconds = poll_seconds
        self.result: Any = None  # core.backtest_report.Backtest of the last complete run
        self.reports: dict[str, dict[str, Any]] = {}

        self.series = widgets.SelectMultiple(
            description="Series",
            rows=7,
            layout=widgets.Layout(width="420px"),
            style={"description_width": "60px"},
        )
        self.method = widgets.Dropdown(
            options=[(method_label(m), m) for m in core_backtest.BASE_METHODS],
            value=core_backtest.DEFAULT_BASE_METHOD,
            description="Method",
            layout=widgets.Layout(width="420px"),
            style=_LABEL_STYLE,
        )
        self.calibrated = widgets.Checkbox(
            value=True,
            indent=False,
            description="Also score it with flowray's calibration layer (+cal)",
        )
        self.window = widgets.Dropdown(
            options=WINDOW_CHOICES,
            value=str(core_backtest.DEFAULT_WINDOW or "all"),
            description="History each forecast uses",
            layout=widgets.Layout(width="420px"),
            style=_LABEL_STYLE,
        )
        self.horizon = fields.CheckedText(
            "horizon",
            fields.whole(1, MAX_HORIZON_WEEKS),
            value=core_backtest.DEFAULT_HORIZON,
            description="Weeks ahead to forecast",
            layout=widgets.Layout(width="420px"),
            style=_LABEL_STYLE,
        )
        self.step = fields.CheckedText(
            "step",
            fields.whole(1, MAX_STEP_WEEKS),
            value=core_backtest.DEFAULT_STEP,
            description="A past date every N weeks",
            layout=widgets.Layout(width="420px"),
            style=_LABEL_STYLE,
        )
        self.runs = fields.CheckedText(
            "runs",
            fields.whole(MIN_RUNS, MAX_RUNS_PER_FORECAST),
            value=runs,
            description="Simulated futures per forecast",
            layout=widgets.Layout(width="420px"),
            style=_LABEL_STYLE,
        )
        self.seed = fields.CheckedText(
            "seed",
            fields.whole(0, MAX_SEED),
            value=0,
            description=FIELD_LABELS["seed"],
            layout=widgets.Layout(width="420px"),
            style=_LABEL_STYLE,
            tooltip=(
                "The random seed: the same number with the same inputs gives exactly the same "
                "scores; another number gives another draw of simulated futures."
            ),
        )
        self.problems_text = widgets.HTML("")
        self.run_button, self.cancel_button = run_and_cancel_buttons("Run backtest", "140px")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="260px")
        )
        self.progress_text = widgets.Label("")
        self.headline = widgets.HTML(
            "<div style='color:#666'>Choose series and a method, then press "
            "<b>Run backtest</b>.</div>"
        )
        self.coverage = widgets.HTML("")
        self.pit = charts.pit_chart()
        self.per_series = widgets.HTML("")
        self.controls = [
            self.series,
            self.method,
            self.calibrated,
            self.window,
            self.horizon,
            self.step,
            self.runs,
            self.seed,
            self.run_button,
        ]
        self.run_button.on_click(self.action(self.start_run))
        self.cancel_button.on_click(self.on_cancel)
        for control in (self.series, self.method, self.calibrated, self.window, *self.boxes()):
            control.observe(self.guarded(self.inputs_changed), names="value")

        inputs = widgets.VBox(
            [
                section("What to test"),
                self.series,
                note(
                    "Demo series are real weekly throughput shipped with flowray; projects use their stored history."
                ),
                self.method,
                self.calibrated,
                self.window,
                self.horizon.box,
                self.step.box,
                self.runs.box,
                self.seed.box,
            ],
            layout=widgets.Layout(width="440px", margin="0 16px 0 0"),
        )
        results = widgets.VBox(
            [
                self.headline,
                section("Coverage: how often each answer was met"),
                self.coverage,
                self.pit.widget,
                note(
                    "Flat bars: well calibrated. A U shape: forecasts were too narrow (too sure); a hump: too wide; "
                    "bars piled on one side: forecasts leaned early or late."
                ),
                section("Per series"),
                self.per_series,
            ],
            layout=widgets.Layout(width="780px"),
        )
        self.widget = widgets.VBox(
            [
                title(
                    "Backtest",
                    "How good would the forecasts have been? Each past date is forecast from the "
                    "history before it only, then compared with what happened.",
                ),
                widgets.HBox(
                    [self.run_button, self.cancel_button, self.progress, self.progress_text],
                    layout=widgets.Layout(align_items="center"),
                ),
                self.status,
                self.problems_text,
                widgets.HBox([inputs, results]),
            ],
            layout=widgets.Layout(width="1240px"),
        )
        try:
            self.load_series()
        except Exception as exc:
            self.show_error(exc)
        self.check_inputs()

    # -- checking the inputs ---------------------------------------------------------------
    def boxes(self) -> list[fields.CheckedText]:
        return [self.horizon, self.step, self.runs, self.seed]

    def check_inputs(self) -> list[Any]:
        """Show each box's problem under it; Run stays off while there is any."""
        problems = []
        for box in self.boxes():
            problem = box.problem()
            box.show_problem(problem)
            if problem is not None:
                problems.append(problem)
        names = ", ".join(field_label(p.field) for p in problems) if problems else ""
        self.problems_text.value = run_blockers_html(names)
        self.run_button.disabled = self.busy or bool(problems)
        return problems

    def inputs_changed(self, _change: Any = None) -> None:
        """Check the inputs again; scores made from other inputs leave the page."""
        self.check_inputs()
        if self.result is not None or self.coverage.value:
            self.clear_scores(
                "Inputs changed: press Run backtest again for scores that match them."
            )

    def clear_scores(self, words: str) -> None:
        """Take the last scores off the page and say why in their place."""
        self.result = None
        self.reports = {}
        self.headline.value = f"<div style='color:#666'>{escape(words)}</div>"
        self.coverage.value = ""
        self.per_series.value = ""
        self.pit.widget.layout.display = "none"

    # -- series ----------------------------------------------------------------------------
    def load_series(self) -> None:
        options: list[tuple[str, tuple[str, str]]] = [
            (f"Demo: {name}", ("demo", name)) for name in demo_series_names()
        ]
        try:
            projects = pipeline.list_projects(self.workspace)
        except Exception as exc:  # the demo series still work without a database
            projects = []
            self.show_error(exc)
        options += [(f"Project: {p.name}", ("project", p.name)) for p in projects]
        self.series.options = options
        self.series.value = tuple(value for _, value in options if value[0] == "demo")

    def series_values(self) -> dict[str, list[float]]:
        chosen = list(self.series.value)
        if not chosen:
            raise InputError("series", None, "choose at least one series to backtest")
        out: dict[str, list[float]] = {}
        for source, name in chosen:
            if source == "demo":
                out[name] = [float(v) for _, v in load_demo_series(name)]
            else:
                out[f"project {name}"] = [
                    float(p.items) for p in pipeline.project_history(name, self.workspace)
                ]
        need = core_backtest.DEFAULT_FIRST_ORIGIN + self.horizon.read()
        short = [name for name, values in out.items() if len(values) < need]
        if short:
            raise InputError(
                "series",
                ", ".join(short),
                f"needs at least {need} weeks of history ({core_backtest.DEFAULT_FIRST_ORIGIN} before "
                f"the first past date, plus the {self.horizon.read()} weeks ahead)",
            )
        return out

    def methods(self) -> list[str]:
        base = self.method.value
        return [base, core_backtest.method_name(base, True)] if self.calibrated.value else [base]

    # -- run, follow, cancel -----------------------------------------------------------------
    def start_run(self) -> Any:
        try:
            problems = self.check_inputs()
            if problems:
                raise problems[0]
            series = self.series_values()
            window = core_backtest.parse_window(self.window.value)
            methods = self.methods()
            for method in methods:
                core_backtest.parse_method(method)
        except Exception:
            self.clear_scores("No scores: fix the input named above, then press Run backtest.")
            raise
        self.clear_scores("Running: the scores appear here when the backtest is done.")
        options = {
            "methods": methods,
            "windows": [window],
            "horizons": (self.horizon.read(),),
            "step": self.step.read(),
            "runs": self.runs.read(),
            "seed": self.seed.read(),
        }
        self.reset_job()
        self.result = None
        self.reports = {}
        self.progress.value = 0
        self.progress.bar_style = ""
        self.progress_text.value = ""
        self.show_info(f"Starting the backtest of {len(series)} series on the Ray cluster...")
        return self.start_background(lambda: self.follow(series, options))

    async def follow(self, series: dict[str, list[float]], options: dict[str, Any]) -> None:
        self._options = options
        await self.follow_job(lambda: self._submit(series, options))

    def on_started(self, job: Any) -> None:
        self.show_info("Running: each series is forecast at every past date in turn.")

    def on_done(self, result: Any) -> None:
        self.result = result
        self.show_result(result, self._options)
        self.show_success("Backtest done.")

    def on_cancelled(self, progress: Any) -> None:
        self.progress.bar_style = "warning"
        self.show_info(
            f"Cancelled with {progress.fraction:.0%} of the backtest done; no scores are shown "
            "for a partial backtest."
        )

    def on_failed(self) -> None:
        self.progress.bar_style = "danger"
        self.clear_scores("No scores: the backtest failed (the reason is above).")

    @staticmethod
    def _submit(series: dict[str, list[float]], options: dict[str, Any]) -> Any:
        pipeline.connect_cluster()
        return pipeline.submit_backtest(series, **options)

    def show_progress(self, progress: Any) -> None:
        total = max(1, int(progress.chunks_total))
        self.progress.max = total
        self.progress.value = min(int(progress.chunks_done), total)
        self.progress_text.value = (
            f"{progress.fraction:.0%} done ({progress.tasks_done} of {progress.tasks_total} series)"
        )

    def after_busy_change(self, busy: bool) -> None:
        self.cancel_button.disabled = True
        if not busy:
            self.check_inputs()

    # -- results ---------------------------------------------------------------------------------------
    def show_result(self, result: Any, options: dict[str, Any]) -> None:
        self.pit.widget.layout.display = None
        window = options["windows"][0]
        horizon = options["horizons"][0]
        methods = options["methods"]
        self.reports = {m: result.report(m, window, horizon) for m in methods}
        main = self.reports[
            methods[-1]
        ]  # the calibrated variant when it was scored: what flowray would forecast
        label = METHOD_LABELS.get(methods[0], methods[0]) + (
            " with calibration" if len(methods) > 1 else ""
        )
        self.headline.value = (
            f"<div style='font-size:16px;font-weight:600;margin:4px 0'>{escape(label)}, using the "
            f"{escape(dict((v, k) for k, v in WINDOW_CHOICES)[self.window.value])} before each date, "
            f"forecasting {horizon} weeks ahead:</div>"
            "<div style='font-size:14px'>"
            + "<br>".join(escape(coverage_words(main, q)) for q in ("when", "how_many"))
            + "</div>"
        )
        headers = ["Answer"]
        for q in ("when", "how_many"):
            for m in methods:
                headers.append(
                    f"{QUESTION_WORDS[q].split(' (')[0]}: {'calibrated' if m.endswith('+cal') else 'raw'}"
                )
        rows = []
        for level in LEVELS:
            row = [f"{level}% likely"]
            for q in ("when", "how_many"):
                for m in methods:
                    block = self.reports[m]["pooled"][q]
                    row.append(
                        "-"
                        if block.get("origins", 0) <= 0
                        else f"{float(block['coverage'][level]):.0%}"
                    )
            rows.append(row)
        origins = int(main["pooled"]["when"].get("origins", 0))
        self.coverage.value = html_table(
            headers,
            rows,
            caption=f"Share of {origins} past dates at which each answer "
            "was met; a well-calibrated 85% answer is met at about 85% of them.",
        )
        pits = {}
        for m in methods:
            for q in ("when", "how_many"):
                name = f"{QUESTION_WORDS[q].split(' (')[0]}{' (calibrated)' if m.endswith('+cal') else ''}"
                pits[name] = charts.pit_histogram(result.pits(m, window, q, horizon))
        charts.show_pit(
            self.pit, pits, "PIT histogram: where the actual outcome fell in each forecast"
        )
        series_rows = []
        for row in main["series"]:
            when, many = row["when"], row["how_many"]
            series_rows.append(
                (
                    row["name"],
                    str(when.get("origins", 0)),
                    "-" if when.get("origins", 0) <= 0 else f"{float(when['coverage']['85']):.0%}",
                    "-" if many.get("origins", 0) <= 0 else f"{float(many['coverage']['85']):.0%}",
                    "-"
                    if when.get("origins", 0) <= 0
                    else f"{float(when['median_abs_error']):.1f} weeks",
                    row.get("skipped") or "",
                )
            )
        self.per_series.value = html_table(
            (
                "Series",
                "Past dates",
                "85% met (when)",
                "85% met (how many)",
                "Median error (when)",
                "Note",
            ),
            series_rows,
        )
