"""The forecast page never shows a stale or silently wrong answer, and speaks a stakeholder's words.

Runs here use the serial engine (the same numbers as Ray, in this process), so
these tests need no cluster: `serial_runs` routes the page's
`pipeline.start_forecast` to `engine="serial"`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import pytest
from widget_helpers import PROJECT, START, demo_throughput, drive

from flowray import pipeline
from flowray.text import long_date
from flowray.widgets import forecast_app
from flowray.widgets.base import field_label
from flowray.widgets.fields import CheckedText
from flowray.widgets.forecast import ForecastPanel

RUNS = 2000
BAD_VALUES = ("-5", "abc", "nan", "1e12")
JARGON = ("domain.md", ".md", "xmr", "seed", "s-curve", "± 0")


@pytest.fixture
def serial_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's runs go to the serial engine: the same job, in this process."""
    start = pipeline.start_forecast
    monkeypatch.setattr(
        pipeline,
        "start_forecast",
        lambda request: start(dataclasses.replace(request, engine="serial")),
    )


def pasted(db_path: Any, **options: Any) -> ForecastPanel:
    panel = forecast_app(db_path=db_path, today=START, **options)
    panel.source.value = "paste"
    panel.throughput.value = ", ".join(str(v) for v in demo_throughput(26))
    panel.method_choice.value = "domain"  # the plain model: no calibration work, a quick run
    panel.runs.value = RUNS
    panel.seed.value = 7
    return panel


def run(panel: ForecastPanel) -> None:
    async def press() -> None:
        panel.run_button.click()
        await panel.wait()

    drive(press)
    assert panel.running is not None and panel.running.state == "DONE", panel.status.value


def answer_text(panel: ForecastPanel) -> str:
    """Everything the answer side shows, as text."""
    parts = (
        panel.headline,
        panel.method_text,
        panel.summary,
        panel.deadline_text,
        panel.warnings,
        panel.likelihoods,
        panel.history_text,
        panel.details_html,
    )
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", p.value) for p in parts))


def assert_no_answer_shown(panel: ForecastPanel, old_answer: str) -> None:
    shown = answer_text(panel)
    assert old_answer not in shown, "a number of the old answer is still on the page"
    assert "likely by" not in shown and "simulated futures." not in shown
    assert panel.chart.widget.layout.display == "none", "the old chart is hidden"
    assert panel.result is None and panel.save_button.disabled, "nothing left to save"


@pytest.fixture
def answered(serial_runs: None, tmp_path: Any) -> Iterator[tuple[ForecastPanel, str]]:
    """A page that just answered "when" (with one risk row), and the 85% date it shows."""
    panel = pasted(tmp_path / "empty.duckdb")
    panel.risks.add_row(likelihood=30, low=2, mode=5, high=9)
    run(panel)
    p85 = long_date(panel.result.date_at(85))
    assert p85 in panel.headline.value and not panel.save_button.disabled
    assert panel.progress.value == panel.progress.max, "the bar reached the end"
    yield panel, p85


# -- every numeric field: a named error beside it, Run off, no stale answer --------------------
FIELDS: dict[str, Callable[[ForecastPanel], CheckedText]] = {
    "window": lambda p: p.window,
    "backlog": lambda p: p.backlog,
    "backlog_high": lambda p: p.backlog_high,
    "split_low": lambda p: p.split_low,
    "split_high": lambda p: p.split_high,
    "history_size": lambda p: p.history_size,
    "min_people": lambda p: p.min_people,
    "max_people": lambda p: p.max_people,
    "s_curve": lambda p: p.s_curve,
    "focus": lambda p: p.focus,
    "runs": lambda p: p.runs,
    "seed": lambda p: p.seed,
    "risk_likelihood": lambda p: p.risks.rows[0]["likelihood"],
    "risk_low": lambda p: p.risks.rows[0]["low"],
    "risk_mode": lambda p: p.risks.rows[0]["mode"],
    "risk_high": lambda p: p.risks.rows[0]["high"],
}


def test_every_numeric_field_of_the_form_is_checked():
    panel = forecast_app(db_path=None, today=START)
    panel.risks.add_row()
    numeric = {
        box
        for box in panel.checked_boxes()
        if box not in (panel.start, panel.deadline, panel.until)
    }
    numeric.discard(panel.throughput)
    assert numeric == {pick(panel) for pick in FIELDS.values()}, "a numeric field is not tested"
    for name in ("backlog", "runs", "seed", "focus", "s_curve", "split_low"):
        assert isinstance(getattr(panel, name), CheckedText), "no number box that clamps silently"


@pytest.mark.parametrize("name", list(FIELDS))
def test_a_bad_number_is_named_beside_its_field_and_keeps_run_off(name, answered):
    panel, p85 = answered
    if name == "window":
        panel.method_choice.value = "custom"
    if name == "backlog_high":
        panel.backlog_is_range.value = True
    box = FIELDS[name](panel)
    good = box.value
    job = panel.running
    label = field_label(box.field)

    for bad in BAD_VALUES:
        if name == "seed" and bad == "1e12":
            continue  # 10**12 is a valid repeatable-run number (up to 2**63 - 1); tested below
        box.value = bad
        message = html.unescape(box.message.value)
        assert f"Please check {label}: must be" in message, (bad, message)
        assert f"(you entered {bad})" in message
        assert panel.run_button.disabled, f"Run is on with {label} = {bad!r}"
        assert label in html.unescape(panel.problems_text.value)
        assert re.search("Inputs changed|No answer", panel.headline.value)
        assert_no_answer_shown(panel, p85)

        panel.run_button.click()  # a click that still reaches the panel is refused by name
        assert f"Please check {label}" in html.unescape(panel.status.value)
        assert panel.running is job and not panel.busy, "no new run started"
        assert_no_answer_shown(panel, p85)

    box.value = good
    assert box.problem() is None and "Please check" not in box.message.value
    assert not panel.run_button.disabled and panel.problems_text.value == ""
    assert_no_answer_shown(panel, p85)  # a valid input again is still not the answer's input


def test_a_large_repeatable_run_number_is_a_valid_one():
    panel = forecast_app(db_path=None, today=START)
    panel.seed.value = "1e12"
    assert panel.seed.read() == 10**12 and panel.seed.problem() is None


def test_pasted_throughput_is_checked_value_by_value(tmp_path):
    panel = pasted(tmp_path / "empty.duckdb")
    assert "26 values read" in panel.throughput.message.value and not panel.run_button.disabled
    panel.throughput.value = "4, 5, -5, 7"
    assert "Please check Throughput (value 3)" in panel.throughput.message.value
    assert panel.run_button.disabled
    panel.throughput.value = "4, 5, nan, 7"
    assert "Please check Throughput (value 3)" in panel.throughput.message.value


def test_dates_are_typed_one_way_and_read_back_in_words(tmp_path):
    panel = pasted(tmp_path / "empty.duckdb")
    panel.deadline.value = "2026-12-02"
    assert "2 December 2026" in panel.deadline.message.value
    assert panel.build_request().fields["deadline"] == dt.date(2026, 12, 2)
    panel.deadline.value = "12/02/2026"  # a browser's locale order is refused by name, not guessed
    assert "Please check Deadline: must be a date written YYYY-MM-DD" in html.unescape(
        panel.deadline.message.value
    )
    assert panel.run_button.disabled
    panel.deadline.value = (START - dt.timedelta(days=1)).isoformat()
    assert f"must be after the start date ({long_date(START)})" in panel.deadline.message.value
    panel.deadline.value = ""  # the deadline is optional
    assert not panel.run_button.disabled
    panel.start.value = ""
    assert "Please check Start date" in panel.start.message.value and panel.run_button.disabled


def test_a_range_that_runs_backwards_is_refused_where_it_is_typed(tmp_path):
    panel = pasted(tmp_path / "empty.duckdb")
    panel.backlog_is_range.value = True
    panel.backlog.value, panel.backlog_high.value = "50", "40"
    assert "must be at least Items left (50)" in panel.backlog_high.message.value
    assert panel.run_button.disabled
    panel.backlog_is_range.value = False  # the second value is no longer read
    assert not panel.run_button.disabled


def test_risk_errors_name_the_row_as_the_page_counts_it(tmp_path):
    panel = pasted(tmp_path / "empty.duckdb")
    first, second = panel.risks.add_row(), panel.risks.add_row()
    panel.risks.remove_row(first)
    second["high"].value = "x"
    assert "Please check Risk 1 at most" in second["high"].message.value
    second["high"].value = "3"  # below "most likely" (5)
    assert "Please check Risk 1: needs at least &lt;= most likely &lt;= at most" in (
        second["high"].message.value
    )
    assert panel.run_button.disabled


# -- a change or an error retires the answer; Save stores exactly what is shown -----------------
CHANGES: dict[str, Callable[[ForecastPanel], None]] = {
    "question": lambda p: setattr(p.question, "value", "how_many"),
    "throughput": lambda p: setattr(p.throughput, "value", p.throughput.value + ", 9"),
    "method": lambda p: setattr(p.method_choice, "value", "default"),
    "period": lambda p: setattr(p.period_days, "value", 14),
    "backlog": lambda p: setattr(p.backlog, "value", "61"),
    "range": lambda p: setattr(p.backlog_is_range, "value", True),
    "split": lambda p: setattr(p.split_high, "value", "1.5"),
    "risk": lambda p: setattr(p.risks.rows[0]["mode"], "value", "6"),
    "risk_removed": lambda p: p.risks.remove_row(p.risks.rows[0]),
    "risk_added": lambda p: p.risks.add_row(),
    "team": lambda p: setattr(p.max_people, "value", "2"),
    "ramp": lambda p: setattr(p.s_curve, "value", "10"),
    "focus": lambda p: setattr(p.focus, "value", "80"),
    "start": lambda p: setattr(p.start, "value", "2026-08-24"),
    "deadline": lambda p: setattr(p.deadline, "value", "2026-12-02"),
    "runs": lambda p: setattr(p.runs, "value", "3000"),
    "seed": lambda p: setattr(p.seed, "value", "8"),
    "short_history": lambda p: setattr(p.force, "value", True),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_of_input_retires_the_answer_and_disables_save(change, answered):
    panel, p85 = answered
    CHANGES[change](panel)
    assert "Inputs changed: press Run forecast again" in panel.headline.value
    assert "Done:" not in panel.status.value, "the status line does not offer a gone answer"
    assert_no_answer_shown(panel, p85)
    assert not panel.run_button.disabled, "the new inputs are valid: Run again"


def test_a_refused_run_leaves_no_answer_and_nothing_to_save(answered):
    panel, p85 = answered
    panel.throughput.value = "4, 5, 6"  # valid values, but too short a history to forecast
    panel.run_button.click()
    assert "Forecast from short history anyway" in panel.status.value
    assert "No answer" in panel.headline.value
    assert_no_answer_shown(panel, p85)


def test_a_failed_run_leaves_no_answer(serial_runs, tmp_path, monkeypatch):
    panel = pasted(tmp_path / "empty.duckdb")
    run(panel)

    def broken(_request: Any) -> Any:
        raise RuntimeError("raylet went away")

    monkeypatch.setattr(pipeline, "start_forecast", broken)
    p85 = long_date(panel.result.date_at(85))
    drive(lambda: _press(panel))
    assert "raylet went away" in panel.status.value
    assert_no_answer_shown(panel, p85)


async def _press(panel: ForecastPanel) -> None:
    panel.run_button.click()
    await panel.wait()


def test_save_stores_the_answer_shown_with_its_inputs_and_clears_the_name(serial_runs, project_db):
    panel = forecast_app(db_path=project_db, today=START)
    panel.runs.value = RUNS
    panel.backlog.value = "45"
    panel.method_choice.value = "domain"
    run(panel)
    shown = panel.result
    panel.save_name.value = "before the review"
    panel.save_button.click()

    record = pipeline.open_store(project_db).get_forecast(panel.saved_id)
    assert record.percentiles[85] == shown.percentile(85)
    assert (record.backlog_low, record.backlog_high, record.start_date) == (45, 45, START)
    assert (record.runs, record.seed, record.name) == (RUNS, 0, "before the review")
    assert record.project == PROJECT
    assert panel.save_name.value == "", "the next answer does not inherit the last name"
    assert panel.save_button.disabled

    panel.backlog.value = "46"  # a new input: nothing to save until the next run completes
    assert panel.save_button.disabled and panel.result is None
    run(panel)
    assert not panel.save_button.disabled


def test_a_what_if_leaves_the_plan_and_make_this_the_plan_sets_it(serial_runs, project_db):
    panel = forecast_app(db_path=project_db, today=START)
    panel.runs.value = RUNS
    panel.backlog.value = "45"
    panel.method_choice.value = "domain"
    run(panel)
    assert not panel.plan_button.disabled
    plan_before = pipeline.open_store(project_db).get_plan(PROJECT)

    panel.save_button.click()  # a what-if
    assert pipeline.open_store(project_db).get_plan(PROJECT) == plan_before
    assert "(a what-if)" in panel.status.value and "plan is unchanged" in panel.status.value
    assert not panel.plan_button.disabled  # the saved what-if can still become the plan

    panel.plan_button.click()
    plan = pipeline.open_store(project_db).get_plan(PROJECT)
    assert plan is not None and plan.forecast_id == panel.saved_id
    assert len(pipeline.open_store(project_db).list_forecasts(PROJECT)) == 1  # saved once
    assert panel.plan_button.disabled and panel.save_button.disabled

    panel.backlog.value = "50"  # another answer is needed before another plan
    assert panel.plan_button.disabled
    run(panel)
    panel.plan_button.click()  # saved and made the plan in one step
    assert pipeline.open_store(project_db).get_plan(PROJECT).forecast_id == panel.saved_id
    assert len(pipeline.open_store(project_db).list_forecasts(PROJECT)) == 2


def test_a_how_many_answer_cannot_be_the_plan(serial_runs, project_db):
    panel = forecast_app(db_path=project_db, today=START)
    panel.runs.value = RUNS
    panel.question.value = "how_many"
    run(panel)
    assert panel.result is not None and panel.plan_button.disabled
    assert not panel.save_button.disabled


# -- the words on the page --------------------------------------------------------------------
def rendered_text(widget: widgets.Widget, skip: widgets.Widget) -> list[str]:
    """Every piece of text a page shows from `widget` down, except inside `skip` (and tooltips)."""
    if widget is skip:
        return []
    out: list[str] = []
    if isinstance(widget, widgets.HTML | widgets.Label):
        out.append(widget.value)
    for name in ("description", "placeholder"):
        value = getattr(widget, name, None)
        if isinstance(value, str):
            out.append(value)
    out += [str(label) for label in getattr(widget, "_options_labels", ())]
    out += [str(t) for t in getattr(widget, "titles", ()) or ()]
    for output in getattr(widget, "outputs", ()) or ():  # a chart's figure, as the page gets it
        out.append(str(output.get("data", {})))
    for child in getattr(widget, "children", ()) or ():
        out += rendered_text(child, skip)
    return out


def jargon_in(panel: ForecastPanel) -> list[tuple[str, str]]:
    found = []
    for piece in rendered_text(panel.widget, panel.details):
        text = html.unescape(piece).lower()
        found += [(word, piece[:160]) for word in JARGON if word in text]
    return found


def test_the_page_speaks_a_stakeholders_words_outside_the_details(serial_runs, tmp_path):
    panel = pasted(tmp_path / "empty.duckdb")
    panel.risks.add_row()
    panel.deadline.value = (START + dt.timedelta(weeks=12)).isoformat()
    panel.s_curve.value = "10"
    run(panel)
    assert panel.result.percentile_error(95)["plus_minus"] is not None
    page = html.unescape(" ".join(rendered_text(panel.widget, panel.details)))
    for shown in ("85% likely by", "Items left", "Repeatable-run number", "Completion date"):
        assert shown in page, f"the walk over the page misses {shown!r}"
    assert "Sampling error" not in page, "the details' contents are not part of the page's text"
    assert jargon_in(panel) == []
    # the analyst's terms are one click away, in the details toggle
    details = html.unescape(panel.details_html.value)
    assert "XmR signals" in details and "Sampling error (95%)" in details
    assert panel.details.titles == ("Details for analysts",)

    panel.question.value = "how_many"
    run(panel)
    assert jargon_in(panel) == []

    panel.seed.value = "-1"  # an error names the field as the page labels it
    panel.s_curve.value = "x"
    panel.run_button.click()
    assert jargon_in(panel) == []
    assert "Repeatable-run number" in panel.seed.message.value


def test_the_sampling_error_is_one_line_not_a_column_of_zeros(serial_runs, tmp_path):
    panel = pasted(tmp_path / "empty.duckdb")
    panel.runs.value = 200_000
    run(panel)
    errors = [panel.result.percentile_error(level)["plus_minus"] for level in (50, 70, 85, 95)]
    assert errors == [0, 0, 0, 0], "enough runs that no date can move"
    assert "Sampling error" not in panel.summary.value
    assert "Each date above is exact to the week at 200,000 simulated futures" in (
        panel.summary.value
    )


def test_the_runs_section_gives_its_labels_room(tmp_path):
    panel = pasted(tmp_path / "empty.duckdb")
    for box in (panel.runs, panel.seed, panel.s_curve):
        assert box.style.description_width == "initial", box.description
    assert panel.seed.description == "Repeatable-run number"
    assert "same answer" in panel.seed.tooltip
    assert panel.force.layout.width == "auto"
