"""The PIT recalibration layer: hand-computed maps, shrinkage, the no-leakage rule, histogram algebra."""

from __future__ import annotations

import numpy as np
import pytest

from flowray.core import calibration
from flowray.exceptions import InputError


def test_below_the_minimum_count_the_map_is_the_identity():
    cmap = calibration.fit_calibration([0.99] * 5, min_errors=6)
    assert not cmap.active
    assert cmap.n_errors == 5
    x = np.linspace(0, 1, 11)
    assert np.allclose(cmap(x), x)


def test_hand_computed_map_without_shrinkage():
    # sorted PITs 0.1, 0.2 sit at plotting positions 0.25 and 0.75
    cmap = calibration.fit_calibration([0.2, 0.1], min_errors=1, shrink_count=0.0)
    assert cmap.weight == 1.0
    assert cmap(0.1) == pytest.approx(0.25)
    assert cmap(0.15) == pytest.approx(0.5)
    assert cmap(0.6) == pytest.approx(0.75 + 0.25 * (0.6 - 0.2) / 0.8)
    assert cmap.raw_level(0.5) == pytest.approx(0.15)


def test_shrinkage_mixes_with_the_identity():
    cmap = calibration.fit_calibration([0.2, 0.1], min_errors=1, shrink_count=2.0)
    assert cmap.weight == pytest.approx(0.5)
    assert cmap(0.1) == pytest.approx(0.5 * 0.1 + 0.5 * 0.25)


def test_uniform_pits_give_nearly_the_identity():
    pits = (np.arange(200) + 0.5) / 200
    cmap = calibration.fit_calibration(pits, max_errors=None)
    x = np.linspace(0, 1, 101)
    assert np.max(np.abs(cmap(x) - x)) < 0.01


def test_overconfident_history_widens_the_levels_read():
    # actuals kept landing in the tails: read more extreme raw levels
    rng = np.random.default_rng(1)
    pits = np.concatenate(
        [rng.uniform(0, 0.1, 40), rng.uniform(0.9, 1, 40), rng.uniform(0.1, 0.9, 20)]
    )
    cmap = calibration.fit_calibration(rng.permutation(pits))
    assert cmap.raw_level(0.95) > 0.97
    assert cmap.raw_level(0.05) < 0.03
    assert cmap.raw_level(0.5) == pytest.approx(0.5, abs=0.1)


def test_only_recent_errors_count():
    old = [0.01] * 200
    recent = list((np.arange(50) + 0.5) / 50)
    cmap = calibration.fit_calibration(old + recent, max_errors=50)
    assert cmap.n_errors == 50
    assert cmap.raw_level(0.5) == pytest.approx(0.5, abs=0.05)


def test_usable_pits_follow_the_outcome_rule():
    origins = [10, 11, 12, 13, 14]
    pits = [0.1, 0.2, 0.3, 0.4, 0.5]
    # horizon 3 at origin 14: forecasts made at s with s + 3 <= 14, i.e. s <= 11
    assert calibration.usable_pits(origins, pits, 3, 14).tolist() == [0.1, 0.2]
    assert calibration.usable_pits(origins, pits, 1, 14).tolist() == [0.1, 0.2, 0.3, 0.4]
    assert calibration.usable_pits(origins, pits, 5, 14).size == 0
    with pytest.raises(InputError):
        calibration.usable_pits([1, 2], [0.5], 1, 3)


def test_calibrated_counts_are_a_distribution_and_identity_keeps_them():
    counts = np.array([1.0, 3.0, 4.0, 2.0])
    same = calibration.calibrate_counts(counts, calibration.IDENTITY)
    assert np.allclose(same, counts / counts.sum())
    cmap = calibration.fit_calibration([0.02, 0.03, 0.97, 0.98] * 10, min_errors=1)
    wider = calibration.calibrate_counts(counts, cmap)
    assert wider.sum() == pytest.approx(1.0)
    assert np.all(wider >= 0)
    # mass moves to the outer values
    assert wider[0] > 0.1 and wider[-1] > 0.2


def test_integer_counts_keep_the_total():
    counts = calibration.integer_counts([0.333, 0.333, 0.334], 1000)
    assert counts.sum() == 1000
    assert counts.tolist() == [333, 333, 334]


def test_bad_pits_are_refused():
    with pytest.raises(InputError, match="past_pits"):
        calibration.fit_calibration([0.5, 1.2])


# --------------------------------------------------------------------------- conformal layer (the default)


def test_standardised_error_by_hand():
    assert calibration.standardised_error([8, 10, 12], 14) == pytest.approx(2.0)
    assert calibration.standardised_error([10, 10, 10], 9) == pytest.approx(
        -1 / calibration.MIN_SPREAD
    )


def test_conformal_histogram_by_hand():
    cmap = calibration.fit_conformal([-1.0, 0.0, 1.0], min_errors=1, shrink_count=0.0)
    assert cmap.weight == 1.0
    values, probs = calibration.conformal_histogram([8, 10, 12], [1, 2, 1], [8, 10, 12], cmap)
    assert values.tolist() == [8, 10, 12]
    assert probs == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    # half weight: half the forecast, half the errors; errors reach beyond the forecast's support
    wide = calibration.fit_conformal([-3.0, 3.0], min_errors=1, shrink_count=2.0)
    assert wide.weight == pytest.approx(0.5)
    values, probs = calibration.conformal_histogram([8, 10, 12], [1, 2, 1], [8, 10, 12], wide)
    assert values.tolist() == [4, 8, 10, 12, 16]
    assert probs == pytest.approx([0.25, 0.125, 0.25, 0.125, 0.25])


def test_conformal_values_never_go_below_zero_and_wait_for_enough_errors():
    cmap = calibration.fit_conformal([-10.0] * 12)
    values, probs = calibration.conformal_histogram([1, 2], [1, 1], [1, 1, 2], cmap)
    assert values.min() == 0 and probs.sum() == pytest.approx(1.0)
    assert not calibration.fit_conformal([1.0] * (calibration.MIN_PAST_ERRORS - 1)).active
