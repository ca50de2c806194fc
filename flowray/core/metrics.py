"""Scores of forecast distributions against what actually happened.

Forecasts reach this module in one of three shapes:

- an integer histogram (``values`` ascending integers, ``counts`` >= 0): what the
  Monte Carlo engine produces for completion periods and items done;
- a quantile array at given levels: what quantile forecasters produce;
- plain samples: simulated paths or their sums.

Every score here is for ONE forecast and ONE observed actual; a backtest calls
them once per origin and then summarises the per-origin scores into a block
(`summarise_block`) and the series' blocks into a pooled block (`pool_blocks`).

Conventions (docs/model.md):

- Percentiles use the inverted CDF: the p-quantile is the smallest v with
  P(X <= v) >= p, so "p of the runs finished within v" holds literally.
- "When" is read at the upper quantile: the forecast "done within w periods at
  level p" (w = p-quantile) is met when the actual periods <= w.
- "How many" is read conservatively: "at least X items with probability p",
  X = the (1 - p)-quantile; it is met when the actual items >= X.

Pure numpy; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flowray.core.histograms import cdf_at, quantile_of
from flowray.exceptions import InputError

DEFAULT_LEVELS: tuple[float, ...] = (0.5, 0.7, 0.85, 0.95)

# Relative slack when comparing a cumulative count with p * total, so that
# 1 - 0.85 (= 0.15000000000000002) still selects the value whose CDF is exactly 0.15.


# ---------------------------------------------------------------------------
# validation helpers


def _histogram(
    values: ArrayLike, counts: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Validate a histogram; return integer values and float counts."""
    raw_values = np.asarray(values)
    raw_counts = np.asarray(counts, dtype=float)
    if raw_values.ndim != 1 or raw_values.size == 0:
        raise InputError("values", values, "must be a non-empty 1-D array of integers")
    if raw_counts.shape != raw_values.shape:
        raise InputError(
            "counts", counts, f"must have the same length as values ({raw_values.size})"
        )
    if raw_values.dtype.kind == "f":
        if not np.all(np.isfinite(raw_values)) or np.any(raw_values != np.round(raw_values)):
            raise InputError("values", values, "must be whole numbers")
    elif raw_values.dtype.kind not in "iu":
        raise InputError("values", values, "must be whole numbers")
    int_values = raw_values.astype(np.int64)
    if int_values.size > 1 and np.any(np.diff(int_values) <= 0):
        raise InputError("values", values, "must be strictly ascending")
    if not np.all(np.isfinite(raw_counts)) or np.any(raw_counts < 0):
        raise InputError("counts", counts, "must be finite and >= 0")
    if raw_counts.sum() <= 0:
        raise InputError("counts", counts, "must not all be 0")
    return int_values, raw_counts


def _levels(levels: ArrayLike, field_name: str = "levels") -> NDArray[np.float64]:
    """Validate probability levels in (0, 1); keep their shape (scalar or 1-D)."""
    array = np.asarray(levels, dtype=float)
    if array.ndim > 1 or array.size == 0:
        raise InputError(field_name, levels, "must be a number or a non-empty 1-D list of numbers")
    if not np.all(np.isfinite(array)) or np.any(array <= 0) or np.any(array >= 1):
        raise InputError(field_name, levels, "each level must lie strictly between 0 and 1")
    return array


def _actual(actual: Any, field_name: str = "actual") -> float:
    try:
        number = float(actual)
    except (TypeError, ValueError):
        raise InputError(field_name, actual, "must be a number") from None
    if not math.isfinite(number):
        raise InputError(field_name, actual, "must be a finite number")
    return number


# ---------------------------------------------------------------------------
# distribution functions of a histogram


def quantile_from_histogram(values: ArrayLike, counts: ArrayLike, p: ArrayLike) -> Any:
    """Inverted-CDF quantile: the smallest v with P(X <= v) >= p.

    `p` may be a number in (0, 1] or a 1-D array of them; the result has the same
    shape (an int for a number, an int array otherwise). p = 1 gives the largest
    value with a positive count.
    """
    int_values, float_counts = _histogram(values, counts)
    p_array = np.asarray(p, dtype=float)
    if (
        p_array.ndim > 1
        or not np.all(np.isfinite(p_array))
        or np.any(p_array <= 0)
        or np.any(p_array > 1)
    ):
        raise InputError("p", p, "must be a probability in (0, 1] (or a 1-D list of them)")
    index = np.minimum(quantile_of(int_values, float_counts, p_array), int_values.size - 1)
    result = int_values[index]
    if p_array.ndim == 0:
        return int(result)
    return result


def cdf_from_histogram(values: ArrayLike, counts: ArrayLike, y: ArrayLike) -> Any:
    """P(X <= y) for a number or an array of numbers y."""
    int_values, float_counts = _histogram(values, counts)
    return cdf_at(int_values, float_counts, y)


def histogram_from_samples(samples: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Integer samples -> (values, counts). Rounding real samples is the caller's modelling choice."""
    array = np.asarray(samples, dtype=float).ravel()
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise InputError("samples", samples, "must be a non-empty array of whole numbers")
    values, counts = np.unique(array.astype(np.int64), return_counts=True)
    return values, counts.astype(np.int64)


# ---------------------------------------------------------------------------
# coverage: the two readings


def when_thresholds(
    values: ArrayLike, counts: ArrayLike, levels: ArrayLike = DEFAULT_LEVELS
) -> NDArray[np.int64]:
    """Periods w such that "done within w periods" is the level-p answer: the p-quantiles."""
    return np.atleast_1d(quantile_from_histogram(values, counts, _levels(levels)))


def how_many_thresholds(
    values: ArrayLike, counts: ArrayLike, levels: ArrayLike = DEFAULT_LEVELS
) -> NDArray[np.int64]:
    """Items X such that "at least X items" is the level-p answer: the (1 - p)-quantiles."""
    return np.atleast_1d(quantile_from_histogram(values, counts, 1.0 - _levels(levels)))


def when_met(
    values: ArrayLike, counts: ArrayLike, actual_periods: Any, levels: ArrayLike = DEFAULT_LEVELS
) -> NDArray[np.bool_]:
    """Per level: did the work finish within the forecast p-quantile of periods?"""
    return _actual(actual_periods, "actual_periods") <= when_thresholds(values, counts, levels)


def how_many_met(
    values: ArrayLike, counts: ArrayLike, actual_items: Any, levels: ArrayLike = DEFAULT_LEVELS
) -> NDArray[np.bool_]:
    """Per level: were at least the forecast (1 - p)-quantile of items done?"""
    return _actual(actual_items, "actual_items") >= how_many_thresholds(values, counts, levels)


def when_met_quantiles(quantiles: ArrayLike, actual_periods: Any) -> NDArray[np.bool_]:
    """Quantile-array form of `when_met`: `quantiles` are the forecast's p-quantiles, one per level."""
    return _actual(actual_periods, "actual_periods") <= np.asarray(quantiles, dtype=float)


def how_many_met_quantiles(lower_quantiles: ArrayLike, actual_items: Any) -> NDArray[np.bool_]:
    """Quantile-array form of `how_many_met`: `lower_quantiles` are the (1 - p)-quantiles."""
    return _actual(actual_items, "actual_items") >= np.asarray(lower_quantiles, dtype=float)


def level_label(level: float) -> str:
    """0.85 -> "85", 0.975 -> "97.5": the keys of coverage tables."""
    return f"{round(float(level) * 100, 6):g}"


def coverage_from_hits(hits: ArrayLike, levels: ArrayLike = DEFAULT_LEVELS) -> dict[str, float]:
    """Share of origins that met each level; `hits` is (origins, levels) booleans."""
    level_array = np.atleast_1d(_levels(levels))
    hit_array = np.asarray(hits, dtype=bool)
    if hit_array.ndim != 2 or hit_array.shape[1] != level_array.size:
        raise InputError(
            "hits", hit_array.shape, f"must be a 2-D array (origins, {level_array.size} levels)"
        )
    if hit_array.shape[0] == 0:
        return {level_label(p): math.nan for p in level_array}
    shares = hit_array.mean(axis=0)
    return {level_label(p): float(s) for p, s in zip(level_array, shares, strict=True)}


# ---------------------------------------------------------------------------
# PIT


def _below_and_at(values: ArrayLike, counts: ArrayLike, actual: Any) -> tuple[float, float]:
    """(P(X < y), P(X = y)) of a histogram."""
    int_values, float_counts = _histogram(values, counts)
    y = _actual(actual)
    total = float_counts.sum()
    below = float_counts[int_values < y].sum() / total
    at = float_counts[int_values == y].sum() / total
    return float(below), float(at)


def pit_randomized(
    values: ArrayLike, counts: ArrayLike, actual: Any, rng: np.random.Generator
) -> float:
    """Randomised PIT F(y-1) + U P(y): exactly uniform on [0, 1] for a calibrated discrete forecast."""
    below, at = _below_and_at(values, counts, actual)
    return below + float(rng.random()) * at


def pit_mid(values: ArrayLike, counts: ArrayLike, actual: Any) -> float:
    """Mid-PIT F(y-1) + P(y)/2: deterministic, centred, but not exactly uniform."""
    below, at = _below_and_at(values, counts, actual)
    return below + 0.5 * at


def pit_histogram(pits: ArrayLike, bins: int = 10) -> NDArray[np.int64]:
    """Counts of PIT values in `bins` equal bins of [0, 1] (flat when calibrated)."""
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InputError("bins", bins, "must be a whole number >= 1")
    array = np.asarray(pits, dtype=float).ravel()
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array > 1):
        raise InputError("pits", pits, "each PIT value must lie in [0, 1]")
    counts, _ = np.histogram(array, bins=int(bins), range=(0.0, 1.0))
    return counts.astype(np.int64)


def pit_coverage(
    pits: ArrayLike, reading: str, levels: ArrayLike = DEFAULT_LEVELS
) -> dict[str, float]:
    """Coverage read from randomised PITs: free of the whole-number effect, so p when calibrated.

    "when" (done within the p-quantile) is met when PIT <= p; "how_many"
    (at least the (1 - p)-quantile) when PIT >= 1 - p. For a forecast that is
    the true law of a discrete outcome the randomised PIT is uniform, so both
    shares tend to exactly p, where the plain coverage of the same forecast
    tends to its "ideal" (>= p) instead.
    """
    if reading not in ("how_many", "when"):
        raise InputError("reading", reading, "must be 'how_many' or 'when'")
    level_array = np.atleast_1d(_levels(levels))
    array = np.asarray(pits, dtype=float).ravel()
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array > 1):
        raise InputError("pits", pits, "each PIT value must lie in [0, 1]")
    if array.size == 0:
        return {level_label(p): math.nan for p in level_array}
    if reading == "when":
        shares = (array[:, np.newaxis] <= level_array).mean(axis=0)
    else:
        shares = (array[:, np.newaxis] >= 1.0 - level_array).mean(axis=0)
    return {level_label(p): float(x) for p, x in zip(level_array, shares, strict=True)}


def ideal_from_probabilities(
    probabilities: ArrayLike, levels: ArrayLike = DEFAULT_LEVELS
) -> dict[str, float]:
    """Mean over origins of each forecast's own probability of being met, per level.

    `probabilities` is (origins, levels): at each origin, the probability the
    forecast itself gives to its level-p answer coming true (>= p on whole
    numbers). Its mean is the coverage a perfectly calibrated forecast of
    that discrete form would reach at those origins.
    """
    level_array = np.atleast_1d(_levels(levels))
    array = np.asarray(probabilities, dtype=float)
    if array.ndim != 2 or array.shape[1] != level_array.size:
        raise InputError(
            "ideal", array.shape, f"must be a 2-D array (origins, {level_array.size} levels)"
        )
    if array.shape[0] == 0:
        return {level_label(p): math.nan for p in level_array}
    means = array.mean(axis=0)
    return {level_label(p): float(x) for p, x in zip(level_array, means, strict=True)}


# ---------------------------------------------------------------------------
# pinball loss


def pinball_loss(quantiles: ArrayLike, levels: ArrayLike, actual: ArrayLike) -> Any:
    """Quantile (pinball) loss averaged over levels.

    `quantiles` has the levels on its last axis; `actual` broadcasts against the
    other axes (e.g. quantiles (H, Q) with actuals (H,) gives H losses).
    """
    level_array = np.atleast_1d(_levels(levels))
    quantile_array = np.asarray(quantiles, dtype=float)
    if quantile_array.shape[-1:] != level_array.shape:
        raise InputError(
            "quantiles", quantile_array.shape, f"last axis must hold {level_array.size} levels"
        )
    actual_array = np.asarray(actual, dtype=float)
    if not np.all(np.isfinite(actual_array)):
        raise InputError("actual", actual, "must be finite")
    error = actual_array[..., np.newaxis] - quantile_array
    loss = np.maximum(level_array * error, (level_array - 1.0) * error).mean(axis=-1)
    return float(loss) if loss.ndim == 0 else loss


def pinball_loss_histogram(
    values: ArrayLike, counts: ArrayLike, actual: Any, levels: ArrayLike
) -> float:
    """Pinball loss of a histogram forecast read at `levels` (inverted-CDF quantiles)."""
    level_array = np.atleast_1d(_levels(levels))
    quantiles = np.atleast_1d(quantile_from_histogram(values, counts, level_array)).astype(float)
    return float(pinball_loss(quantiles, level_array, _actual(actual)))


# ---------------------------------------------------------------------------
# CRPS


def crps_histogram(values: ArrayLike, counts: ArrayLike, actual: Any) -> float:
    """Exact CRPS of a distribution on the integers: sum over k of (F(k) - 1{y <= k})^2.

    Computed as the integral of (F(x) - 1{x >= y})^2 over the real line, which is
    the same sum for an integer y and stays exact for any real y.
    """
    int_values, float_counts = _histogram(values, counts)
    y = _actual(actual)
    cdf = np.cumsum(float_counts) / float_counts.sum()
    points = np.union1d(int_values.astype(float), [y])
    # F at each breakpoint (F is right-continuous and constant between breakpoints).
    index = np.searchsorted(int_values, points, side="right")
    cdf_at_points = np.concatenate(([0.0], cdf))[index]
    step = (points >= y).astype(float)
    widths = np.diff(points)
    return float(np.sum(widths * (cdf_at_points[:-1] - step[:-1]) ** 2))


def _crps_weighted(points: NDArray[np.float64], weights: NDArray[np.float64], y: float) -> float:
    """Exact CRPS E|X - y| - E|X - X'|/2 of the discrete law with `weights` (sum 1) on sorted `points`."""
    cumulative = np.cumsum(weights)
    below = cumulative - weights
    above = 1.0 - cumulative
    mean_abs_to_actual = float(np.sum(weights * np.abs(points - y)))
    mean_abs_pairwise = float(2.0 * np.sum(weights * points * (below - above)))
    return mean_abs_to_actual - 0.5 * mean_abs_pairwise


def crps_samples(samples: ArrayLike, actual: Any) -> float:
    """Exact CRPS of the empirical distribution of `samples` (O(n log n), no n^2 pairs)."""
    array = np.asarray(samples, dtype=float).ravel()
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise InputError("samples", samples, "must be a non-empty array of finite numbers")
    points = np.sort(array)
    weights = np.full(points.size, 1.0 / points.size)
    return _crps_weighted(points, weights, _actual(actual))


def crps_quantiles(quantiles: ArrayLike, levels: ArrayLike, actual: Any) -> float:
    """CRPS of a forecast given as quantiles at `levels` (1-D, strictly ascending).

    The quantile set is read as the discrete law that puts on each quantile the
    mass of its level's cell (cells split half-way between neighbouring levels,
    the outer cells reaching 0 and 1), and that law's CRPS is computed exactly.
    With evenly spaced mid-levels (i - 0.5)/m this equals twice the mean pinball
    loss, the usual quantile approximation of the CRPS integral; it tends to the
    CRPS of the underlying distribution as levels get dense.
    """
    level_array = np.atleast_1d(_levels(levels))
    if level_array.size > 1 and np.any(np.diff(level_array) <= 0):
        raise InputError("levels", levels, "must be strictly ascending")
    quantile_array = np.asarray(quantiles, dtype=float)
    if quantile_array.shape != level_array.shape or not np.all(np.isfinite(quantile_array)):
        raise InputError(
            "quantiles", quantiles, f"must be {level_array.size} finite numbers, one per level"
        )
    edges = np.concatenate(([0.0], (level_array[:-1] + level_array[1:]) / 2.0, [1.0]))
    weights = np.diff(edges)
    # Rearrangement: crossing quantiles are sorted, the standard fix that never hurts the score.
    return _crps_weighted(np.sort(quantile_array), weights, _actual(actual))


# ---------------------------------------------------------------------------
# point error


def median_abs_error(values: ArrayLike, counts: ArrayLike, actual: Any) -> float:
    """|median - actual| with the inverted-CDF median."""
    return abs(float(quantile_from_histogram(values, counts, 0.5)) - _actual(actual))


# ---------------------------------------------------------------------------
# blocks: per series, then pooled


def summarise_block(
    hits: ArrayLike,
    crps: ArrayLike,
    pinball: ArrayLike,
    median_abs_errors: ArrayLike,
    levels: ArrayLike = DEFAULT_LEVELS,
    ideal: ArrayLike | None = None,
    pits: ArrayLike | None = None,
    reading: str | None = None,
) -> dict[str, Any]:
    """Per-origin scores of one series (and one question) -> the block of the backtest JSON.

    Returns {"coverage": {"50": share, ...}, "crps", "pinball", "median_abs_error", "origins"}
    with means over origins (NaN when there are no origins). Given `ideal`
    (origins x levels, see `ideal_from_probabilities`) the block also holds
    "ideal"; given `pits` and their `reading` ("how_many" or "when") it holds
    "pit_coverage" (see `pit_coverage`).
    """
    hit_array = np.asarray(hits, dtype=bool)
    origins = int(hit_array.shape[0]) if hit_array.ndim == 2 else -1
    per_origin = {"crps": crps, "pinball": pinball, "median_abs_error": median_abs_errors}
    means: dict[str, float] = {}
    for name, scores in per_origin.items():
        array = np.asarray(scores, dtype=float).ravel()
        if array.size != origins:
            raise InputError(name, array.shape, f"must hold one score per origin ({origins})")
        means[name] = float(array.mean()) if array.size else math.nan
    block: dict[str, Any] = {"coverage": coverage_from_hits(hit_array, levels)}
    if ideal is not None:
        ideal_array = np.asarray(ideal, dtype=float)
        if ideal_array.ndim != 2 or ideal_array.shape[0] != origins:
            raise InputError(
                "ideal",
                ideal_array.shape,
                f"must hold one row of probabilities per origin ({origins})",
            )
        block["ideal"] = ideal_from_probabilities(ideal_array, levels)
    if pits is not None:
        if reading is None:
            raise InputError("reading", reading, "must be given with pits ('how_many' or 'when')")
        pit_array = np.asarray(pits, dtype=float).ravel()
        if pit_array.size != origins:
            raise InputError("pits", pit_array.shape, f"must hold one PIT per origin ({origins})")
        block["pit_coverage"] = pit_coverage(pit_array, reading, levels)
    return {**block, **means, "origins": origins}


def pool_blocks(blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Average blocks weighted by their "origins", recursing into nested mappings.

    Weighting by origins makes pooled coverage the share over all origins of all
    series. Blocks with 0 origins, and NaN entries, carry no weight.
    """
    weights = np.array([float(block.get("origins", 0)) for block in blocks], dtype=float)
    if np.any(weights < 0) or not np.all(np.isfinite(weights)):
        raise InputError(
            "blocks", [b.get("origins") for b in blocks], "origins must be counts >= 0"
        )
    return _pool(list(blocks), weights)


def _pool(blocks: list[Mapping[str, Any]], weights: NDArray[np.float64]) -> dict[str, Any]:
    pooled: dict[str, Any] = {}
    keys: list[str] = []
    for block in blocks:
        keys.extend(key for key in block if key not in keys)
    for key in keys:
        if key == "origins":
            pooled[key] = int(weights.sum())
            continue
        entries = [block.get(key) for block in blocks]
        if all(isinstance(entry, Mapping) for entry in entries if entry is not None):
            present = [i for i, entry in enumerate(entries) if entry is not None]
            nested = [entry for entry in entries if entry is not None]
            pooled[key] = _pool(nested, weights[present])
            continue
        try:
            numbers = np.array([math.nan if entry is None else float(entry) for entry in entries])
        except (TypeError, ValueError):
            raise InputError(
                key, entries, "block entries must be numbers or mappings of numbers"
            ) from None
        usable = np.isfinite(numbers) & (weights > 0)
        total = weights[usable].sum()
        pooled[key] = (
            float(np.sum(numbers[usable] * weights[usable]) / total) if total > 0 else math.nan
        )
    return pooled
