"""Scores of forecast distributions: hand-computed cases and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from flowray.core import metrics
from flowray.exceptions import InputError

# A small histogram used throughout: P(0) = 1/4, P(1) = 1/2, P(2) = 1/4.
VALUES = [0, 1, 2]
COUNTS = [1, 2, 1]

# Ten equally likely values 0..9.
UNIFORM_VALUES = list(range(10))
UNIFORM_COUNTS = [10] * 10


def poisson_crps(lam: float, y: int) -> float:
    """Closed form of the CRPS of Poisson(lam) (Wei & Held 2014)."""
    return float(
        (y - lam) * (2 * stats.poisson.cdf(y, lam) - 1)
        + 2 * lam * stats.poisson.pmf(y, lam)
        - lam * (special.i0e(2 * lam) + special.i1e(2 * lam))
    )


def normal_crps(mu: float, sigma: float, y: float) -> float:
    """Closed form of the CRPS of N(mu, sigma^2) (Gneiting & Raftery 2007)."""
    z = (y - mu) / sigma
    return float(
        sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi))
    )


# ---------------------------------------------------------------------------
# quantiles and CDF


def test_quantile_is_the_inverted_cdf() -> None:
    # F(0) = .25, F(1) = .75, F(2) = 1: smallest v with F(v) >= p.
    got = metrics.quantile_from_histogram(VALUES, COUNTS, [0.1, 0.25, 0.26, 0.75, 0.76, 1.0])
    assert got.tolist() == [0, 0, 1, 1, 2, 2]
    assert metrics.quantile_from_histogram(VALUES, COUNTS, 0.5) == 1
    assert isinstance(metrics.quantile_from_histogram(VALUES, COUNTS, 0.5), int)


def test_quantile_of_one_minus_level_is_not_pushed_up_by_float_error() -> None:
    # 1 - 0.85 is 0.15000000000000002; F(0) is exactly 0.15, so the 15th percentile is 0.
    assert 1 - 0.85 > 0.15
    assert metrics.quantile_from_histogram([0, 1], [15, 85], 1 - 0.85) == 0


def test_quantile_with_gaps_and_zero_counts() -> None:
    values = [3, 7, 20, 21]
    counts = [0, 5, 5, 0]
    assert metrics.quantile_from_histogram(values, counts, 0.01) == 7
    assert metrics.quantile_from_histogram(values, counts, 0.5) == 7
    assert metrics.quantile_from_histogram(values, counts, 0.51) == 20
    assert metrics.quantile_from_histogram(values, counts, 1.0) == 20


def test_cdf_from_histogram() -> None:
    got = metrics.cdf_from_histogram(VALUES, COUNTS, [-1, 0, 0.5, 1, 2, 10])
    assert got.tolist() == [0.0, 0.25, 0.25, 0.75, 1.0, 1.0]


@pytest.mark.parametrize(
    ("values", "counts", "field"),
    [
        ([], [], "values"),
        ([0, 1], [1], "counts"),
        ([1, 0], [1, 1], "values"),
        ([0, 0], [1, 1], "values"),
        ([0.5, 1], [1, 1], "values"),
        ([0, 1], [1, -1], "counts"),
        ([0, 1], [0, 0], "counts"),
        ([0, 1], [1, math.nan], "counts"),
    ],
)
def test_bad_histograms_are_refused(values: list, counts: list, field: str) -> None:
    with pytest.raises(InputError) as caught:
        metrics.quantile_from_histogram(values, counts, 0.5)
    assert caught.value.field == field


@pytest.mark.parametrize("p", [0.0, -0.1, 1.2, math.nan])
def test_bad_probabilities_are_refused(p: float) -> None:
    with pytest.raises(InputError):
        metrics.quantile_from_histogram(VALUES, COUNTS, p)


def test_histogram_from_samples() -> None:
    values, counts = metrics.histogram_from_samples([3, 1, 3, 3, 0])
    assert values.tolist() == [0, 1, 3]
    assert counts.tolist() == [1, 1, 3]
    with pytest.raises(InputError):
        metrics.histogram_from_samples([1.5, 2])


# ---------------------------------------------------------------------------
# coverage, both readings


def test_when_reading_uses_the_upper_quantile() -> None:
    # Uniform 0..9: F(v) = (v + 1)/10, so the 50/70/85/95 quantiles are 4, 6, 8, 9.
    thresholds = metrics.when_thresholds(UNIFORM_VALUES, UNIFORM_COUNTS)
    assert thresholds.tolist() == [4, 6, 8, 9]
    assert metrics.when_met(UNIFORM_VALUES, UNIFORM_COUNTS, 5).tolist() == [False, True, True, True]
    assert metrics.when_met(UNIFORM_VALUES, UNIFORM_COUNTS, 9).tolist() == [
        False,
        False,
        False,
        True,
    ]
    assert metrics.when_met(UNIFORM_VALUES, UNIFORM_COUNTS, 12).tolist() == [False] * 4


def test_how_many_reading_is_conservative() -> None:
    # "At least X with probability p": X = (1 - p)-quantile = 4, 2, 1, 0 for 50/70/85/95.
    thresholds = metrics.how_many_thresholds(UNIFORM_VALUES, UNIFORM_COUNTS)
    assert thresholds.tolist() == [4, 2, 1, 0]
    # The statement is literally true: P(X >= X_p) >= p.
    for level, x in zip(metrics.DEFAULT_LEVELS, thresholds, strict=True):
        assert 1 - metrics.cdf_from_histogram(UNIFORM_VALUES, UNIFORM_COUNTS, x - 1) >= level
    assert metrics.how_many_met(UNIFORM_VALUES, UNIFORM_COUNTS, 1).tolist() == [
        False,
        False,
        True,
        True,
    ]
    assert metrics.how_many_met(UNIFORM_VALUES, UNIFORM_COUNTS, 7).tolist() == [True] * 4


def test_quantile_array_forms_agree_with_histogram_forms() -> None:
    levels = np.array(metrics.DEFAULT_LEVELS)
    upper = metrics.quantile_from_histogram(UNIFORM_VALUES, UNIFORM_COUNTS, levels)
    lower = metrics.quantile_from_histogram(UNIFORM_VALUES, UNIFORM_COUNTS, 1 - levels)
    for actual in range(-1, 12):
        assert np.array_equal(
            metrics.when_met_quantiles(upper, actual),
            metrics.when_met(UNIFORM_VALUES, UNIFORM_COUNTS, actual),
        )
        assert np.array_equal(
            metrics.how_many_met_quantiles(lower, actual),
            metrics.how_many_met(UNIFORM_VALUES, UNIFORM_COUNTS, actual),
        )


def test_coverage_of_a_true_forecast_matches_its_cdf() -> None:
    # Actuals drawn from the forecast itself: the share meeting each level must be
    # the probability mass the reading claims (>= the level, since the law is discrete).
    rng = np.random.default_rng(7)
    lam = 6.0
    values = np.arange(60)
    counts = stats.poisson.pmf(values, lam)
    actuals = rng.poisson(lam, size=20_000)
    when_hits = np.array([metrics.when_met(values, counts, a) for a in actuals[:4000]])
    how_hits = np.array([metrics.how_many_met(values, counts, a) for a in actuals[:4000]])
    when_cov = metrics.coverage_from_hits(when_hits)
    how_cov = metrics.coverage_from_hits(how_hits)
    for level in metrics.DEFAULT_LEVELS:
        q_up = metrics.quantile_from_histogram(values, counts, level)
        q_low = metrics.quantile_from_histogram(values, counts, 1 - level)
        expected_when = stats.poisson.cdf(q_up, lam)
        expected_how = stats.poisson.sf(q_low - 1, lam)
        assert expected_when >= level and expected_how >= level
        tolerance = 4 * math.sqrt(level * (1 - level) / 4000)
        assert when_cov[metrics.level_label(level)] == pytest.approx(expected_when, abs=tolerance)
        assert how_cov[metrics.level_label(level)] == pytest.approx(expected_how, abs=tolerance)


def test_coverage_from_hits_and_labels() -> None:
    hits = [[True, True], [False, True], [False, True], [True, True]]
    assert metrics.coverage_from_hits(hits, [0.5, 0.975]) == {"50": 0.5, "97.5": 1.0}
    assert metrics.level_label(0.85) == "85"
    assert metrics.level_label(0.7) == "70"
    with pytest.raises(InputError):
        metrics.coverage_from_hits([[True]], [0.5, 0.9])


# ---------------------------------------------------------------------------
# PIT


def test_mid_pit_hand_values() -> None:
    # y = 1: F(0) + P(1)/2 = .25 + .25; y = 0: 0 + .125; y = 5: 1 + 0; y = -3: 0.
    assert metrics.pit_mid(VALUES, COUNTS, 1) == pytest.approx(0.5)
    assert metrics.pit_mid(VALUES, COUNTS, 0) == pytest.approx(0.125)
    assert metrics.pit_mid(VALUES, COUNTS, 5) == pytest.approx(1.0)
    assert metrics.pit_mid(VALUES, COUNTS, -3) == pytest.approx(0.0)


def test_randomized_pit_lies_in_the_jump_and_follows_the_rng() -> None:
    first = [metrics.pit_randomized(VALUES, COUNTS, 1, np.random.default_rng(3)) for _ in range(2)]
    assert first[0] == first[1]
    draws = [metrics.pit_randomized(VALUES, COUNTS, 1, np.random.default_rng(s)) for s in range(50)]
    assert min(draws) >= 0.25 and max(draws) <= 0.75
    assert len(set(draws)) == 50


def test_randomized_pit_of_a_true_forecast_is_uniform() -> None:
    rng = np.random.default_rng(11)
    lam = 2.5  # very discrete: many ties, the case the randomisation exists for
    values = np.arange(40)
    counts = stats.poisson.pmf(values, lam)
    actuals = rng.poisson(lam, size=3000)
    pits = [metrics.pit_randomized(values, counts, a, rng) for a in actuals]
    histogram = metrics.pit_histogram(pits, bins=10)
    assert histogram.sum() == 3000
    assert stats.chisquare(histogram).pvalue > 0.001
    # The mid-PIT of the same forecast is visibly not flat on such a discrete law.
    mids = [metrics.pit_mid(values, counts, a) for a in actuals]
    assert stats.chisquare(metrics.pit_histogram(mids, bins=10)).pvalue < 1e-6


def test_pit_histogram_bins() -> None:
    counts = metrics.pit_histogram([0.0, 0.05, 0.1, 0.5, 0.99, 1.0], bins=4)
    assert counts.tolist() == [3, 0, 1, 2]
    with pytest.raises(InputError):
        metrics.pit_histogram([0.5, 1.2])
    with pytest.raises(InputError):
        metrics.pit_histogram([0.5], bins=0)


# ---------------------------------------------------------------------------
# pinball


def test_pinball_hand_values() -> None:
    # y = 4, q = (2 at 0.1, 5 at 0.9): 0.1 * 2 = 0.2 and (0.9 - 1) * (4 - 5) = 0.1; mean 0.15.
    assert metrics.pinball_loss([2, 5], [0.1, 0.9], 4) == pytest.approx(0.15)
    # A perfect point forecast loses nothing.
    assert metrics.pinball_loss([4, 4], [0.1, 0.9], 4) == 0.0


def test_pinball_broadcasts_over_periods() -> None:
    quantiles = np.array([[2.0, 5.0], [0.0, 1.0]])
    got = metrics.pinball_loss(quantiles, [0.1, 0.9], [4, 3])
    # Second row: errors 3 and 2, both under-forecast: (0.1 * 3 + 0.9 * 2) / 2 = 1.05.
    assert got == pytest.approx([0.15, 1.05])
    with pytest.raises(InputError):
        metrics.pinball_loss(quantiles, [0.1, 0.5, 0.9], [4, 3])


def test_pinball_of_histogram_reads_its_quantiles() -> None:
    # Quantiles of VALUES/COUNTS at .25 and .75 are 0 and 1; y = 2: (.25 * 2 + .75 * 1) / 2.
    assert metrics.pinball_loss_histogram(VALUES, COUNTS, 2, [0.25, 0.75]) == pytest.approx(0.625)


# ---------------------------------------------------------------------------
# CRPS


def test_crps_histogram_hand_values() -> None:
    # F = (.25, .75, 1) on 0, 1, 2. y = 1: .25^2 + (.75 - 1)^2 = .125.
    assert metrics.crps_histogram(VALUES, COUNTS, 1) == pytest.approx(0.125)
    # y = 7: .25^2 + .75^2 + 5 * 1 = 5.625 (k = 2..6 count fully).
    assert metrics.crps_histogram(VALUES, COUNTS, 7) == pytest.approx(5.625)
    # y = -2: the indicator is 1 from -2 on: k = -2, -1 give 1 each, k = 0: .75^2, k = 1: .25^2.
    assert metrics.crps_histogram(VALUES, COUNTS, -2) == pytest.approx(2.625)
    # A point mass at c scores |c - y|.
    assert metrics.crps_histogram([5], [3], 5) == 0.0
    assert metrics.crps_histogram([5], [3], 8) == pytest.approx(3.0)


@pytest.mark.parametrize("lam", [0.7, 4.3, 18.0])
def test_crps_histogram_equals_poisson_closed_form(lam: float) -> None:
    values = np.arange(0, int(lam + 20 * math.sqrt(lam) + 30))
    probabilities = stats.poisson.pmf(values, lam)
    for y in (0, 1, int(lam), int(lam) + 3, int(3 * lam) + 5):
        assert metrics.crps_histogram(values, probabilities, y) == pytest.approx(
            poisson_crps(lam, y), rel=1e-9, abs=1e-12
        )


def test_crps_samples_approaches_normal_closed_form() -> None:
    rng = np.random.default_rng(5)
    samples = rng.normal(10.0, 3.0, size=200_000)
    for y in (10.0, 4.0, 17.5):
        assert metrics.crps_samples(samples, y) == pytest.approx(
            normal_crps(10.0, 3.0, y), rel=0.01
        )


def test_crps_quantiles_approaches_normal_closed_form() -> None:
    levels = (np.arange(1, 200) - 0.5) / 199
    quantiles = stats.norm.ppf(levels, 10.0, 3.0)
    for y in (10.0, 4.0, 17.5):
        assert metrics.crps_quantiles(quantiles, levels, y) == pytest.approx(
            normal_crps(10.0, 3.0, y), rel=0.01
        )


def test_crps_quantiles_at_mid_levels_is_twice_mean_pinball() -> None:
    levels = (np.arange(1, 11) - 0.5) / 10
    quantiles = stats.norm.ppf(levels, 3.0, 2.0)
    for y in (-1.0, 3.0, 6.2):
        assert metrics.crps_quantiles(quantiles, levels, y) == pytest.approx(
            2 * metrics.pinball_loss(quantiles, levels, y)
        )


def test_crps_samples_hand_value() -> None:
    # Samples (0, 1, 1, 2) are the VALUES/COUNTS law: E|X - 1| = .5, E|X - X'| = .75.
    assert metrics.crps_samples([0, 1, 1, 2], 1) == pytest.approx(0.5 - 0.375)


@settings(max_examples=60, deadline=None)
@given(
    samples=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=40),
    actual=st.integers(min_value=-5, max_value=40),
)
def test_crps_of_integer_samples_equals_crps_of_their_histogram(
    samples: list[int], actual: int
) -> None:
    values, counts = metrics.histogram_from_samples(samples)
    by_histogram = metrics.crps_histogram(values, counts, actual)
    # The defining sum over integers k, written out the slow way.
    cdf = metrics.cdf_from_histogram(values, counts, np.arange(-10, 50))
    by_definition = float(np.sum((cdf - (actual <= np.arange(-10, 50))) ** 2))
    assert by_histogram == pytest.approx(by_definition, abs=1e-9)
    assert metrics.crps_samples(samples, actual) == pytest.approx(by_histogram, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=15).filter(
        lambda c: sum(c) > 0
    ),
    p=st.floats(min_value=0.001, max_value=1.0),
)
def test_quantile_definition_property(counts: list[int], p: float) -> None:
    values = np.arange(len(counts)) * 2 + 1
    q = metrics.quantile_from_histogram(values, counts, p)
    assert metrics.cdf_from_histogram(values, counts, q) >= p * (1 - 1e-9)
    assert metrics.cdf_from_histogram(values, counts, q - 1) < p


# ---------------------------------------------------------------------------
# median error, blocks and pooling


def test_median_abs_error() -> None:
    assert metrics.median_abs_error(VALUES, COUNTS, 4) == 3.0
    assert metrics.median_abs_error(UNIFORM_VALUES, UNIFORM_COUNTS, 2) == 2.0


def test_summarise_block() -> None:
    block = metrics.summarise_block(
        hits=[[True, False], [True, True]],
        crps=[1.0, 3.0],
        pinball=[0.5, 0.7],
        median_abs_errors=[2, 0],
        levels=[0.5, 0.85],
    )
    assert block == {
        "coverage": {"50": 1.0, "85": 0.5},
        "crps": 2.0,
        "pinball": pytest.approx(0.6),
        "median_abs_error": 1.0,
        "origins": 2,
    }
    with pytest.raises(InputError):
        metrics.summarise_block([[True]], [1.0, 2.0], [0.1], [0.0], levels=[0.5])


def test_pool_blocks_weights_by_origins() -> None:
    first = {"coverage": {"50": 1.0, "85": 0.5}, "crps": 2.0, "origins": 1}
    second = {"coverage": {"50": 0.25, "85": 1.0}, "crps": 6.0, "origins": 3}
    empty = {"coverage": {"50": math.nan, "85": math.nan}, "crps": math.nan, "origins": 0}
    pooled = metrics.pool_blocks([first, second, empty])
    assert pooled["origins"] == 4
    assert pooled["crps"] == pytest.approx((2.0 + 3 * 6.0) / 4)
    assert pooled["coverage"]["50"] == pytest.approx((1.0 + 3 * 0.25) / 4)
    assert pooled["coverage"]["85"] == pytest.approx((0.5 + 3 * 1.0) / 4)


def test_pooled_coverage_equals_coverage_of_all_origins() -> None:
    rng = np.random.default_rng(2)
    hit_sets = [rng.random((n, 4)) < 0.8 for n in (5, 17, 40)]
    blocks = [
        metrics.summarise_block(h, np.ones(len(h)), np.ones(len(h)), np.zeros(len(h)))
        for h in hit_sets
    ]
    pooled = metrics.pool_blocks(blocks)
    direct = metrics.coverage_from_hits(np.vstack(hit_sets))
    for label, share in direct.items():
        assert pooled["coverage"][label] == pytest.approx(share)
