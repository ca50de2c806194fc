"""Forecast methods in the pipeline: flowray's default (calibrated) for the product, the DOMAIN.md model for the CLI.

Expected numbers always come from a local computation with the same inputs and
seed (`calibrated_forecast`, `method_forecast`, `run_local`), never from
hard-coded values: the engine kernel may change, its statistics may not.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time

import numpy as np
import pytest

from flowray import jobs, pipeline
from flowray.core import backtest
from flowray.core.engine import Question
from flowray.core.forecast import run_local
from flowray.core.scenario import Scenario
from flowray.data import load_demo_series
from flowray.exceptions import InputError, JobCancelled

RUNS = 4000
SEED = 5


def history(weeks: int = 80) -> list[float]:
    return [float(v) for _, v in load_demo_series("pytest-dev/pytest")][-weeks:]


def same_answer(a, b) -> None:
    """Two results are the same forecast: same histogram of the answer, same runs."""
    assert type(a) is type(b)
    assert a.runs == b.runs
    assert np.array_equal(np.asarray(a.counts), np.asarray(b.counts))
    assert a.scenario == b.scenario


# -- choosing a method -----------------------------------------------------------------------


def test_default_is_the_backtests_choice_and_other_names_default_to_all_history():
    assert pipeline.resolve_method() == pipeline.ForecastMethod(
        backtest.DEFAULT_METHOD, backtest.DEFAULT_WINDOW
    )
    assert pipeline.resolve_method("default").is_default
    assert pipeline.resolve_method("default", "all") == pipeline.ForecastMethod(
        backtest.DEFAULT_METHOD, None
    )
    assert pipeline.resolve_method("default", 26).window == 26
    assert pipeline.resolve_method("bootstrap") == pipeline.DOMAIN_MODEL
    assert pipeline.resolve_method("block+cal", "52") == pipeline.ForecastMethod("block+cal", 52)
    assert pipeline.resolve_method(" recency ").name == "recency"


@pytest.mark.parametrize(
    ("name", "window", "field", "needle"),
    [
        ("magic", None, "method", "'default' or one of bootstrap"),
        ("recency+cal+cal", None, "method", "optionally with +cal"),
        ("gbm", None, "method", "flowray deadline --method ml"),
        (3, None, "method", "must be"),
        ("default", "0", "window", ">= 1, or 'all'"),
        ("bootstrap", "twelve", "window", ">= 1, or 'all'"),
        ("bootstrap", -4, "window", ">= 1"),
    ],
)
def test_bad_methods_and_windows_name_the_field(name, window, field, needle):
    with pytest.raises(InputError) as caught:
        if window is None:
            pipeline.resolve_method(name)
        else:
            pipeline.resolve_method(name, window)
    assert caught.value.field == field and needle in str(caught.value)


# -- local forecasts ---------------------------------------------------------------------------


def test_a_request_without_a_method_is_the_domain_model_as_before():
    values = history(60)
    request = pipeline.ForecastRequest(
        throughput=values, window=26, fields={"backlog": 40}, runs=RUNS, seed=SEED
    )
    outcome = pipeline.run_forecast(request)
    expected = run_local(
        Scenario(throughput=values[-26:], backlog=40), Question("when"), RUNS, SEED
    )
    same_answer(outcome.result, expected)
    report = outcome.result.method_report
    assert report.method == pipeline.ForecastMethod("bootstrap", 26) and not report.calibrated
    assert "not calibrated" in report.describe()
    whole = pipeline.run_forecast(
        pipeline.ForecastRequest(throughput=values, fields={"backlog": 40}, runs=RUNS)
    )
    assert whole.result.method_report.method.is_domain_model
    assert "the plain model" in whole.result.method_report.describe()


@pytest.mark.parametrize("kind", ["when", "how_many"])
def test_the_default_method_request_equals_calibrated_forecast(kind):
    values = history(90)
    request = pipeline.ForecastRequest(
        kind=kind,
        throughput=values,
        fields={"backlog": 50},
        runs=RUNS,
        seed=SEED,
        periods=8,
        method="default",
    )
    outcome = pipeline.run_forecast(request)
    question = Question("how_many", 8) if kind == "how_many" else Question("when")
    full = Scenario(throughput=values, backlog=50)
    expected = pipeline.calibrated_forecast(full, question, RUNS, SEED)
    same_answer(outcome.result, expected)
    assert len(outcome.scenario.throughput) == backtest.DEFAULT_WINDOW
    assert outcome.scenario.sampler == backtest.DEFAULT_BASE_METHOD
    report = outcome.result.method_report
    assert report.calibrated and report.past_errors >= 12 and report.history_periods == 90
    words = report.describe()
    # the default method's map blends its own errors with the pooled prior, and says both
    assert (
        f"last {backtest.DEFAULT_WINDOW} weeks" in words
        and "calibrated on this history's own past forecast errors" in words
        and f"({report.past_errors} past forecasts with a known outcome" in words
        and "and on the pooled prior of" in words
    )
    # the calibration did something: the answer differs from the raw simulation of the same window
    raw = run_local(full.replace(throughput=values[-12:], sampler="recency"), question, RUNS, SEED)
    assert not np.array_equal(np.asarray(raw.counts), np.asarray(outcome.result.counts))


def test_a_method_overrides_the_fields_sampler_and_a_named_method_sees_all_history():
    values = history(70)
    request = pipeline.ForecastRequest(
        throughput=values,
        fields={"backlog": 30, "sampler": "weibull"},
        runs=RUNS,
        seed=SEED,
        method="block",
    )
    outcome = pipeline.run_forecast(request)
    assert outcome.scenario.sampler == "block" and len(outcome.scenario.throughput) == 70
    same_answer(
        outcome.result,
        run_local(
            Scenario(throughput=values, backlog=30, sampler="block"), Question("when"), RUNS, SEED
        ),
    )


def test_too_little_history_for_calibration_falls_back_and_says_so():
    """A '+cal' method the pooled prior does not cover still needs 12 of its own past errors."""
    values = history(25)  # 8 + 12 - 1 + H weeks are needed for 12 past errors at horizon H
    request = pipeline.ForecastRequest(
        kind="how_many",
        throughput=values,
        periods=10,
        runs=RUNS,
        seed=SEED,
        method="block+cal",
        window=12,
    )
    result = pipeline.run_forecast(request).result
    report = result.method_report
    assert report.method.calibrated and not report.calibrated and report.past_errors < 12
    words = report.describe()
    assert (
        "Calibration was not possible" in words
        and "Fell back to the same sampling without calibration" in words
    )
    assert f"only {report.past_errors} past forecasts" in words and "needs 12" in words
    raw = run_local(
        Scenario(throughput=values[-12:], sampler="block"), Question("how_many", 10), RUNS, SEED
    )
    same_answer(result, raw)  # the fallback is exactly the uncalibrated sampling it names


def test_a_young_history_gets_the_default_calibrated_by_the_pooled_prior():
    """The default method no longer falls back: the prior carries what its own errors cannot."""
    values = history(25)
    request = pipeline.ForecastRequest(
        kind="how_many", throughput=values, periods=10, runs=RUNS, seed=SEED, method="default"
    )
    result = pipeline.run_forecast(request).result
    report = result.method_report
    assert report.calibrated and report.uses_prior and report.past_errors == 25 - 10 - 8 + 1
    assert "and on the pooled prior of" in report.describe()
    # the job on the serial engine (chunks, then the calibration task) equals the local forecast
    expected = pipeline.calibrated_forecast(
        Scenario(throughput=values), Question("how_many", 10), RUNS, SEED
    )
    same_answer(result, expected)
    raw = run_local(
        Scenario(throughput=values[-12:], sampler="recency"), Question("how_many", 10), RUNS, SEED
    )
    assert not np.array_equal(np.asarray(raw.counts), np.asarray(result.counts))


def test_a_saved_forecast_records_its_method_and_window(tmp_path):
    db = tmp_path / "ledger.duckdb"
    store = pipeline.open_store(db)
    start = dt.date(2025, 1, 6)
    store.add_project("Alpha", team_size=2)
    store.set_throughput(
        "Alpha", [(start + dt.timedelta(weeks=i), int(v)) for i, v in enumerate(history(60))]
    )
    request = pipeline.ForecastRequest(
        project="Alpha",
        fields={"backlog": 40},
        runs=RUNS,
        seed=SEED,
        method="default",
        save=True,
        db_path=db,
    )
    outcome = pipeline.run_forecast(request)
    record = store.get_forecast(outcome.forecast_id)
    method = record.result["method"]
    assert method["name"] == backtest.DEFAULT_METHOD and method["window"] == backtest.DEFAULT_WINDOW
    assert (
        method["calibrated"]
        and method["calibration"]["past_errors"] == outcome.result.method_report.past_errors
    )
    assert method["history_periods"] == 60 and method["is_default"]
    assert "this project's own past forecast errors" in method["description"]
    assert record.data_periods == backtest.DEFAULT_WINDOW
    assert Scenario.from_dict(record.inputs).sampler == "recency"  # inputs stay a valid scenario
    plain = pipeline.run_forecast(
        pipeline.ForecastRequest(
            project="Alpha", fields={"backlog": 40}, runs=RUNS, save=True, db_path=db
        )
    )
    assert store.get_forecast(plain.forecast_id).result["method"]["window"] == "all"
    # the ledger listing says how each forecast was made
    ledger = pipeline.forecast_ledger("Alpha", db)
    assert list(ledger["method"]) == [pipeline.default_method().label(), "bootstrap, window all"]


def test_batch_reforecasts_with_the_default_method_unless_told_otherwise(tmp_path, demo_template):
    db = tmp_path / "demo.duckdb"
    shutil.copyfile(demo_template, db)  # the session's one seeded demo ledger
    report = pipeline.run_batch(db, project_filter="Pytest", runs=2000, seed=1)
    assert list(report.summary["method"]) == [pipeline.default_method().label()]
    fid = int(report.summary["forecast_id"].iloc[0])
    record = pipeline.open_store(db).get_forecast(fid)
    assert record.result["method"]["name"] == backtest.DEFAULT_METHOD
    plain = pipeline.run_batch(
        db, project_filter="Pytest", runs=2000, seed=1, method="bootstrap", window=52
    )
    assert list(plain.summary["method"]) == ["bootstrap, window 52"]
    with pytest.raises(InputError, match="method"):
        pipeline.run_batch(db, project_filter="Pytest", runs=2000, method="nope")


# -- as a Ray job ------------------------------------------------------------------------------


@pytest.mark.parametrize("weeks", [120, 10])  # 10: a young history, calibrated by the pooled prior
@pytest.mark.parametrize("kind", ["when", "how_many"])
def test_the_ray_job_equals_the_local_calibrated_forecast(ray_session, kind, weeks):
    values = history(weeks)
    deadline = dt.date(2026, 6, 1)
    request = pipeline.ForecastRequest(
        kind=kind,
        throughput=values,
        runs=3 * 65_536,
        seed=SEED,
        periods=10,
        fields={"backlog": 60, "start": dt.date(2026, 3, 2), "deadline": deadline}
        if kind == "when"
        else {"start": dt.date(2026, 3, 2)},
        method="default",
    )
    running = pipeline.start_forecast(request)
    assert running.method == pipeline.default_method()
    result = running.result(timeout=300)
    question = Question("how_many", 10) if kind == "how_many" else Question("when")
    full = Scenario(throughput=values, **request.fields)
    expected = pipeline.calibrated_forecast(full, question, request.runs, SEED)
    same_answer(result, expected)
    if kind == "when":
        assert result.probability_by_deadline == expected.probability_by_deadline
    assert result.method_report.to_dict() == expected.method_report.to_dict()
    progress = running.progress()
    assert str(progress.state) == "DONE" and progress.stage == "done"
    assert progress.fraction == 1.0 and progress.calibration_done
    assert progress.runs_done == progress.runs_total == request.runs
    assert running.job.calibration_job is not None
    assert running.partial() is result
    assert running.cancel() is False  # finished: nothing to cancel


def test_an_uncalibrated_method_on_ray_is_one_job_equal_to_local(ray_session):
    values = history(40)
    request = pipeline.ForecastRequest(
        throughput=values, fields={"backlog": 30}, runs=RUNS, seed=SEED, engine="ray"
    )
    outcome = pipeline.run_forecast(request)
    same_answer(
        outcome.result,
        run_local(Scenario(throughput=values, backlog=30), Question("when"), RUNS, SEED),
    )
    running = pipeline.start_forecast(request)
    running.result(timeout=300)
    assert running.job.calibration_job is None and running.progress().fraction == 1.0


def test_partials_are_the_raw_simulation_marked_pending_and_cancel_stops_both_steps(ray_session):
    values = history(120)
    request = pipeline.ForecastRequest(
        throughput=values, fields={"backlog": 3000}, runs=400 * 65_536, seed=SEED, method="default"
    )
    running = pipeline.start_forecast(request)
    deadline = time.monotonic() + 120
    partial = None
    while partial is None:
        assert time.monotonic() < deadline, "no partial result within 120 s"
        partial = running.partial()
        time.sleep(0.05)
    assert partial.method_report.pending
    assert "applied when all runs are done" in partial.method_report.describe()
    progress = running.progress()
    assert progress.stage == "simulating" and 0 < progress.fraction < 1 - jobs.CALIBRATION_SHARE
    assert running.cancel() is True
    assert str(running.state) == "CANCELLED"
    assert running.job.calibration_job is None, "a cancelled 'when' never starts its calibration"
    with pytest.raises(JobCancelled):
        running.result(timeout=30)
