"""The pooled calibration prior: how the default method's forecasts missed, across many real teams.

Why: the calibration layer learns from a series' own past forecast errors, and
an H-week forecast's error is known only H weeks later, so a young team has
few or none. Forecast errors of the same method behave alike across teams (a
12-week sample is over-confident everywhere, more so the further it looks),
so the errors of many real series are a sound prior: a series with no own
errors is calibrated by them, and its own errors take over as they accrue
(`calibration.fit_conformal_with_prior`, weight in `calibration.prior_share`).

The prior is a small JSON file in flowray/data/ (quantiles of standardised
errors by question and horizon), rebuilt by scripts/build_calibration_prior.py
from the series in tests/fixtures/throughput/ (the tuning part of them). Reading
that file is the one thing here that touches a file: it ships inside the
package, so it is read like code, once per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowray.core import calibration, metrics
from flowray.core.backtest import QUESTIONS, actual_outcome, forecast_origin
from flowray.core.checks import MIN_PERIODS
from flowray.core.validation import finite_number, whole_number
from flowray.exceptions import InputError

PRIOR_FILE = "calibration_prior.json"
FORMAT = 1
HORIZONS: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20, 26, 39, 52)
"""Horizons the prior is stored at; a forecast at another horizon reads the nearest one."""
QUANTILES = 100
"""Error quantiles stored per (question, horizon), at levels (i - 1/2) / QUANTILES."""
TUNING_DIGITS = "0123456789"
"""A series is in the tuning part when the sha256 of its file stem starts with one of these."""


@dataclass(frozen=True)
class CalibrationPrior:
    """Pooled error quantiles of one method on one window, by (question, horizon)."""

    method: str  # the sampler whose errors these are ("recency")
    window: int | None  # its window (12)
    strength: float  # the prior counts as this many own past errors
    teams: int  # real series it was learned from
    errors: Mapping[tuple[str, int], NDArray[np.float64]]

    def applies_to(self, base: str, window: int | None) -> bool:
        """The prior holds one method's errors: other samplers and windows miss differently."""
        return base == self.method and window == self.window

    def horizon_for(self, question: str, horizon: int) -> int:
        """The stored horizon nearest to `horizon` (the longer one on a tie)."""
        stored = sorted(h for q, h in self.errors if q == question)
        if not stored:
            raise InputError("question", question, f"must be one of {', '.join(QUESTIONS)}")
        return min(stored, key=lambda h: (abs(h - int(horizon)), -h))

    def errors_for(self, question: str, horizon: int) -> NDArray[np.float64]:
        return self.errors[(question, self.horizon_for(question, horizon))]


def parse_prior(document: Mapping[str, Any]) -> CalibrationPrior:
    """A prior from its JSON document, checked: bad files raise InputError naming the field."""
    if not isinstance(document, Mapping):
        raise InputError("prior", type(document).__name__, "must be a JSON object")
    if document.get("format") != FORMAT:
        raise InputError("prior.format", document.get("format"), f"must be {FORMAT}")
    method = document.get("method")
    if not isinstance(method, str) or not method:
        raise InputError("prior.method", method, "must name a sampler")
    raw_window = document.get("window")
    window = None if raw_window is None else whole_number("prior.window", raw_window, 1)
    strength = finite_number("prior.strength", document.get("strength"), 0.0)
    if strength <= 0:
        raise InputError("prior.strength", strength, "must be a number > 0")
    teams = whole_number("prior.teams", document.get("teams"), 1)
    table = document.get("errors")
    if not isinstance(table, Mapping) or set(table) != set(QUESTIONS):
        raise InputError("prior.errors", table and sorted(table), f"must hold {QUESTIONS}")
    errors: dict[tuple[str, int], NDArray[np.float64]] = {}
    for question in QUESTIONS:
        by_horizon = table[question]
        if not isinstance(by_horizon, Mapping) or not by_horizon:
            raise InputError(f"prior.errors.{question}", by_horizon, "must map horizons to lists")
        for key, values in by_horizon.items():
            h = whole_number(f"prior.errors.{question} horizon", key, 1)
            field = f"prior.errors.{question}.{h}"
            try:
                atoms = np.asarray(values, dtype=float)
            except (TypeError, ValueError):
                raise InputError(field, str(values)[:40], "must be a list of numbers") from None
            if atoms.ndim != 1 or atoms.size < 2 or not np.all(np.isfinite(atoms)):
                raise InputError(field, atoms.size, "must be at least 2 finite numbers")
            if np.any(np.diff(atoms) < 0):
                raise InputError(field, "unsorted", "must be quantiles in ascending order")
            errors[(question, h)] = atoms
    return CalibrationPrior(method, window, strength, teams, errors)


@lru_cache(maxsize=1)
def load_prior() -> CalibrationPrior:
    """The prior shipped in flowray/data/ (read and checked once per process)."""
    import json
    from importlib import resources

    text = resources.files("flowray.data").joinpath(PRIOR_FILE).read_text(encoding="utf-8")
    return parse_prior(json.loads(text))


def prior_map(
    own_errors: Sequence[float] | NDArray[np.float64],
    question: str,
    horizon: int,
    prior: CalibrationPrior | None = None,
) -> calibration.ConformalMap:
    """The map of a forecast at `horizon`: its own past errors blended with the pooled prior."""
    prior = prior or load_prior()
    return calibration.fit_conformal_with_prior(
        own_errors, prior.errors_for(question, horizon), prior.strength, prior.teams
    )


# --------------------------------------------------------------------------- learning the prior


def is_tuning(stem: str) -> bool:
    """The split rule: tuning when sha256 of "owner__name" starts with 0-9, hold-out for a-f."""
    return hashlib.sha256(stem.encode("utf-8")).hexdigest()[0] in TUNING_DIGITS


def series_errors(
    values: Sequence[float] | NDArray[np.float64],
    horizons: Sequence[int],
    base: str,
    window: int | None,
    runs: int,
    seed: int,
    first_origin: int = MIN_PERIODS,
    last_origin: int | None = None,
) -> dict[tuple[str, int], tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """(origins, standardised errors) of every resolved forecast of one series, by (question, H).

    The same forecasts and errors as `live_calibration` learns from (same
    seeds), made at origins first_origin .. last_origin (default: the last
    origin whose outcome is known).
    """
    array = np.asarray(values, dtype=float)
    out: dict[tuple[str, int], tuple[list[int], list[float]]] = {
        (q, h): ([], []) for q in QUESTIONS for h in horizons
    }
    top = array.size - min(horizons) if last_origin is None else int(last_origin)
    for origin in range(int(first_origin), top + 1):
        known = tuple(h for h in horizons if origin + h <= array.size)
        if not known:
            continue
        outcomes = {h: actual_outcome(array, origin, h) for h in known}
        forecasts = forecast_origin(
            array, origin, base, window, known, runs, seed, {h: outcomes[h][0] for h in known}
        )
        for h in known:
            for question in QUESTIONS:
                hist_values, counts = forecasts.hists[(question, h)]
                actual = outcomes[h][0] if question == "how_many" else outcomes[h][1]
                spread = metrics.quantile_from_histogram(
                    hist_values, counts, calibration.SPREAD_LEVELS
                )
                origins, errors = out[(question, h)]
                origins.append(origin)
                errors.append(calibration.standardised_error(spread, float(actual)))
    return {
        key: (np.asarray(o, dtype=np.int64), np.asarray(e, dtype=float))
        for key, (o, e) in out.items()
    }


def pooled_quantiles(
    per_series: Sequence[NDArray[np.float64]], quantiles: int = QUANTILES
) -> NDArray[np.float64]:
    """Quantiles of errors pooled over series, each series weighing the same (long ones don't rule).

    The quantile at level p is the smallest error whose weighted CDF reaches p
    (the inverted CDF, as everywhere in flowray), at p = (i - 1/2) / quantiles.
    """
    kept = [np.asarray(e, dtype=float) for e in per_series if np.asarray(e).size]
    if not kept:
        raise InputError("errors", 0, "need at least one series with errors")
    values = np.concatenate(kept)
    weights = np.concatenate([np.full(e.size, 1.0 / (e.size * len(kept))) for e in kept])
    order = np.argsort(values, kind="stable")
    cdf = np.cumsum(weights[order])
    levels = (np.arange(1, quantiles + 1) - 0.5) / quantiles
    index = np.minimum(np.searchsorted(cdf, levels - 1e-12), values.size - 1)
    return values[order][index]
