"""Backtests: window arithmetic, observed completion, no leakage (forecasts and calibration), scores, Ray = local."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowray.core import backtest, backtest_report, calibration, live_calibration, metrics
from flowray.exceptions import InputError, NotEnoughData

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "throughput"


def _series(name: str = "psf__black", periods: int = 110) -> np.ndarray:
    with (FIXTURES / f"{name}.csv").open(newline="") as handle:
        values = [float(row["throughput"]) for row in csv.DictReader(handle)]
    return np.array(values[-periods:])


# --------------------------------------------------------------------------- arithmetic


def test_window_history_sees_only_periods_before_the_origin():
    values = np.arange(20, dtype=float)
    assert backtest.window_history(values, 10, 4).tolist() == [6, 7, 8, 9]
    assert backtest.window_history(values, 3, 4).tolist() == [0, 1, 2]
    assert backtest.window_history(values, 10, None).tolist() == list(range(10))
    with pytest.raises(InputError):
        backtest.window_history(values, 0, 4)


@pytest.mark.parametrize(
    ("future", "backlog", "expected"),
    [
        ([3, 0, 2, 4], 9, 4),  # reached in the last period
        ([3, 0, 2, 0], 5, 3),  # trailing empty period: done in period 3
        ([2, 3, 0, 0], 5, 2),
        ([0, 0, 0, 0], 0, 0),  # nothing to do takes no period (as in the engine)
        ([5, 1], 0, 0),
        ([1, 1], 5, -1),  # never reached
    ],
)
def test_completion_period_convention(future, backlog, expected):
    assert backtest.completion_period(future, backlog) == expected


def test_actual_outcome_uses_the_observed_future():
    values = np.array([9, 9, 9, 3, 0, 2, 0, 7], dtype=float)
    assert backtest.actual_outcome(values, 3, 4) == (5, 3)
    assert backtest.actual_outcome(values, 6, 2) == (7, 2)
    with pytest.raises(InputError):
        backtest.actual_outcome(values, 6, 3)


def test_scored_and_learning_origins():
    origins, scored = backtest.learning_origins(100, 8, "bootstrap", 52, 4)
    assert origins[0] == 8 and origins[-1] == 92  # every origin for Monte Carlo
    assert origins[scored].tolist() == list(range(52, 93, 4))
    ml_origins, ml_scored = backtest.learning_origins(100, 8, "gbm", 52, 4)
    assert ml_origins.tolist() == list(range(16, 93, 4))  # ML: the scored grid, extended back
    assert ml_origins[ml_scored][0] == 52


def test_method_names():
    assert backtest.parse_method("block+cal") == ("block", True)
    assert backtest.parse_method("gbm") == ("gbm", False)
    assert backtest.parse_method(backtest.DEFAULT_METHOD)[0] in backtest.MC_METHODS
    with pytest.raises(InputError, match="method"):
        backtest.parse_method("prophet")
    assert backtest.parse_window("all") is None and backtest.parse_window("26") == 26
    with pytest.raises(InputError, match="window"):
        backtest.parse_window("0")


# --------------------------------------------------------------------------- no leakage


@pytest.mark.parametrize("base", ["bootstrap", "block", "recency", "weibull", "forest"])
def test_perturbing_the_future_never_changes_earlier_forecasts(base):
    values = _series()
    cut = 80
    changed = values.copy()
    changed[cut:] = changed[cut:] * 3 + 5
    for origin in (40, 60, cut):
        a = backtest.forecast_origin(
            values,
            origin,
            base,
            26,
            (4, 8),
            runs=300,
            seed=3,
            backlogs={4: 10, 8: 20},
            ml_paths=200,
        )
        b = backtest.forecast_origin(
            changed,
            origin,
            base,
            26,
            (4, 8),
            runs=300,
            seed=3,
            backlogs={4: 10, 8: 20},
            ml_paths=200,
        )
        for key in a.hists:
            assert np.array_equal(a.hists[key][0], b.hists[key][0]), (base, origin, key)
            assert np.array_equal(a.hists[key][1], b.hists[key][1]), (base, origin, key)
    # and the forecast does react once the change is in its window (the test can fail)
    late = backtest.forecast_origin(
        values, cut + 20, base, 26, (4,), runs=300, seed=3, ml_paths=200
    )
    late_changed = backtest.forecast_origin(
        changed, cut + 20, base, 26, (4,), runs=300, seed=3, ml_paths=200
    )
    assert not np.array_equal(
        late.hists[("how_many", 4)][0], late_changed.hists[("how_many", 4)][0]
    )


def _how_many_forecast_view(result: backtest.SeriesBacktest, h: int) -> dict[int, tuple]:
    """What the calibrated how-many forecast said at each origin (its own probabilities of each level)."""
    scores = result.scores(True, "how_many", h)
    return {
        int(o): tuple(np.round(row, 12))
        for o, row in zip(scores.origins, scores.ideal, strict=True)
    }


def test_calibration_learns_only_from_outcomes_known_at_the_origin():
    values = _series(periods=140)
    h, cut = 8, 110
    changed = values.copy()
    changed[cut:] = changed[cut:] * 4 + 9  # a different future from period `cut` on
    options = {"horizons": (h,), "step": 2, "runs": 400, "seed": 5, "first_origin": 52}
    a = backtest.backtest_series("a", values, "bootstrap", 26, **options)
    b = backtest.backtest_series("b", changed, "bootstrap", 26, **options)
    view_a, view_b = _how_many_forecast_view(a, h), _how_many_forecast_view(b, h)
    # every calibrated forecast made at or before the cut is identical ...
    early = [o for o in view_a if o <= cut]
    assert early and all(view_a[o] == view_b[o] for o in early)
    # ... although the errors of forecasts made before the cut (outcomes after it) differ,
    # and later calibrated forecasts, which may use them, do change.
    later = [o for o in view_a if o > cut]
    assert any(view_a[o] != view_b[o] for o in later)


def test_calibration_at_each_origin_uses_exactly_the_resolved_forecasts(monkeypatch):
    seen: dict[int, int] = {}
    real_usable = calibration.usable_pits

    def spy(origins, pits, horizon, origin):
        usable = real_usable(origins, pits, horizon, origin)
        seen.setdefault(origin, usable.size)
        assert all(
            s + horizon <= origin
            for s in np.asarray(origins)[np.asarray(origins) + horizon <= origin]
        )
        return usable

    monkeypatch.setattr(calibration, "usable_pits", spy)
    h = 4
    backtest.backtest_series(
        "s", _series(periods=90), "bootstrap", 12, horizons=(h,), step=5, runs=200, first_origin=52
    )
    # learning origins are 8, 9, ...: at origin t the forecasts made at 8 .. t - h are resolved
    assert seen and all(count == origin - h - 8 + 1 for origin, count in seen.items())


# --------------------------------------------------------------------------- scores


def test_scores_are_the_metrics_of_the_forecast_histograms():
    values = _series(periods=80)
    h, origin = 8, 60
    result = backtest.backtest_series(
        "s", values, "block", 26, horizons=(h,), step=100, runs=500, seed=2, first_origin=origin
    )
    items, periods = backtest.actual_outcome(values, origin, h)
    forecast = backtest.forecast_origin(
        values, origin, "block", 26, (h,), 500, 2, backlogs={h: items}
    )
    for question, actual in (("how_many", items), ("when", periods)):
        hv, hc = forecast.hists[(question, h)]
        scores = result.scores(False, question, h)
        assert scores.origins.tolist() == [origin]
        assert scores.crps[0] == pytest.approx(metrics.crps_histogram(hv, hc, actual))
        assert scores.median_abs_error[0] == pytest.approx(metrics.median_abs_error(hv, hc, actual))
        met = metrics.how_many_met if question == "how_many" else metrics.when_met
        assert scores.hits[0].tolist() == met(hv, hc, actual, backtest.LEVELS).tolist()
        block = scores.block(question)
        assert set(block) == {
            "coverage",
            "ideal",
            "pit_coverage",
            "crps",
            "pinball",
            "median_abs_error",
            "origins",
        }
        assert block["origins"] == 1
        assert list(block["ideal"].values()) == pytest.approx(scores.ideal[0].tolist())


def test_a_calibrated_forecast_is_met_about_as_often_as_it_says():
    # an iid series (no regime): over ~440 overlapping origins coverage stays within
    # sampling error (about 0.04) of what the forecasts themselves promise
    rng = np.random.default_rng(0)
    values = rng.poisson(rng.choice([3.0, 9.0], size=500)).astype(float)
    result = backtest.backtest_series(
        "p", values, "bootstrap", 52, horizons=(4,), step=1, runs=1000, first_origin=60
    )
    for calibrated in (False, True):
        scores = result.scores(calibrated, "how_many", 4)
        assert np.all(np.abs(scores.hits.mean(axis=0) - scores.ideal.mean(axis=0)) < 0.1)


def test_backtests_are_deterministic_given_the_seed():
    values = _series(periods=90)
    options = {"horizons": (4, 8), "step": 8, "runs": 300, "seed": 11}
    a = backtest.backtest_series("s", values, "recency", 26, **options)
    b = backtest.backtest_series("s", values, "recency", 26, **options)
    for key in a.raw:
        assert np.array_equal(a.raw[key].pit, b.raw[key].pit)
        assert np.array_equal(a.calibrated[key].crps, b.calibrated[key].crps)


def test_report_has_the_issue_shape_and_pools_by_origins():
    results = {}
    for name in ("psf__black", "fastapi__fastapi"):
        results[(name, "bootstrap", 26)] = backtest.backtest_series(
            name, _series(name, 100), "bootstrap", 26, horizons=(8,), step=8, runs=300
        )
    report = backtest_report.Backtest(results, (8,), 8, 300, 0, 52).report("bootstrap+cal", 26, 8)
    assert {"method", "window", "horizon", "pooled", "series"} <= set(report)
    assert report["method"] == "bootstrap+cal" and report["window"] == 26 and report["horizon"] == 8
    assert [row["name"] for row in report["series"]] == ["fastapi__fastapi", "psf__black"]
    for question in ("how_many", "when"):
        block = report["pooled"][question]
        assert set(block["coverage"]) == {"50", "70", "85", "95"}
        assert block["origins"] == sum(row[question]["origins"] for row in report["series"])
        mean = np.mean([row[question]["crps"] for row in report["series"]])
        assert block["crps"] == pytest.approx(mean)  # equal origins per series here


# --------------------------------------------------------------------------- ML guard


def test_ml_refuses_short_windows():
    values = _series(periods=60)
    with pytest.raises(NotEnoughData, match="Monte Carlo"):
        backtest.forecast_origin(values, 12, "gbm", None, (4,), runs=100)
    skipped = backtest.backtest_series("s", values, "linear", 12, horizons=(4,), step=4, runs=100)
    assert skipped.skipped and "16" in skipped.skipped
    assert skipped.scores(False, "how_many", 4).origins.size == 0


# --------------------------------------------------------------------------- live calibration


def test_live_calibration_equals_the_backtest_map_at_the_last_origin():
    values = _series(periods=90)
    h = 4
    cmap = live_calibration.live_calibration(
        values, "how_many", h, "bootstrap", 26, runs=300, seed=1
    )
    assert cmap.n_errors == values.size - h - 8 + 1  # every resolved origin from the 8th period on
    assert cmap.active
    # the backtest's calibrated forecast at an origin = the live forecast from the history before it
    result = backtest.backtest_series(
        "s", values, "bootstrap", 26, horizons=(h,), step=1, runs=300, seed=1, first_origin=60
    )
    live = live_calibration.live_calibration(
        values[:60], "how_many", h, "bootstrap", 26, runs=300, seed=1
    )
    raw = backtest.forecast_origin(values, 60, "bootstrap", 26, (h,), 300, 1).hists[("how_many", h)]
    dense = np.zeros(raw[0].max() + 1)
    dense[raw[0]] = raw[1]
    calibrated = live_calibration.calibrate_histogram(dense.astype(np.int64), live)
    scores = result.scores(True, "how_many", h)
    ideal = scores.ideal[0]
    values_c = np.flatnonzero(calibrated)
    thresholds = metrics.how_many_thresholds(values_c, calibrated[values_c], backtest.LEVELS)
    assert np.allclose(
        1.0 - metrics.cdf_from_histogram(values_c, calibrated[values_c], thresholds - 1),
        ideal,
        atol=1 / 300 + 1e-9,
    )  # whole counts of 300 runs


# --------------------------------------------------------------------------- Ray


def test_ray_backtest_equals_local_backtest(ray_session):
    from flowray import pipeline

    series = {"black": list(_series(periods=75)), "etcd": list(_series("etcd-io__etcd", 70))}
    options = {
        "methods": ["bootstrap", "weibull+cal"],
        "windows": [26],
        "horizons": (4, 8),
        "step": 4,
        "runs": 200,
        "seed": 4,
    }
    local = pipeline.run_backtest(series, **options)
    job = pipeline.submit_backtest(series, **options)
    remote = job.result(timeout=300)
    progress = job.progress()
    assert progress.fraction == 1.0 and progress.tasks_total == 4
    assert set(local.results) == set(remote.results)
    for key in local.results:
        for variant in ("raw", "calibrated"):
            for qh, scores in getattr(local.results[key], variant).items():
                other = getattr(remote.results[key], variant)[qh]
                for name in ("origins", "pit", "crps", "pinball", "hits", "ideal"):
                    assert np.array_equal(getattr(scores, name), getattr(other, name)), (
                        key,
                        variant,
                        qh,
                        name,
                    )
    assert local.report("weibull+cal", 26, 8) == remote.report("weibull+cal", 26, 8)


def test_calibrated_live_forecast_keeps_the_result_object():
    from flowray import pipeline
    from flowray.core.engine import Question
    from flowray.core.scenario import Scenario

    history = list(_series(periods=80))
    scenario = Scenario(throughput=history, backlog=30)
    for question in (Question("when"), Question("how_many", 8)):
        result = pipeline.calibrated_forecast(scenario, question, runs=2000, seed=1)
        assert result.runs == 2000 and int(result.counts.sum()) == 2000
        if backtest.parse_method(backtest.DEFAULT_METHOD)[1]:
            assert result.calibration.active and result.calibration.n_errors > 12


def test_default_constants_name_a_backtested_configuration():
    assert backtest.DEFAULT_BASE_METHOD in backtest.MC_METHODS
    assert (
        backtest.method_name(backtest.DEFAULT_BASE_METHOD, backtest.DEFAULT_CALIBRATED)
        == backtest.DEFAULT_METHOD
    )
    assert backtest.DEFAULT_WINDOW in backtest.WINDOWS


# --------------------------------------------------------------------------- ideal and PIT coverage


def _true_law_scores(question: str, values: np.ndarray, probs: np.ndarray, n: int, seed: int):
    """Score the true law of a discrete outcome against n outcomes drawn from that law."""
    rng = np.random.default_rng(seed)
    counts = probs * 10_000.0
    scores = backtest.Scores()
    for i, actual in enumerate(rng.choice(values, size=n, p=probs)):
        scores.add(i, float(actual), backtest.score_forecast(question, values, counts, actual, rng))
    return scores.frozen().block(question)


@pytest.mark.parametrize("question", ["how_many", "when"])
def test_the_true_law_is_met_as_often_as_ideal_and_its_pit_coverage_is_nominal(question):
    # a coarse law (most mass on three values): whole numbers push "ideal" well above nominal
    values = np.array([2, 3, 4, 5, 6])
    probs = np.array([0.1, 0.25, 0.3, 0.25, 0.1])
    n = 6000
    block = _true_law_scores(question, values, probs, n, seed=5)
    cdf = np.cumsum(probs)
    for level in backtest.LEVELS:
        key = metrics.level_label(level)
        if question == "when":  # P(X <= the p-quantile)
            exact = cdf[np.searchsorted(cdf, level - 1e-12)]
        else:  # P(X >= the (1 - p)-quantile)
            q = np.searchsorted(cdf, 1 - level - 1e-12)
            exact = 1.0 - (cdf[q - 1] if q > 0 else 0.0)
        assert block["ideal"][key] == pytest.approx(exact)
        se = np.sqrt(level * (1 - level) / n)
        assert abs(block["coverage"][key] - exact) < 4.5 * np.sqrt(exact * (1 - exact) / n) + 1e-9
        assert abs(block["pit_coverage"][key] - level) < 4.5 * se
    # the whole-number effect is real here: 50% answers are met far more than half the time
    assert block["ideal"]["50"] > 0.6


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=8),
    offset=st.integers(min_value=0, max_value=20),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_randomised_pit_coverage_is_nominal_for_any_correct_discrete_forecast(counts, offset, seed):
    values = np.arange(offset, offset + len(counts))
    weights = np.asarray(counts, dtype=float)
    rng = np.random.default_rng(seed)
    n = 3000
    actuals = rng.choice(values, size=n, p=weights / weights.sum())
    pits = [metrics.pit_randomized(values, weights, y, rng) for y in actuals]
    for reading in ("how_many", "when"):
        shares = metrics.pit_coverage(pits, reading, backtest.LEVELS)
        for level in backtest.LEVELS:
            se = np.sqrt(level * (1 - level) / n)
            assert abs(shares[metrics.level_label(level)] - level) < 5.5 * se


def test_pit_coverage_reads_both_questions_the_right_way_round():
    pits = np.array([0.02, 0.2, 0.4, 0.6, 0.97])
    assert metrics.pit_coverage(pits, "when", [0.5])["50"] == pytest.approx(0.6)
    assert metrics.pit_coverage(pits, "how_many", [0.5])["50"] == pytest.approx(0.4)
    assert metrics.pit_coverage(pits, "how_many", [0.95])["95"] == pytest.approx(0.8)  # not 0.02
    with pytest.raises(InputError, match="reading"):
        metrics.pit_coverage(pits, "later", [0.5])


def test_a_block_refuses_ideal_or_pits_that_do_not_match_its_origins():
    hits = np.ones((3, 4), dtype=bool)
    scores = (np.ones(3), np.ones(3), np.zeros(3))
    with pytest.raises(InputError, match="ideal"):
        metrics.summarise_block(hits, *scores, ideal=np.full((2, 4), 0.9))
    with pytest.raises(InputError, match="pits"):
        metrics.summarise_block(hits, *scores, pits=[0.5, 0.5], reading="when")
    with pytest.raises(InputError, match="reading"):
        metrics.summarise_block(hits, *scores, pits=[0.5, 0.5, 0.5])
    block = metrics.summarise_block(
        hits, *scores, ideal=np.full((3, 4), 0.9), pits=[0.1, 0.6, 0.9], reading="when"
    )
    assert block["ideal"]["50"] == pytest.approx(0.9)
    assert block["pit_coverage"]["50"] == pytest.approx(1 / 3)


def test_report_blocks_hold_ideal_and_pit_coverage_pooled_by_origins():
    results = {}
    for name in ("psf__black", "etcd-io__etcd"):
        results[(name, "bootstrap", 26)] = backtest.backtest_series(
            name, _series(name, 120), "bootstrap", 26, horizons=(4,), step=6, runs=300
        )
    report = backtest_report.Backtest(results, (4,), 6, 300, 0, 52).report("bootstrap+cal", 26, 4)
    for question in ("how_many", "when"):
        rows = [row[question] for row in report["series"]]
        for key in ("ideal", "pit_coverage"):
            pooled = report["pooled"][question][key]["85"]
            weighted = sum(r[key]["85"] * r["origins"] for r in rows) / sum(
                r["origins"] for r in rows
            )
            assert pooled == pytest.approx(weighted)
        assert all(row["ideal"]["85"] >= 0.85 for row in rows)


# --------------------------------------------------------------------------- origin bounds, horizons


def test_last_origin_bounds_the_scored_origins_without_changing_their_scores():
    values = _series(periods=140)
    common = {"horizons": (4,), "step": 2, "runs": 300, "seed": 3}
    full = backtest.backtest_series("s", values, "recency", 12, first_origin=10, **common)
    young = backtest.backtest_series(
        "s", values, "recency", 12, first_origin=10, last_origin=64, **common
    )
    for calibrated in (False, True):
        a, b = full.scores(calibrated, "how_many", 4), young.scores(calibrated, "how_many", 4)
        assert b.origins.tolist() == list(range(10, 65, 2))
        keep = np.isin(a.origins, b.origins)
        # the calibration at origin t learns from the same earlier origins either way
        assert np.array_equal(a.pit[keep], b.pit)
        assert np.array_equal(a.crps[keep], b.crps)


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        (-4, None, "first_origin"),
        (3, None, "first_origin"),  # fewer than MIN_PERIODS periods of history
        (20, 10, "last_origin"),
        (20, -1, "last_origin"),
        ("ten", None, "first_origin"),
    ],
)
def test_bad_origin_bounds_are_named(first, last, field):
    with pytest.raises(InputError) as info:
        backtest.BacktestOptions(first_origin=first, last_origin=last)
    assert info.value.field == field
    assert str(first if field == "first_origin" else last) in str(info.value)


def test_origins_and_horizons_beyond_the_history_are_named():
    lengths = {"a": 100, "b": 60}
    backtest.BacktestOptions(horizons=(26,), first_origin=74).check_lengths(lengths)
    with pytest.raises(InputError, match="beyond the series") as info:
        backtest.BacktestOptions(horizons=(26,), first_origin=75).check_lengths(lengths)
    assert info.value.field == "first_origin" and "75" in str(info.value)
    with pytest.raises(InputError) as info:
        backtest.BacktestOptions(horizons=(20,), first_origin=8).check_lengths({"a": 27})
    assert info.value.field == "horizon" and "at most 19" in str(info.value)
    with pytest.raises(InputError, match="26") as info:
        backtest.BacktestOptions(horizons=(8, 27))
    assert info.value.field == "horizon"


def test_every_horizon_up_to_26_is_backtested_and_reported():
    values = _series(periods=120)
    horizons = (1, 2, 26)
    result = backtest.backtest_series(
        "s", values, "bootstrap", 26, horizons=horizons, step=20, runs=200, calibrate=False
    )
    report = backtest_report.Backtest({("s", "bootstrap", 26): result}, horizons, 20, 200, 0, 52)
    for h in horizons:
        block = report.report("bootstrap", 26, h)["pooled"]["when"]
        assert block["origins"] == len(range(52, 120 - 26 + 1, 20))
        # at H = 1 "when" is 0 or 1 period: a calibrated forecast is met far above nominal
        if h == 1:
            assert block["ideal"]["50"] >= 0.5


# --------------------------------------------------------------------------- the shipped series


def test_the_split_follows_the_sha256_rule_and_covers_every_series():
    with (FIXTURES / "SPLIT.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    stems = sorted(p.stem for p in FIXTURES.glob("*__*.csv"))
    assert sorted(row["series"] for row in rows) == stems and len(stems) == 49
    for row in rows:
        digit = hashlib.sha256(row["series"].encode()).hexdigest()[0]
        assert row["sha256_first_hex"] == digit
        assert row["part"] == ("tuning" if digit in "0123456789" else "holdout")
    assert {row["part"] for row in rows} == {"tuning", "holdout"}


SHARED_WEEKLY = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "throughput"


@pytest.mark.skipif(
    not (SHARED_WEEKLY / "weekly").is_dir(),
    reason="the shared dev data set is not next to this clone (only on the project's machines)",
)
def test_the_shipped_series_are_unchanged_copies_of_the_shared_set():
    shared = sorted((SHARED_WEEKLY / "weekly").glob("*.csv"))
    assert [p.name for p in shared] == sorted(p.name for p in FIXTURES.glob("*__*.csv"))
    for path in shared:
        assert (FIXTURES / path.name).read_bytes() == path.read_bytes()
    assert (FIXTURES / "MANIFEST.csv").read_bytes() == (SHARED_WEEKLY / "MANIFEST.csv").read_bytes()
