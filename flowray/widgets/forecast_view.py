"""The answer side of the forecast page: the headline, the method, the table of dates, the charts.

`ForecastView` shows a result (final or partial) in words a stakeholder can
act on; probabilities never show as 100%.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from flowray.core.results import ForecastResult, HowManyResult
from flowray.text import format_probability, long_date, period_word
from flowray.widgets import charts
from flowray.widgets.base import Panel
from flowray.widgets.html import escape, html_table, warning_box

LEVELS = (50, 70, 85, 95)
"""The likelihoods the answer table shows."""


class ForecastView(Panel):
    """The result widgets of the forecast panel, and how a result fills them."""

    job: Any  # the running forecast whose warnings the answer repeats (JobPanel)

    def _build_result_widgets(self) -> None:
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
        # the analyst's terms (sampling error by level, variation, XmR signals), one click away
        self.details_html = widgets.HTML("")
        self.details = widgets.Accordion(children=[self.details_html], titles=(DETAILS_TITLE,))
        self.details.selected_index = None
        self.details.layout.display = "none"
        self.answer_shown = False  # an answer (final or partial) is on screen

    def clear_answer(self, words: str) -> None:
        """Take every number of the last answer off the page and say why in its place."""
        self.answer_shown = False
        self.headline.value = f"<div style='color:#666;font-size:15px'>{escape(words)}</div>"
        for part in (
            self.method_text,
            self.summary,
            self.deadline_text,
            self.warnings,
            self.likelihoods,
            self.history_text,
            self.details_html,
        ):
            part.value = ""
        self.details.layout.display = "none"
        self.chart.widget.layout.display = "none"

    # -- results -------------------------------------------------------------------------------------
    def show_result(self, result: ForecastResult | HowManyResult, *, final: bool) -> None:
        self.answer_shown = True
        self.chart.widget.layout.display = None
        self.details.layout.display = None
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
        words = escape(report.describe())
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
        self.headline.value = f"<div style='font-size:26px;font-weight:700;color:#4a148c'>{escape(head)}{so_far}</div>"
        rows = []
        errors: dict[int, int | None] = {}
        for level in LEVELS:
            w = result.percentile(level)
            errors[level] = result.percentile_error(level)["plus_minus"]
            if w is None:
                rows.append((f"{level}% likely", "not within the horizon", "-"))
                continue
            rows.append(
                (
                    f"{level}% likely by",
                    long_date(scenario.date_of(w)),
                    f"{w} {period_word(unit, w)}",
                )
            )
        self.summary.value = html_table(
            ["", "Date", "From the start"],
            rows,
            caption=f"Start {long_date(scenario.start)}; {result.runs:,} simulated futures.",
        ) + _precision_note(errors, period_word(unit, 1), "date", result.runs)
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
            f"{escape(format_probability(prob))} likely to finish by the deadline, "
            f"{escape(long_date(scenario.deadline))}.</span>",
        ]
        if items is not None:
            lines.append(
                f"By the deadline, 85% likely at least {items} items done (of {backlog} left at the start, "
                "before splits and risks)."
            )
        if met:
            lines.append("The deadline is met at 85% confidence.")
        elif p85 is not None:
            lines.append(f"To be 85% sure, plan for {escape(long_date(p85))}.")
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
        self.headline.value = f"<div style='font-size:26px;font-weight:700;color:#4a148c'>{escape(head)}{so_far}</div>"
        rows = []
        errors: dict[int, int | None] = {}
        for level in LEVELS:
            errors[level] = result.at_least_error(level)["plus_minus"]
            rows.append((f"{level}% likely", f"at least {result.at_least(level)} items"))
        self.summary.value = html_table(
            ["", f"Done by {until}"],
            rows,
            caption=f"{result.periods} whole {period_word(result.scenario.period_days)} from "
            f"{long_date(result.scenario.start)}; {result.runs:,} simulated futures. "
            "Read conservatively: 85% likely means 85% of futures did at least this much.",
        ) + _precision_note(errors, "item", "count", result.runs)
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
        """The data checks in plain words on the page; the analyst's statistics in the details."""
        checks = result.checks
        unit = result.scenario.period_days
        raw = list(checks.warnings)
        running_warnings = list(getattr(self.job, "warnings", []) or [])
        raw += [
            w[0].upper() + w[1:]
            for w in running_warnings
            if w not in raw and not w.lower().startswith("only ")
        ]
        lines = list(dict.fromkeys(plain_warning(w, checks, unit) for w in raw))
        if isinstance(result, ForecastResult) and result.not_done:
            lines.append(
                f"{result.not_done_share:.1%} of the simulated futures were not done within "
                f"{result.scenario.max_periods} {period_word(unit)}; "
                "they are left out of the chart."
            )
        self.warnings.value = warning_box(lines)
        steadiness = STEADINESS.get(checks.stability, "")
        self.history_text.value = (
            "<div style='color:#555;font-size:13px;margin-top:6px'>History used: "
            f"{checks.count} {period_word(unit, checks.count)}, on average {checks.mean:.1f} items a "
            f"{period_word(unit, 1)}, {checks.zero_share:.0%} of {period_word(unit)} with nothing "
            f"finished{escape(steadiness)}.</div>"
        )
        self.details_html.value = self._details(result, raw)

    def _details(self, result: ForecastResult | HowManyResult, raw_warnings: list[str]) -> str:
        """Sampling error by level and the history's statistics, in the analyst's own terms."""
        checks = result.checks
        unit = result.scenario.period_days
        errors: list[tuple[int, int | None]]
        if isinstance(result, HowManyResult):
            errors = [(level, result.at_least_error(level)["plus_minus"]) for level in LEVELS]
            error_rows = [(f"{level}%", f"± {e} items") for level, e in errors]
        else:
            errors = [(level, result.percentile_error(level)["plus_minus"]) for level in LEVELS]
            error_rows = [
                (f"{level}%", "-" if e is None else f"± {e} {period_word(unit, e)}")
                for level, e in errors
            ]
        cv = "-" if checks.cv is None else f"{checks.cv:.2f}"
        stability = (
            checks.stability
            if checks.stability_pct is None
            else f"{checks.stability} ({checks.stability_pct:.0f}% between the halves' means)"
        )
        signals = "; ".join(
            f"{s.rule} at {period_word(unit, 1)} {s.index + 1}" for s in checks.signals
        )
        stats = [
            ("Coefficient of variation", cv),
            ("Stability", stability),
            (
                "XmR natural process limits",
                f"{checks.xmr_lower:.1f} to {checks.xmr_upper:.1f} "
                f"(moving range limit {checks.xmr_range_upper:.1f})",
            ),
            ("XmR signals", f"{len(checks.signals)}" + (f": {signals}" if signals else "")),
        ]
        return (
            html_table(
                ["Level", "Sampling error (95%)"],
                error_rows,
                caption="Monte Carlo sampling error of each answer, from the order-statistic interval.",
            )
            + html_table(None, stats, caption="History statistics")
            + (
                html_table(None, [(w,) for w in raw_warnings], caption="Checks as logged")
                if raw_warnings
                else ""
            )
        )


DETAILS_TITLE = "Details for analysts"
"""The folded section that keeps the statistical terms one click away."""

RECENT_PERIODS = 8
"""How far back "recent" reaches when the history's process signals are described."""

STEADINESS = {
    "great": "; steady: its earlier and later halves look alike",
    "good": "; fairly steady: its earlier and later halves look much alike",
    "unstable": "; unsteady: its earlier and later halves differ",
}


def plain_warning(warning: str, checks: Any, unit: int) -> str:
    """A data check in words a stakeholder reads; the analyst's wording stays in the details."""
    weeks = period_word(unit)
    if "XmR" in warning:
        recent = [s for s in checks.signals if s.index >= checks.count - RECENT_PERIODS]
        if recent:
            return (
                f"The last {RECENT_PERIODS} {weeks} look different from the earlier ones (unusually "
                "many or few items, or a long stretch above or below average): the way the team "
                "delivers may have changed, and the forecast assumes it has not."
            )
        return (
            f"Some {weeks} of the history stand out from the rest (unusually many or few items, "
            "or a long stretch above or below average): the way the team delivers may have changed."
        )
    if warning.startswith("Unstable history") and checks.stability_pct is not None:
        return (
            f"The earlier and the later half of the history differ a lot (their averages are "
            f"{checks.stability_pct:.0f}% apart): the last few months alone may forecast better "
            "(How to forecast: choose the window)."
        )
    if "zero throughput" in warning:
        return f"{checks.zero_share:.0%} of the {weeks} finished nothing: the work comes in bursts."
    return warning


def _precision_note(errors: dict[int, int | None], unit: str, noun: str, runs: int) -> str:
    """One line on how far more runs could move the answers, instead of a column of "± 0"."""
    known = [e for e in errors.values() if e is not None]
    if not known:
        return ""
    worst = max(known)
    if worst == 0:
        words = (
            f"Each {noun} above is exact to the {unit} at {runs:,} simulated futures: "
            "more runs would not change it."
        )
    else:
        plural = unit if worst == 1 else unit + "s"
        level = max(level for level, e in errors.items() if e == worst)
        words = (
            f"At {runs:,} simulated futures, more runs could still move a {noun} by up to "
            f"{worst} {plural} (the {level}% {noun} most); more runs make them steadier."
        )
    return f"<div style='color:#555;font-size:12px;margin:0 0 4px 0'>{escape(words)}</div>"
