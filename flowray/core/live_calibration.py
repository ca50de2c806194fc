"""Calibrating a live forecast: the map learned from the history's own past forecast errors.

A '+cal' method forecasts as its sampler does, then reads the answer through a
calibration map learned from the forecasts the same method would have made at
every past origin whose outcome is known (docs/model.md, "Forecast methods").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowray.core import calibration, metrics
from flowray.core.backtest import (
    CALIBRATION_KIND,
    DEFAULT_METHOD,
    DEFAULT_RUNS,
    DEFAULT_WINDOW,
    ML_METHODS,
    QUESTIONS,
    _pit_rng,
    _sparse,
    actual_outcome,
    forecast_origin,
    parse_method,
)
from flowray.core.checks import MIN_PERIODS
from flowray.core.validation import whole_number
from flowray.exceptions import InputError


def live_calibration(
    history: Sequence[float] | NDArray[np.float64],
    question: str,
    horizon: int,
    base: str = DEFAULT_METHOD,
    window: int | None = DEFAULT_WINDOW,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    use_prior: bool = True,
) -> calibration.ConformalMap | calibration.CalibrationMap:
    """The calibration map a forecast made today would use.

    Backtests `base` on the history itself at every origin whose H-period
    outcome is already known (origins s with s + H <= len(history)) and
    collects their errors for `question`. For the method the pooled prior was
    learned on (flowray's default), the map blends those errors with the prior
    (`calibration_prior`), so a young history is calibrated from its first
    weeks; for other methods, or with `use_prior=False`, it is fitted from the
    own errors alone, exactly as the backtest's calibration layer does at an
    origin equal to today.
    """
    if question not in QUESTIONS:
        raise InputError("question", question, f"must be one of {', '.join(QUESTIONS)}")
    base = parse_method(base)[0]
    if base in ML_METHODS:
        raise InputError("method", base, "live calibration is for Monte Carlo samplers")
    values = np.asarray(history, dtype=float)
    h = whole_number("horizon", horizon, 1)
    errors: list[float] = []
    for origin in range(MIN_PERIODS, values.size - h + 1):
        items, periods = actual_outcome(values, origin, h)
        forecasts = forecast_origin(
            values, origin, base, window, (h,), runs, seed, backlogs={h: items}
        )
        hist_values, counts = forecasts.hists[(question, h)]
        actual = float(items if question == "how_many" else periods)
        if CALIBRATION_KIND == "pit":
            errors.append(
                metrics.pit_randomized(
                    hist_values, counts, actual, _pit_rng(seed, origin, h, question)
                )
            )
        else:
            spread_q = metrics.quantile_from_histogram(
                hist_values, counts, calibration.SPREAD_LEVELS
            )
            errors.append(calibration.standardised_error(spread_q, actual))
    if CALIBRATION_KIND == "pit":
        return calibration.fit_calibration(errors)
    if use_prior:
        from flowray.core import calibration_prior

        prior = calibration_prior.load_prior()
        if prior.applies_to(base, window):
            return calibration_prior.prior_map(errors, question, h, prior)
    return calibration.fit_conformal(errors)


def calibrate_histogram(
    counts: NDArray[np.int64],
    cmap: calibration.ConformalMap | calibration.CalibrationMap,
    cap: int | None = None,
) -> NDArray[np.int64]:
    """A dense result histogram (index = value) recalibrated by `cmap`, as whole counts with the
    same number of runs; values beyond `cap` are counted at `cap` (e.g. "not done")."""
    array = np.asarray(counts, dtype=np.int64)
    if not cmap.active:
        return array.copy()
    values, probs = _sparse(array)
    if isinstance(cmap, calibration.CalibrationMap):
        new_values, new_probs = values, calibration.calibrate_counts(probs, cmap)
    else:
        spread_q = metrics.quantile_from_histogram(values, probs, calibration.SPREAD_LEVELS)
        new_values, new_probs = calibration.conformal_histogram(values, probs, spread_q, cmap)
    if cap is not None:
        new_values = np.minimum(new_values, cap)
    dense = np.bincount(new_values, weights=new_probs, minlength=array.size)
    return calibration.integer_counts(dense, int(array.sum()))


def calibrated_horizon(result: Any) -> int:
    """The horizon whose past errors calibrate a "when" result: its median completion period."""
    median = result.percentile(50)
    return int(min(max(1, median if median is not None else 52), 52))


def calibrate_result(
    result: Any, cmap: calibration.ConformalMap | calibration.CalibrationMap
) -> Any:
    """A copy of a ForecastResult (periods) or HowManyResult (items) read through `cmap`.

    The other histograms (totals, effort, burn-down fan, items by the deadline)
    stay as simulated: the calibration layer corrects the answer to the
    question asked, not every by-product.
    """
    import copy

    from flowray.core.results import HowManyResult

    out = copy.copy(result)
    hists = copy.copy(result.histograms)
    if isinstance(result, HowManyResult):
        hists.items = calibrate_histogram(hists.items, cmap)
    else:
        hists.periods = calibrate_histogram(
            hists.periods, cmap, cap=result.scenario.max_periods + 1
        )
    out.histograms = hists
    out.calibration = cmap
    return out
