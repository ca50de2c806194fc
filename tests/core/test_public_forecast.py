"""`flowray.forecast`: the function the README leads with makes the forecast the pages make."""

from __future__ import annotations

import numpy as np

import flowray
from flowray import Scenario, forecast, how_many, simulate
from flowray.core import backtest
from flowray.core.engine import Question
from flowray.core.methods import calibrated_forecast

HISTORY = [5, 6, 0, 7, 4, 8, 3, 6, 5, 7, 4, 6, 5, 8, 2, 6, 7, 5, 4, 6] * 3


def test_forecast_is_flowrays_calibrated_default():
    scenario = Scenario(throughput=HISTORY, backlog=60, start="2026-12-07")
    result = forecast(scenario, runs=20_000, seed=3)
    expected = calibrated_forecast(scenario, Question("when"), 20_000, 3)
    assert result.percentiles() == expected.percentiles()
    assert np.array_equal(result.counts, expected.counts)
    assert result.method_report is not None
    assert result.method_report.method.name == backtest.DEFAULT_METHOD


def test_the_plain_model_is_one_argument_away_and_equals_simulate():
    scenario = Scenario(throughput=HISTORY, backlog=60)
    plain = forecast(scenario, runs=20_000, seed=3, method="bootstrap", window="all")
    assert np.array_equal(plain.counts, simulate(scenario, runs=20_000, seed=3).counts)


def test_periods_ask_how_many():
    scenario = Scenario(throughput=HISTORY)
    result = forecast(scenario, periods=8, runs=20_000, seed=3, method="bootstrap", window="all")
    assert (
        result.at_least_table()
        == how_many(scenario, periods=8, runs=20_000, seed=3).at_least_table()
    )


def test_forecast_is_public():
    assert "forecast" in flowray.__all__ and flowray.forecast is forecast
