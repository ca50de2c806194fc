"""Recalibration of forecast distributions from their own past errors (PIT recalibration).

Why: Monte Carlo on a short window of real, noisy throughput is usually
over-confident (the world changes more than a bootstrap of 26 weeks admits).
If a series' past forecasts put the actual at their 90th percentile or beyond
far more often than 10% of the time, the next forecast should say so.

How (Kuleshov et al. 2018, "calibrated regression"; the same idea as a
conformal adjustment of quantile levels):

- Each past forecast F_s leaves one probability integral transform
  u_s = F_s(y_s) (randomised for integer-valued forecasts, so that a calibrated
  forecast gives exactly uniform u). A past forecast counts only once its
  outcome is known, i.e. for an H-period forecast made at origin s, from
  origin s + H on: the caller passes only those (see `usable_pits`).
- The map C(x) = (1 - lam) x + lam ECDF(x) is the share of past PITs at or
  below x, shrunk toward the identity with lam = n / (n + SHRINK_COUNT), and
  off (the identity) below MIN_PAST_ERRORS past errors. ECDF interpolates
  linearly between the plotting positions (i - 1/2) / n of the sorted PITs,
  so C is continuous and increasing from C(0) = 0 to C(1) = 1.
- The calibrated forecast is G(v) = C(F(v)): read at nominal level p, it gives
  the raw forecast's quantile at level C^-1(p), the level that was met a share
  p of the time in the past. Its support stays the raw forecast's support.

Pure numpy; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flowray.exceptions import InputError

MIN_PAST_ERRORS = 12
"""Below this many known past errors the map is the identity (too little evidence)."""

SHRINK_COUNT = 2.0
"""Shrinkage toward the raw forecast: weight n / (n + SHRINK_COUNT) on the past errors."""

MAX_PAST_ERRORS: int | None = None
"""How many of the most recent past errors count (None: all). In the study, memory helped more
than adaptivity: 104 or 156 recent errors under-covered more than all of them (BACKTESTS.md)."""


@dataclass(frozen=True)
class CalibrationMap:
    """C(x): the calibrated probability of a raw cumulative probability x."""

    knots_x: NDArray[np.float64]  # raw cumulative probabilities, ascending, from 0 to 1
    knots_y: NDArray[np.float64]  # calibrated probabilities at those points
    n_errors: int
    weight: float  # lam: 0 = identity (not enough past errors)

    @property
    def active(self) -> bool:
        return self.weight > 0.0

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        return np.interp(np.asarray(x, dtype=float), self.knots_x, self.knots_y)

    def raw_level(self, p: ArrayLike) -> NDArray[np.float64] | float:
        """The raw level to read for a calibrated level p: C^-1(p)."""
        array = np.asarray(p, dtype=float)
        result = np.interp(array, self.knots_y, self.knots_x)
        return float(result) if result.ndim == 0 else result

    def to_dict(self) -> dict[str, object]:
        levels = (0.05, 0.15, 0.5, 0.85, 0.95)
        return {
            "n_errors": self.n_errors,
            "weight": self.weight,
            "raw_level": {f"{round(p * 100):d}": float(self.raw_level(p)) for p in levels},
        }


IDENTITY = CalibrationMap(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0, 0.0)


def fit_calibration(
    past_pits: ArrayLike,
    min_errors: int = MIN_PAST_ERRORS,
    shrink_count: float = SHRINK_COUNT,
    max_errors: int | None = MAX_PAST_ERRORS,
) -> CalibrationMap:
    """The map learned from past PIT values (oldest first); identity below `min_errors`."""
    pits = np.asarray(past_pits, dtype=float).ravel()
    if not np.all(np.isfinite(pits)) or np.any(pits < 0) or np.any(pits > 1):
        raise InputError("past_pits", pits.size, "each PIT value must lie in [0, 1]")
    if max_errors is not None:
        pits = pits[-int(max_errors) :]
    n = pits.size
    if n < max(1, int(min_errors)):
        return CalibrationMap(IDENTITY.knots_x, IDENTITY.knots_y, n, 0.0)
    weight = n / (n + float(shrink_count))
    ordered = np.sort(pits)
    positions = (np.arange(1, n + 1) - 0.5) / n
    # ECDF through the plotting positions, pinned at (0, 0) and (1, 1); ties get one knot
    # (the mean position), so the map stays a function.
    xs, inverse = np.unique(ordered, return_inverse=True)
    ys = np.bincount(inverse, weights=positions) / np.bincount(inverse)
    keep = (xs > 0.0) & (xs < 1.0)
    knots_x = np.concatenate(([0.0], xs[keep], [1.0]))
    ecdf = np.concatenate(([0.0], ys[keep], [1.0]))
    # The identity part is linear, so mixing at the knots is exact.
    knots_y = (1.0 - weight) * knots_x + weight * ecdf
    return CalibrationMap(knots_x, np.maximum.accumulate(knots_y), n, float(weight))


def usable_pits(
    origins: Sequence[int] | NDArray[np.int64],
    pits: Sequence[float] | NDArray[np.float64],
    horizon: int,
    origin: int,
) -> NDArray[np.float64]:
    """Past PITs whose outcome is known at `origin`: forecasts made at s with s + horizon <= origin.

    An H-period forecast made at origin s is resolved by the actuals of periods
    s .. s + H - 1, which are all history once the origin reaches s + H. Later
    forecasts' errors would leak the future into the calibration.
    """
    origin_array = np.asarray(origins, dtype=np.int64)
    pit_array = np.asarray(pits, dtype=float)
    if origin_array.shape != pit_array.shape:
        raise InputError("pits", pit_array.shape, f"must match origins {origin_array.shape}")
    return pit_array[origin_array + int(horizon) <= int(origin)]


def calibrate_counts(counts: ArrayLike, cmap: CalibrationMap) -> NDArray[np.float64]:
    """Recalibrate a histogram: new probabilities G(v) - G(v - 1) with G = C(F); sums to 1."""
    array = np.asarray(counts, dtype=float)
    total = array.sum()
    if array.ndim != 1 or total <= 0:
        raise InputError("counts", array.shape, "must be a 1-D histogram with a positive total")
    cdf = np.cumsum(array) / total
    cdf[-1] = 1.0
    calibrated = cmap(cdf)
    calibrated[-1] = 1.0
    return np.diff(np.concatenate(([0.0], calibrated)))


def integer_counts(probabilities: ArrayLike, total: int) -> NDArray[np.int64]:
    """Probabilities -> whole counts summing to `total` (largest remainders), for result objects."""
    p = np.clip(np.asarray(probabilities, dtype=float), 0.0, None)
    scaled = p / p.sum() * int(total)
    counts = np.floor(scaled).astype(np.int64)
    short = int(total) - int(counts.sum())
    if short > 0:
        order = np.argsort(-(scaled - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


# --------------------------------------------------------------------------- conformal (value space)

SPREAD_LEVELS = (0.1, 0.5, 0.9)
MIN_SPREAD = 0.5


def standardised_error(quantiles: ArrayLike, actual: float) -> float:
    """(actual - median) / half the forecast's 10-90% range (at least MIN_SPREAD)."""
    q10, q50, q90 = (float(v) for v in np.asarray(quantiles, dtype=float))
    return (float(actual) - q50) / max((q90 - q10) / 2.0, MIN_SPREAD)


@dataclass(frozen=True)
class ConformalMap:
    """Past standardised errors z: a new forecast becomes median + spread x z (mixed with itself).

    With a pooled prior (`prior`, quantiles of the errors of many real teams'
    forecasts), the errors' law is the mixture own_share x (own errors) +
    (1 - own_share) x (prior): a young series with few own errors leans on what
    other teams' forecasts got wrong, and its own errors take over as they accrue.
    """

    errors: NDArray[np.float64]  # this series' own past errors, oldest first
    weight: float  # share of the calibrated law taken from the errors (the rest: the raw forecast)
    prior: NDArray[np.float64] | None = None  # pooled error quantiles (equal weights), or None
    own_share: float = 1.0  # share of the errors' law taken from the own errors
    prior_teams: int = 0  # how many real series the prior was learned from

    @property
    def active(self) -> bool:
        return self.weight > 0.0

    @property
    def n_errors(self) -> int:
        """The series' own past errors (the prior's quantiles are not counted)."""
        return int(self.errors.size)

    @property
    def uses_prior(self) -> bool:
        return self.active and self.prior is not None and self.own_share < 1.0

    def atoms(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The errors' law as (errors, probabilities summing to 1)."""
        own = self.errors
        if not self.uses_prior:
            return own, np.full(own.size, 1.0 / own.size)
        assert self.prior is not None  # uses_prior says so
        own_p = np.full(own.size, self.own_share / max(own.size, 1))
        prior_p = np.full(self.prior.size, (1.0 - self.own_share) / self.prior.size)
        return np.concatenate((own, self.prior)), np.concatenate((own_p, prior_p))


def fit_conformal(
    past_errors: ArrayLike,
    min_errors: int = MIN_PAST_ERRORS,
    shrink_count: float = SHRINK_COUNT,
    max_errors: int | None = MAX_PAST_ERRORS,
) -> ConformalMap:
    """The map learned from a series' own past errors alone; identity below `min_errors`."""
    errors = np.asarray(past_errors, dtype=float).ravel()
    if max_errors is not None:
        errors = errors[-int(max_errors) :]
    if errors.size < max(1, int(min_errors)):
        return ConformalMap(errors, 0.0)
    return ConformalMap(errors, errors.size / (errors.size + float(shrink_count)))


def prior_share(n_errors: int, strength: float) -> float:
    """Weight of the pooled prior beside n own errors: strength / (n + strength).

    The empirical-Bayes reading: the prior counts as `strength` past errors of
    this series, so it carries a series with none and fades as its own accrue.
    """
    return float(strength) / (int(n_errors) + float(strength))


def fit_conformal_with_prior(
    past_errors: ArrayLike, prior: ArrayLike, strength: float, teams: int
) -> ConformalMap:
    """The map from a series' own past errors blended with a pooled prior of error quantiles.

    The prior replaces the raw forecast as what the own errors are shrunk toward:
    the raw forecast is known to be over-confident, the pooled errors are what
    real teams' forecasts of the same method actually missed by.
    """
    errors = np.asarray(past_errors, dtype=float).ravel()
    atoms = np.asarray(prior, dtype=float).ravel()
    if atoms.size == 0 or not np.all(np.isfinite(atoms)):
        raise InputError("prior", atoms.size, "must hold at least one finite error quantile")
    if not np.all(np.isfinite(errors)):
        raise InputError("past_errors", errors.size, "each past error must be a finite number")
    own_share = 1.0 - prior_share(errors.size, strength)
    return ConformalMap(errors, 1.0, atoms, own_share, int(teams))


def conformal_histogram(
    values: ArrayLike, counts: ArrayLike, quantiles: ArrayLike, cmap: ConformalMap
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """(1 - w) x the forecast + w x the law of round(median + spread x z) over the errors z (>= 0).

    The errors are the map's own past errors, mixed with its pooled prior when it has one.
    """
    v = np.asarray(values, dtype=np.int64)
    c = np.asarray(counts, dtype=float)
    c = c / c.sum()
    q10, q50, q90 = (float(x) for x in np.asarray(quantiles, dtype=float))
    spread = max((q90 - q10) / 2.0, MIN_SPREAD)
    errors, probabilities = cmap.atoms()
    atoms = np.maximum(np.rint(q50 + spread * errors), 0).astype(np.int64)
    all_values = np.concatenate((v, atoms))
    atom_weights = (
        cmap.weight * probabilities
        if cmap.uses_prior
        else np.full(atoms.size, cmap.weight / atoms.size)  # own errors only: equal weights
    )
    weights = np.concatenate(((1.0 - cmap.weight) * c, atom_weights))
    out_values, inverse = np.unique(all_values, return_inverse=True)
    return out_values, np.asarray(np.bincount(inverse, weights=weights), dtype=np.float64)
