"""The ML deadline analysis: same kernel and result object as Monte Carlo, consensus note, guards, Ray = local."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from flowray.core import ml_deadline
from flowray.core.engine import Question
from flowray.core.forecast import run_local
from flowray.core.results import ForecastResult
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError, NotEnoughData

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "throughput" / "psf__black.csv"
START, DEADLINE = dt.date(2026, 1, 5), dt.date(2026, 3, 2)


def _history(periods: int = 60) -> list[float]:
    with FIXTURE.open(newline="") as handle:
        return [float(row["throughput"]) for row in csv.DictReader(handle)][-periods:]


def _scenario(history=None, backlog=40) -> Scenario:
    return Scenario(
        throughput=history or _history(), backlog=backlog, start=START, deadline=DEADLINE
    )


def test_ml_answer_is_a_forecast_result_with_a_deadline_probability():
    result = ml_deadline.run_ml(_scenario(), runs=4000, seed=1, method="forest", n_paths=300)
    assert isinstance(result, ForecastResult)
    assert 0.0 <= result.probability_by_deadline <= 1.0
    assert result.runs == 4000
    # when and items by the deadline never contradict: met at 85% iff 85% have all items done
    assert result.deadline_met_at(85) == (result.items_by_deadline(85) >= 40)


def test_ml_paths_go_through_the_same_kernel():
    scenario = _scenario()
    table = ml_deadline.ml_sampler(scenario, "linear", seed=2, n_paths=200)
    assert table.values.shape == (ml_deadline.path_periods(scenario), 200)
    direct = run_local(scenario, Question("when"), 3000, 2, sampler=table)
    via = ml_deadline.run_ml(scenario, runs=3000, seed=2, method="linear", n_paths=200)
    assert np.array_equal(direct.counts, via.counts)


def test_path_periods_cover_the_deadline_and_the_backlog():
    scenario = _scenario(backlog=400)
    mean = np.mean(scenario.throughput)
    assert ml_deadline.path_periods(scenario) >= min(156, int(1.5 * 400 / mean))
    assert ml_deadline.path_periods(_scenario(backlog=1)) >= scenario.periods_to_deadline


def test_both_methods_side_by_side_with_a_consensus_note():
    comparison = ml_deadline.compare(
        _scenario(), "both", runs=4000, seed=0, ml_method="forest", n_paths=300
    )
    assert comparison.mc is not None and comparison.ml is not None
    data = comparison.to_dict()
    assert data["consensus"].startswith("ML and Monte Carlo")
    for side in ("mc", "ml"):
        assert set(data[side]["percentiles"]) == {"50", "70", "85", "95"}
        assert set(data[side]["percentile_error"]) == {"50", "70", "85", "95"}
        assert data[side]["probability_by_deadline_text"].endswith("%")


def test_disagreement_is_detected_and_explained():
    slow = run_local(_scenario([1.0, 2.0, 1.0, 2.0] * 5), Question("when"), 4000, 0)
    fast = run_local(_scenario([6.0, 8.0, 7.0, 9.0] * 5), Question("when"), 4000, 0)
    comparison = ml_deadline.DeadlineComparison(_scenario(), slow, fast, "gbm")
    assert comparison.agree is False
    note = comparison.consensus()
    assert "disagree" in note and "85% completion" in note and "P(done by the deadline)" in note
    same = ml_deadline.DeadlineComparison(_scenario(), slow, slow, "gbm")
    assert same.agree is True and "agree" in same.consensus()


def test_certainty_is_never_shown_as_100_percent():
    sure = _scenario([20.0, 25.0, 30.0] * 7, backlog=10)
    data = ml_deadline.compare(sure, "mc", runs=2000).to_dict()
    assert data["mc"]["probability_by_deadline"] == 1.0
    assert data["mc"]["probability_by_deadline_text"] == ">99%"


def test_ml_refuses_short_history_and_both_falls_back_to_monte_carlo():
    short = _scenario(_history(12))
    with pytest.raises(NotEnoughData, match="Monte Carlo"):
        ml_deadline.compare(short, "ml", runs=1000)
    comparison = ml_deadline.compare(short, "both", runs=1000)
    assert comparison.ml is None and comparison.mc is not None
    assert comparison.agree is None and "ML not used" in comparison.notes[0]
    with pytest.raises(InputError, match="method"):
        ml_deadline.compare(short, "prophet")


def test_ray_deadline_job_equals_local(ray_session):
    from flowray import pipeline

    scenario = _scenario()
    local = ml_deadline.compare(
        scenario, "both", runs=5000, seed=3, ml_method="forest", n_paths=300
    )
    job = pipeline.submit_deadline_comparison(
        scenario, "both", runs=5000, seed=3, ml_method="forest", n_paths=300
    )
    remote = job.result(timeout=300)
    assert job.progress().fraction == 1.0
    assert np.array_equal(local.mc.counts, remote.mc.counts)
    assert np.array_equal(local.ml.counts, remote.ml.counts)
    assert local.to_dict() == remote.to_dict()
