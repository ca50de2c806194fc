"""The forecast panel, headless: press Run, follow the Ray job, read the answer, cancel, save.

Button presses call the buttons' click handlers inside a running event loop
(as the kernel does), and the test awaits the panel's poll task to the end.
Expected numbers come from a local computation with the same inputs and seed:
`pipeline.calibrated_forecast` for the panel's default method, the local engine
(`flowray.simulate`) for plain bootstrap. The Ray job must equal it exactly.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import time

import pytest
from widget_helpers import PROJECT, START, demo_throughput, drive

from flowray import Scenario, how_many, pipeline, simulate
from flowray.core import backtest
from flowray.core.engine import Question
from flowray.text import long_date
from flowray.widgets import forecast_app
from flowray.widgets.forecast import PROGRESS_STEPS, ForecastPanel, parse_throughput

RUNS = 4000


def paste_panel(values: list[int], *, runs: int = RUNS, **options) -> ForecastPanel:
    panel = forecast_app(db_path=options.pop("db_path", None), today=START, **options)
    panel.source.value = "paste"
    panel.throughput.value = ", ".join(str(v) for v in values)
    panel.runs.value = runs
    panel.seed.value = 11
    return panel


def use_plain_bootstrap(panel: ForecastPanel, window: int = 0) -> None:
    """ "Choose the sampler and window": bootstrap on the last `window` values (0 = all), not calibrated."""
    panel.method_choice.value = "custom"
    panel.sampler.value = "bootstrap"
    panel.calibrate.value = False
    panel.window.value = window


def run_to_end(panel: ForecastPanel) -> None:
    async def press_run() -> None:
        panel.run_button.click()
        assert panel.busy and panel.run_button.disabled, "controls are disabled while the job runs"
        await panel.wait()

    drive(press_run)


def assert_controls_enabled(panel: ForecastPanel) -> None:
    assert not panel.busy
    assert not panel.run_button.disabled
    assert (
        not panel.throughput.disabled and not panel.backlog.disabled and not panel.deadline.disabled
    )
    assert panel.cancel_button.disabled


@pytest.fixture
def empty_db(tmp_path):
    return tmp_path / "empty.duckdb"


def test_parse_throughput_accepts_commas_spaces_and_lines():
    assert parse_throughput("5, 7 3\n0;2") == [5.0, 7.0, 3.0, 0.0, 2.0]


def test_run_shows_the_job_percentiles_with_dates_and_charts(ray_session, empty_db):
    history = demo_throughput(26)
    deadline = START + dt.timedelta(weeks=6)
    panel = paste_panel(history, db_path=empty_db)
    panel.backlog.value = 40
    panel.deadline.value = deadline
    assert panel.method_choice.value == "default", "flowray's chosen method is the default"

    run_to_end(panel)

    assert panel.running.state == "DONE", panel.status.value
    expected = pipeline.calibrated_forecast(
        Scenario(throughput=history, backlog=40, start=START, deadline=deadline),
        Question("when"),
        RUNS,
        11,
    )
    result = panel.result
    assert result.percentiles() == expected.percentiles()
    assert result.probability_by_deadline == expected.probability_by_deadline
    assert (result.counts == expected.counts).all()
    assert panel.running.method == pipeline.default_method()
    assert "Method:" in panel.method_text.value
    assert html.escape(expected.method_report.describe()) in panel.method_text.value
    p85_date = expected.date_at(85)
    assert f"85% likely by {long_date(p85_date)}" in panel.headline.value
    for level in (50, 70, 85, 95):
        assert long_date(expected.date_at(level)) in panel.summary.value
    assert "likely to finish by the deadline" in panel.deadline_text.value
    assert long_date(deadline) in panel.deadline_text.value
    # the histogram: one bar per completion week (dates), shares adding up to the runs done in time
    bars = panel.figure.data[0]
    assert bars.x[0] == (START + dt.timedelta(weeks=int(result.counts.nonzero()[0][0]))).isoformat()
    assert sum(bars.y) == pytest.approx(100.0 * (1 - expected.not_done_share), abs=0.01)
    line_dates = {shape["x0"] for shape in panel.figure.layout.shapes}
    assert p85_date.isoformat() in line_dates and deadline.isoformat() in line_dates
    assert panel.figure.layout.xaxis.title.text and panel.figure.layout.yaxis.title.text
    assert panel.figure.layout.xaxis2.title.text and panel.figure.layout.yaxis2.title.text
    # the burn-down fan starts at the backlog and its median reaches 0
    median = [t for t in panel.figure.data[1:] if t.name == "median"][0]
    assert median.y[0] == 40 and median.y[-1] == 0
    assert "worst simulated run" in panel.likelihoods.value
    assert panel.progress.value == panel.progress.max == PROGRESS_STEPS
    assert_controls_enabled(panel)
    assert not panel.save_button.disabled


def test_progress_and_partial_percentiles_update_while_the_job_runs(ray_session, empty_db):
    runs = 20 * 65_536  # 20 chunks
    panel = paste_panel(demo_throughput(26), runs=runs, db_path=empty_db, poll_seconds=0.02)
    panel.backlog.value = 2000
    seen: list[int] = []
    show = panel.show_progress

    def spy(progress):
        show(progress)
        seen.append(panel.progress.value)

    panel.show_progress = spy
    run_to_end(panel)

    assert panel.running.state == "DONE", panel.status.value
    assert seen == sorted(seen), "progress only moves forward"
    assert seen[-1] == PROGRESS_STEPS
    assert any(0 < value < PROGRESS_STEPS for value in seen), (
        f"no intermediate progress shown: {seen}"
    )
    assert panel.partial_updates >= 1
    assert "so far" not in panel.headline.value  # the final answer replaced the partial one


def test_cancel_stops_a_long_job(ray_session, empty_db):
    runs = 400 * 65_536  # minutes of work on two cores
    panel = paste_panel(demo_throughput(26), runs=runs, db_path=empty_db, poll_seconds=0.05)
    panel.backlog.value = 2000

    async def run_then_cancel() -> None:
        panel.run_button.click()
        deadline = time.monotonic() + 120
        while panel.running is None or panel.running.progress().runs_done == 0:
            assert time.monotonic() < deadline, "the job never started"
            assert not panel.task.done(), panel.status.value
            await asyncio.sleep(0.05)
        assert not panel.cancel_button.disabled, "Cancel is usable while the job runs"
        panel.cancel_button.click()
        await panel.wait()

    drive(run_then_cancel)

    progress = panel.running.progress()
    assert panel.running.state == "CANCELLED"
    assert progress.runs_done < progress.runs_total, "the job was cancelled, not finished"
    assert "Cancelled after" in panel.status.value
    assert panel.result is None and panel.save_button.disabled, "a cancelled run cannot be saved"
    assert_controls_enabled(panel)


@pytest.mark.parametrize(
    ("setup", "field"),
    [
        (lambda p: setattr(p.throughput, "value", "  "), "Throughput"),
        (lambda p: setattr(p.deadline, "value", START - dt.timedelta(days=3)), "Deadline"),
        (lambda p: setattr(p.throughput, "value", "4, 5, six, 7"), "Throughput (value 3)"),
        (lambda p: setattr(p.start, "value", None), "Start date"),
    ],
    ids=["empty-throughput", "deadline-before-start", "not-a-number", "no-start"],
)
def test_bad_input_names_the_field_and_keeps_run_off(setup, field, empty_db):
    panel = paste_panel(demo_throughput(26), db_path=empty_db)
    setup(panel)

    assert panel.run_button.disabled, "Run stays off while a field holds a problem"
    assert field in panel.problems_text.value
    panel.run_button.click()  # a click that still arrives is refused before any job starts

    assert f"Please check {field}" in panel.status.value
    assert "Traceback" not in panel.status.value
    assert panel.running is None and panel.task is None
    assert not panel.busy and panel.cancel_button.disabled
    assert not panel.throughput.disabled and not panel.backlog.disabled
    assert not panel.deadline.disabled


def test_short_history_is_refused_unless_forced(ray_session, empty_db):
    panel = paste_panel([4, 6, 5, 7, 3], db_path=empty_db)
    panel.run_button.click()
    assert "Forecast from short history anyway" in panel.status.value
    assert_controls_enabled(panel)

    panel.force.value = True
    run_to_end(panel)

    assert panel.running.state == "DONE", panel.status.value
    assert "Only 5 periods of history" in panel.warnings.value
    # no past forecast of 5 weeks has a known outcome: the pooled prior calibrates it, and the
    # view says so (before the prior, the default fell back to the raw sampling here)
    assert "the pooled prior carries this forecast" in panel.method_text.value
    assert "Calibration was not possible" not in panel.method_text.value
    assert panel.result.method_report.calibrated and panel.result.method_report.past_errors == 0


def test_a_failure_inside_the_background_task_is_shown_and_reenables(monkeypatch, empty_db):
    def broken(_request):
        raise RuntimeError("raylet went away")

    monkeypatch.setattr(pipeline, "start_forecast", broken)
    panel = paste_panel(demo_throughput(26), db_path=empty_db)

    run_to_end(panel)

    assert "Something went wrong" in panel.status.value and "raylet went away" in panel.status.value
    assert_controls_enabled(panel)


def test_how_many_mode_reads_the_conservative_answer(ray_session, empty_db):
    history = demo_throughput(26)
    until = START + dt.timedelta(weeks=10)
    panel = paste_panel(history, db_path=empty_db)
    panel.question.value = "how_many"
    panel.until.value = until

    run_to_end(panel)

    expected = pipeline.calibrated_forecast(
        Scenario(throughput=history, start=START), Question("how_many", 10), RUNS, 11
    )
    assert (panel.result.counts == expected.counts).all()
    assert panel.result.at_least(85) == expected.at_least(85)
    assert (
        f"85% likely: at least {expected.at_least(85)} items by {long_date(until)}"
        in panel.headline.value
    )
    assert panel.figure.layout.xaxis2.visible is False  # no burn-down without a backlog
    assert not any(trace.y for trace in panel.figure.data[1:])
    assert {shape["x0"] for shape in panel.figure.layout.shapes} == {
        expected.at_least(p) for p in (50, 70, 85, 95)
    }


def test_project_history_run_and_save_writes_a_ledger_row(ray_session, project_db):
    panel = forecast_app(db_path=project_db, today=START)
    assert panel.project.value == PROJECT
    assert panel.history_size.read() == 3
    assert panel.deadline.read() == START + dt.timedelta(weeks=20)
    assert "52 weeks of history" in panel.project_info.value
    panel.runs.value = RUNS
    panel.backlog.value = 50
    use_plain_bootstrap(panel, 26)
    panel.save_name.value = "widget test"

    run_to_end(panel)
    assert panel.running.state == "DONE", panel.status.value
    panel.save_button.click()

    ledger = pipeline.forecast_ledger(PROJECT, project_db)
    assert list(ledger["id"]) == [panel.saved_id]
    row = ledger.iloc[0]
    assert row["p85_date"] == panel.result.date_at(85)
    assert row["deadline"] == START + dt.timedelta(weeks=20)
    assert f"#{panel.saved_id}" in panel.status.value
    assert panel.save_button.disabled, "saved once; run again to save another"
    assert len(panel.result.scenario.throughput) == 26
    method = pipeline.open_store(project_db).get_forecast(panel.saved_id).result["method"]
    assert (method["name"], method["window"], method["calibrated"]) == ("bootstrap", 26, False)


def test_save_without_a_project_names_the_field(ray_session, empty_db):
    panel = paste_panel(demo_throughput(26), db_path=empty_db)
    run_to_end(panel)
    panel.save_button.click()
    assert "Please check Project" in panel.status.value
    assert not panel.save_button.disabled


def test_switching_the_question_hides_only_what_does_not_apply(empty_db):
    panel = paste_panel(demo_throughput(26), db_path=empty_db)
    visible = [
        panel.project,
        panel.start,
        panel.deadline,
        panel.method_choice,
        panel.runs,
        panel.focus,
        panel.history_size,
    ]
    assert all(w.layout.display != "none" for w in visible)
    assert panel.until.layout.display == "none"
    panel.question.value = "how_many"
    assert panel.until.layout.display != "none" and panel.start.layout.display != "none"
    assert panel.deadline.layout.display == "none" and panel.work_box.layout.display == "none"
    panel.question.value = "when"
    assert all(w.layout.display != "none" for w in visible)
    assert panel.figure.layout.xaxis2.visible is not False


def test_every_input_reaches_the_simulated_scenario(ray_session, empty_db):
    history = demo_throughput(30)
    deadline = START + dt.timedelta(weeks=16)
    panel = paste_panel(history, db_path=empty_db)
    use_plain_bootstrap(panel, 20)
    panel.period_days.value = 14
    panel.backlog.value = 40
    panel.backlog_is_range.value = True
    panel.backlog_high.value = 55
    panel.split_low.value, panel.split_high.value = 1.0, 1.5
    first = panel.risks.add_row(likelihood=30, low=2, mode=5, high=9)
    dropped = panel.risks.add_row(likelihood=90, low=50, mode=60, high=70)
    panel.risks.remove_row(dropped)
    assert panel.risks.rows == [first]
    panel.history_size.value = 4  # min and max follow while they equal the history size
    assert (panel.min_people.read(), panel.max_people.read()) == (4, 4)
    panel.min_people.value = 2
    panel.max_people.value = 5
    panel.s_curve.value = 20
    panel.focus.value = 80
    panel.deadline.value = deadline

    run_to_end(panel)

    assert panel.running.state == "DONE", panel.status.value
    scenario = Scenario(
        throughput=history[-20:],
        period_days=14,
        backlog=(40, 55),
        split_rate=(1.0, 1.5),
        risks=[(0.3, 2, 5, 9)],
        team={"history_size": 4, "min_contributors": 2, "max_contributors": 5, "s_curve": 20},
        focus=0.8,
        start=START,
        deadline=deadline,
    )
    assert panel.result.scenario == scenario
    expected = simulate(scenario, runs=RUNS, seed=11)
    assert panel.result.percentiles() == expected.percentiles()
    assert panel.result.probability_by_deadline == expected.probability_by_deadline
    assert (
        "2 weeks" not in panel.summary.value and "sprints" in panel.summary.value
    )  # 14-day periods


def test_risk_rows_are_added_and_removed_with_their_buttons(empty_db):
    panel = paste_panel(demo_throughput(26), db_path=empty_db)
    panel.risks.add_button.click()
    panel.risks.add_button.click()
    assert len(panel.risks.rows) == 2 and not panel.busy
    panel.risks.rows[0]["remove"].click()
    assert len(panel.risks.rows) == 1
    assert panel.risks.values() == [(0.2, 0, 5, 10)]  # the defaults of a new row
    assert (
        panel.risks.rows[0]["likelihood"] in panel.all_controls()
    )  # disabled with the rest while busy


def test_a_how_many_answer_is_saved_to_the_ledger(project_db):
    panel = forecast_app(db_path=project_db, today=START)
    panel.question.value = "how_many"
    history = [float(p.items) for p in pipeline.project_history(PROJECT, project_db)][-52:]
    panel.result = how_many(
        Scenario(throughput=history, start=START), periods=10, runs=RUNS, seed=2
    )
    panel.request = panel.build_request()

    panel.save_button.disabled = False
    panel.save_button.click()

    ledger = pipeline.forecast_ledger(PROJECT, project_db)
    assert list(ledger["kind"]) == ["how_many"] and list(ledger["id"]) == [panel.saved_id]
    assert ledger.iloc[0]["p85"] == panel.result.at_least(85)  # the conservative "at least" reading


# -- how to forecast: flowray's default, the plain model, or any sampler and window ----------------


def test_the_method_chooser_shows_what_each_choice_means_and_builds_its_method(empty_db):
    panel = paste_panel(demo_throughput(26), db_path=empty_db)
    assert panel.chosen_method() == pipeline.default_method()
    assert panel.custom_method_box.layout.display == "none"
    assert (
        f"last {backtest.DEFAULT_WINDOW} weeks" in panel.method_note.value
        and "calibration" in panel.method_note.value
    )
    panel.method_choice.value = "domain"
    assert panel.chosen_method() == pipeline.DOMAIN_MODEL
    assert "plain model" in panel.method_note.value
    assert panel.custom_method_box.layout.display == "none"
    panel.method_choice.value = "custom"
    assert (
        panel.custom_method_box.layout.display != "none" and panel.window.layout.display != "none"
    )
    assert panel.chosen_method() == pipeline.default_method(), (
        "the custom choice starts from the default"
    )
    panel.sampler.value, panel.calibrate.value, panel.window.value = "block", True, 0
    assert panel.chosen_method() == pipeline.ForecastMethod("block+cal", None)
    panel.calibrate.value, panel.window.value = False, 30
    assert panel.build_request().method == pipeline.ForecastMethod("block", 30)
    for control in (panel.method_choice, panel.sampler, panel.calibrate, panel.window):
        assert control in panel.all_controls(), "disabled with the rest while a job runs"


def test_plain_bootstrap_on_all_history_is_one_click_away(ray_session, empty_db):
    history = demo_throughput(40)
    panel = paste_panel(history, db_path=empty_db)
    panel.backlog.value = 45
    panel.method_choice.value = "domain"

    run_to_end(panel)

    assert panel.running.state == "DONE", panel.status.value
    expected = simulate(Scenario(throughput=history, backlog=45, start=START), runs=RUNS, seed=11)
    assert panel.result.percentiles() == expected.percentiles()
    assert panel.result.scenario.throughput == expected.scenario.throughput
    assert "Plain bootstrap on all 40 weeks of history (the plain model)" in panel.method_text.value
    assert "not calibrated" in panel.method_text.value


def test_a_saved_default_forecast_records_the_method_and_its_calibration(ray_session, project_db):
    panel = forecast_app(db_path=project_db, today=START)
    panel.runs.value = RUNS
    panel.backlog.value = 50

    run_to_end(panel)
    assert panel.running.state == "DONE", panel.status.value
    assert "this project&#x27;s own past forecast errors" in panel.method_text.value
    panel.save_button.click()

    record = pipeline.open_store(project_db).get_forecast(panel.saved_id)
    method = record.result["method"]
    assert method["name"] == backtest.DEFAULT_METHOD and method["window"] == backtest.DEFAULT_WINDOW
    assert method["calibrated"] == panel.result.method_report.calibrated
    assert method["history_periods"] == 52
    history = [float(p.items) for p in pipeline.project_history(PROJECT, project_db)]
    expected = pipeline.calibrated_forecast(
        Scenario(
            throughput=history,
            backlog=50,
            start=START,
            deadline=START + dt.timedelta(weeks=20),
            team={"history_size": 3, "min_contributors": 3, "max_contributors": 3, "s_curve": 0},
        ),
        Question("when"),
        RUNS,
        0,
    )
    assert record.percentiles[85] == expected.percentile(85)
