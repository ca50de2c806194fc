"""flowray.tables: backtest and deadline tables read the core's numbers, never recompute them."""

from __future__ import annotations

import numpy as np
import pytest

from flowray import Scenario, pipeline
from flowray.core import tables
from flowray.exceptions import InputError
from flowray.text import format_probability

METHODS = ["bootstrap", "bootstrap+cal", "block"]


@pytest.fixture(scope="module")
def backtest():
    rng = np.random.default_rng(5)
    series = {
        "steady": rng.poisson(6, 72).tolist(),
        "bursty": rng.negative_binomial(2, 0.25, 72).tolist(),
    }
    return pipeline.run_backtest(
        series, methods=METHODS, windows=[26], horizons=[6], step=6, runs=300, seed=2
    )


def test_coverage_frame_is_the_pooled_report(backtest):
    frame = tables.coverage_frame(backtest, METHODS, 26, 6)
    assert list(frame.index.get_level_values("method").unique()) == METHODS
    for method in METHODS:
        pooled = backtest.report(method, 26, 6)["pooled"]
        for question, label in tables.QUESTION_LABELS.items():
            row = frame.loc[(method, label)]
            block = pooled[question]
            assert [row[f"{lv}%"] for lv in tables.LEVELS] == [
                block["coverage"][lv] for lv in tables.LEVELS
            ]
            for key, name in (("ideal", "ideal"), ("PIT", "pit_coverage")):
                assert [row[f"{key} {lv}%"] for lv in tables.LEVELS] == [
                    block[name][lv] for lv in tables.LEVELS
                ]
            gaps = [abs(block["coverage"][lv] - int(lv) / 100) * 100 for lv in tables.LEVELS]
            assert row["calibration_gap"] == pytest.approx(sum(gaps) / 4)
            assert row["origins"] == block["origins"] > 0
            assert row["crps"] == block["crps"]


def test_ranking_is_sorted_by_calibration_error(backtest):
    ranking = tables.ranking_frame(backtest, METHODS, 26, 6)
    assert sorted(ranking["method"]) == sorted(METHODS)
    assert ranking["calibration_error"].is_monotonic_increasing


def test_pit_frame_is_a_histogram_of_the_pits(backtest):
    pit = tables.pit_frame(backtest, METHODS, 26, "when", 6, bins=5)
    assert len(pit) == 5 * len(METHODS)
    for method, rows in pit.groupby("method"):
        values = backtest.pits(method, 26, "when", 6)
        assert rows["share"].sum() == pytest.approx(1.0)
        assert (rows["origins"] == len(values)).all()
        expected, _ = np.histogram(values, bins=np.linspace(0, 1, 6))
        assert np.allclose(rows["share"].to_numpy(), expected / len(values))
    with pytest.raises(InputError, match="question"):
        tables.pit_frame(backtest, METHODS, 26, "why", 6)


def test_deadline_frame_shows_both_answers_in_words():
    history = [5, 6, 0, 7, 4, 8, 3, 6, 5, 4, 7, 2, 6, 5, 8, 4, 3, 6, 7, 5]
    scenario = Scenario(throughput=history, backlog=40, start="2026-01-05", deadline="2026-03-02")
    comparison = pipeline.run_deadline_comparison(scenario, runs=2000, seed=1, n_paths=200)
    frame = tables.deadline_frame(comparison)
    assert list(frame.columns) == ["Monte Carlo", "ML (gbm)"]
    mc = comparison.mc
    p85 = mc.percentile(85)
    assert frame.loc["85% done within", "Monte Carlo"].startswith(
        f"{p85} periods ({scenario.date_of(p85).isoformat()})"
    )
    assert frame.loc["P(done by the deadline)", "Monte Carlo"] == format_probability(
        mc.probability_by_deadline
    )
    assert (
        frame.loc["85% likely done by the deadline", "ML (gbm)"]
        == f"at least {comparison.ml.items_by_deadline(85)} items"
    )


def test_deadline_frame_without_ml_has_one_column():
    scenario = Scenario(
        throughput=[5, 6, 0, 7, 4, 8, 3, 6], backlog=30, start="2026-01-05", deadline="2026-03-02"
    )
    comparison = pipeline.run_deadline_comparison(scenario, runs=1000, seed=1, n_paths=100)
    assert comparison.ml is None
    assert list(tables.deadline_frame(comparison).columns) == ["Monte Carlo"]
