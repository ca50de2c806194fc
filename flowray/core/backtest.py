"""Rolling-origin backtests: how good would our forecasts have been, origin by origin?

At each origin t (a period index: the history is periods 0 .. t-1) a method sees
only the history before t (the last `window` periods, or all of it) and
forecasts the next H periods, answering both questions of docs/model.md:

- how many: the items done in periods t .. t+H-1, scored with the "at least X"
  reading (level p met when actual >= the (1-p)-quantile);
- when: the backlog is the items ACTUALLY done in those H periods, so the
  completion is observed, not computed. The observed completion period is the
  smallest k in 0..H whose cumulative actual reaches the backlog (k = 0 for a
  backlog of 0, k < H when the last periods of the horizon were empty). Scored
  with "within w periods" (met when k <= the p-quantile).

Monte Carlo methods are the engine's samplers (histograms from
`engine.simulate_chunks`); ML methods fit `ml.fit_forecaster` on the same
window, draw throughput paths and feed them to the same engine through
`samplers.path_sampler`. Every method sees the same origins and the same
seeds (common random numbers). A method name ending in CALIBRATED_SUFFIX adds
the calibration layer (`flowray.core.calibration`), which at origin t learns
only from forecasts of this series whose outcome was known before t.

Scores come from flowray.core.metrics: coverage, randomised PIT, pinball
loss (at the quantiles a user reads: 5/15/30/50% for how-many, 50/70/85/95%
for when), CRPS and |median error|, per series and pooled over series.

Deterministic given the seed; pure numpy (the Ray fan-out lives in tasks.py
and pipeline.py and calls `backtest_series` as is).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flowray.core import calibration, metrics, ml
from flowray.core.checks import MIN_PERIODS
from flowray.core.engine import Question, plan_chunks, simulate_chunks
from flowray.core.histograms import Histograms
from flowray.core.samplers import SAMPLERS, SamplerTable, build_sampler, path_sampler
from flowray.core.scenario import Scenario
from flowray.core.validation import whole_number
from flowray.exceptions import InputError

# --------------------------------------------------------------------------- constants

QUESTIONS: tuple[str, ...] = ("how_many", "when")
LEVELS: tuple[float, ...] = metrics.DEFAULT_LEVELS  # 0.5, 0.7, 0.85, 0.95
HOW_MANY_PINBALL_LEVELS: tuple[float, ...] = (0.05, 0.15, 0.3, 0.5)  # the "at least" quantiles
WHEN_PINBALL_LEVELS: tuple[float, ...] = LEVELS
MC_METHODS: tuple[str, ...] = SAMPLERS
ML_METHODS: tuple[str, ...] = ml.METHODS
BASE_METHODS: tuple[str, ...] = MC_METHODS + ML_METHODS
CALIBRATED_SUFFIX = "+cal"
WINDOWS: tuple[int | None, ...] = (12, 26, 52, None)  # None = all the history before the origin

# flowray's default, chosen by benchmarks/backtests.py on the 12 dev series (BACKTESTS.md):
# of the methods whose pooled coverage met the target at H = 4, 8 and 12, the best CRPS skill.
DEFAULT_METHOD = "recency+cal"
DEFAULT_WINDOW: int | None = 12
DEFAULT_HORIZON = 8
DEFAULT_STEP = 4
DEFAULT_RUNS = 2000
DEFAULT_FIRST_ORIGIN = 52  # periods of history before the first scored origin
MAX_HORIZON = 26  # half a year of weeks: the longest horizon backtested and reported
ML_PATHS = 1000  # ML throughput paths per origin
ML_MIN_FIRST_ORIGIN = ml.MIN_ML_PERIODS
WHEN_PERIODS_FACTOR = 5  # "when" runs stop at 5 x H periods (8 at least): later = not done
CALIBRATION_KIND = (
    "conformal"  # "pit": PIT map (cannot reach beyond the raw support); see BACKTESTS.md
)
ML_COST = 200  # an ML origin costs about this many Monte Carlo origins (progress weights)


def parse_method(name: str) -> tuple[str, bool]:
    """'block+cal' -> ('block', True); 'gbm' -> ('gbm', False)."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            "method",
            name,
            f"must be one of {', '.join(BASE_METHODS)} (add {CALIBRATED_SUFFIX} to calibrate)",
        )
    text = name.strip()
    calibrated = text.endswith(CALIBRATED_SUFFIX)
    base = text[: -len(CALIBRATED_SUFFIX)] if calibrated else text
    if base not in BASE_METHODS:
        raise InputError(
            "method",
            name,
            f"must be one of {', '.join(BASE_METHODS)}, optionally with {CALIBRATED_SUFFIX}",
        )
    return base, calibrated


def method_name(base: str, calibrated: bool) -> str:
    return base + (CALIBRATED_SUFFIX if calibrated else "")


# The default split into its sampler and the calibration flag (for pickers listing BASE_METHODS).
DEFAULT_BASE_METHOD, DEFAULT_CALIBRATED = parse_method(DEFAULT_METHOD)


def parse_window(value: Any) -> int | None:
    """12 / '12' -> 12; None / 'all' -> None (all the history before each origin)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InputError(
            "window", value, "must be a whole number of periods >= 1, or 'all'"
        ) from None
    if number < 1 or isinstance(value, bool):
        raise InputError("window", value, "must be a whole number of periods >= 1, or 'all'")
    return number


def window_label(window: int | None) -> int | str:
    return "all" if window is None else int(window)


# --------------------------------------------------------------------------- window arithmetic


def window_history(
    values: NDArray[np.float64], origin: int, window: int | None
) -> NDArray[np.float64]:
    """What a forecast at `origin` may see: periods max(0, origin - window) .. origin - 1."""
    if origin < 1 or origin > values.size:
        raise InputError("origin", origin, f"must lie in [1, {values.size}]")
    start = 0 if window is None else max(0, origin - int(window))
    return values[start:origin]


def completion_period(future: Sequence[float] | NDArray[np.float64], backlog: float) -> int:
    """Smallest k with sum(future[:k]) >= backlog (0 for a backlog of 0); -1 if never reached."""
    if backlog <= 0:
        return 0
    reached = np.flatnonzero(np.cumsum(np.asarray(future, dtype=float)) >= backlog - 1e-9)
    return int(reached[0]) + 1 if reached.size else -1


def actual_outcome(values: NDArray[np.float64], origin: int, horizon: int) -> tuple[int, int]:
    """(items done in the H periods after `origin`, observed completion period of that backlog)."""
    future = values[origin : origin + horizon]
    if future.size < horizon:
        raise InputError(
            "origin", origin, f"needs {horizon} periods after it (series has {values.size})"
        )
    items = int(round(float(future.sum())))
    return items, completion_period(future, items)


def origin_seed(seed: int, origin: int, horizon: int, question: str) -> int:
    """One seed per (seed, origin, horizon, question), shared by every method (common random numbers).

    Distinct tuples give distinct integers (origins < 10**6, horizons < 500);
    the engine turns each into its own independent stream (SeedSequence).
    """
    return ((int(seed) * 1_000_000 + int(origin)) * 500 + int(horizon)) * 2 + QUESTIONS.index(
        question
    )


def learning_origins(
    n_periods: int,
    horizon: int,
    base: str,
    first_origin: int,
    step: int,
    last_origin: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Origins forecast for one series, and which of them are scored.

    Scored origins: first_origin, first_origin + step, ... up to n - H (or
    `last_origin`, if that comes first); later origins are not forecast at all.
    Monte Carlo methods also forecast every earlier and in-between origin
    from MIN_PERIODS on (cheap), so the calibration layer has errors to learn
    from; ML methods (expensive) only extend the scored grid back in steps of
    `step` to ML_MIN_FIRST_ORIGIN.
    """
    last = n_periods - horizon
    if last_origin is not None:
        last = min(last, int(last_origin))
    if base in ML_METHODS:
        low = ML_MIN_FIRST_ORIGIN
        first = (
            first_origin - ((first_origin - low) // step) * step
            if first_origin >= low
            else first_origin
        )
        origins = np.arange(first, last + 1, step, dtype=np.int64)
    else:
        origins = np.arange(min(MIN_PERIODS, first_origin), last + 1, dtype=np.int64)
    scored = (origins >= first_origin) & ((origins - first_origin) % step == 0)
    return origins, scored


# --------------------------------------------------------------------------- one origin's forecasts


def _sparse(counts: np.ndarray) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    values = np.flatnonzero(counts)
    return values.astype(np.int64), counts[values].astype(np.float64)


@dataclass(frozen=True)
class Forecasts:
    """Histograms (values, counts) of one origin, keyed by (question, horizon)."""

    hists: dict[tuple[str, int], tuple[NDArray[np.int64], NDArray[np.float64]]]


@lru_cache(maxsize=4096)
def _question_scenario(backlog: int, max_periods: int) -> Scenario:
    """The scenario of a backtest question: a backlog and a horizon cap, nothing else.

    The throughput is drawn from the sampler table built on the origin's
    window, never from this scenario's placeholder history (which the
    engine only reads when no table is given).
    """
    return Scenario(throughput=(1.0,), backlog=backlog, max_periods=max_periods)


def _mc_table(history: NDArray[np.float64], base: str) -> SamplerTable:
    return build_sampler(history, base)


def _ml_table(
    history: NDArray[np.float64], base: str, max_horizon: int, seed: int, n_paths: int
) -> SamplerTable:
    forecaster = ml.fit_forecaster(history, base, horizon=max_horizon, seed=seed)
    paths = forecaster.sample_paths(n_paths, np.random.default_rng(seed))
    return path_sampler(paths.T)


def forecast_origin(
    values: NDArray[np.float64],
    origin: int,
    base: str,
    window: int | None,
    horizons: Sequence[int],
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    backlogs: Mapping[int, int] | None = None,
    ml_paths: int = ML_PATHS,
) -> Forecasts:
    """Every (question, H) forecast of one method at one origin, from the history before it only.

    `backlogs[H]` is the "when" backlog of horizon H (in a backtest: the
    items actually done in those H periods, see `actual_outcome`).
    Raises NotEnoughData for ML below ml.MIN_ML_PERIODS periods of window.
    """
    history = window_history(values, origin, window)
    chunks = plan_chunks(runs)
    max_h = max(horizons)
    out: dict[tuple[str, int], tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
    if not np.any(history > 0):  # nothing was ever done in the window: nothing will be
        for h in horizons:
            out[("how_many", h)] = (np.array([0]), np.array([float(runs)]))
            backlog = 0 if backlogs is None else int(backlogs[h])
            never = max(8, WHEN_PERIODS_FACTOR * h) + 1
            out[("when", h)] = (np.array([0 if backlog == 0 else never]), np.array([float(runs)]))
        return Forecasts(out)
    if base in ML_METHODS:
        table = _ml_table(
            history, base, max_h, origin_seed(seed, origin, max_h, "how_many"), ml_paths
        )
    else:
        table = _mc_table(history, base)
    for h in horizons:
        hist: Histograms = simulate_chunks(
            _question_scenario(0, 8),
            origin_seed(seed, origin, h, "how_many"),
            chunks,
            Question("how_many", h),
            table,
        )
        assert hist.items is not None  # a "how many" simulation always fills it
        out[("how_many", h)] = _sparse(hist.items)
        if backlogs is not None:
            when_scenario = _question_scenario(int(backlogs[h]), max(8, WHEN_PERIODS_FACTOR * h))
            hist = simulate_chunks(
                when_scenario, origin_seed(seed, origin, h, "when"), chunks, Question("when"), table
            )
            assert hist.periods is not None  # a "when" simulation always fills it
            out[("when", h)] = _sparse(hist.periods)
    return Forecasts(out)


# --------------------------------------------------------------------------- scoring


@dataclass
class Scores:
    """Per-origin scores of one (question, horizon), in origin order."""

    origins: list[int] = field(default_factory=list)
    actual: list[float] = field(default_factory=list)
    hits: list[NDArray[np.bool_]] = field(default_factory=list)
    pit: list[float] = field(default_factory=list)
    crps: list[float] = field(default_factory=list)
    pinball: list[float] = field(default_factory=list)
    median_abs_error: list[float] = field(default_factory=list)
    # the forecast's own probability of meeting each level (>= the level on integer outcomes):
    # the coverage a perfectly calibrated forecast would reach at these origins
    ideal: list[NDArray[np.float64]] = field(default_factory=list)

    def add(self, origin: int, actual: float, score: Mapping[str, Any]) -> None:
        self.origins.append(origin)
        self.actual.append(actual)
        for name in ("hits", "pit", "crps", "pinball", "median_abs_error", "ideal"):
            getattr(self, name).append(score[name])

    def frozen(self) -> Scores:
        """Lists -> arrays (compact, picklable, fast to pool)."""
        out = Scores()
        out.origins = np.asarray(self.origins, dtype=np.int64)  # type: ignore[assignment]
        out.actual = np.asarray(self.actual, dtype=float)  # type: ignore[assignment]
        out.hits = np.asarray(self.hits, dtype=bool).reshape(-1, len(LEVELS))  # type: ignore[assignment]
        out.ideal = np.asarray(self.ideal, dtype=float).reshape(-1, len(LEVELS))  # type: ignore[assignment]
        for name in ("pit", "crps", "pinball", "median_abs_error"):
            setattr(out, name, np.asarray(getattr(self, name), dtype=float))
        return out

    def block(self, question: str) -> dict[str, Any]:
        """The backtest JSON block of `question`: coverage next to ideal and PIT coverage, scores.

        "ideal" is what a perfectly calibrated forecast of this discrete form
        would reach at these origins; "pit_coverage" reads the same levels
        from the randomised PITs, where calibrated means exactly nominal.
        """
        return metrics.summarise_block(
            np.asarray(self.hits, dtype=bool).reshape(-1, len(LEVELS)),
            self.crps,
            self.pinball,
            self.median_abs_error,
            LEVELS,
            ideal=np.asarray(self.ideal, dtype=float).reshape(-1, len(LEVELS)),
            pits=self.pit,
            reading=question,
        )


class _Uniform:
    """A fixed uniform draw with a Generator's `random()`: the randomised PIT's U, the same for the
    raw and the calibrated forecast of one origin (so their PITs are comparable)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def _pit_rng(seed: int, origin: int, horizon: int, question: str) -> Any:
    """U of the randomised PIT of one (origin, horizon, question): a SplitMix64 hash of its seed."""
    z = (origin_seed(seed, origin, horizon, question) + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return _Uniform((z >> 11) * 2.0**-53)


_HOW_MANY_LEVELS = np.array([1.0 - p for p in LEVELS])  # "at least X" thresholds: (1 - p)-quantiles
_READ_LEVELS = {
    "how_many": np.concatenate((_HOW_MANY_LEVELS, HOW_MANY_PINBALL_LEVELS, [0.5])),
    "when": np.concatenate((LEVELS, WHEN_PINBALL_LEVELS, [0.5])),
}


def score_forecast(
    question: str,
    values: NDArray[np.int64],
    counts: NDArray[np.float64],
    actual: float,
    rng: Any,
) -> dict[str, Any]:
    """All scores of one forecast histogram against its actual (via flowray.core.metrics).

    The quantiles are read once (inverted CDF) and scored with the quantile
    forms of the metrics, which give the same numbers as the histogram forms.
    """
    n = len(LEVELS)
    quantiles = np.asarray(
        metrics.quantile_from_histogram(values, counts, _READ_LEVELS[question]), dtype=float
    )
    thresholds, pinball_q, median = quantiles[:n], quantiles[n : 2 * n], quantiles[-1]
    if question == "how_many":
        hits = metrics.how_many_met_quantiles(thresholds, actual)
        pinball = metrics.pinball_loss(pinball_q, HOW_MANY_PINBALL_LEVELS, actual)
        ideal = 1.0 - metrics.cdf_from_histogram(values, counts, thresholds - 1)
    else:
        hits = metrics.when_met_quantiles(thresholds, actual)
        pinball = metrics.pinball_loss(pinball_q, WHEN_PINBALL_LEVELS, actual)
        ideal = metrics.cdf_from_histogram(values, counts, thresholds)
    return {
        "hits": hits,
        "ideal": ideal,
        "pit": metrics.pit_randomized(values, counts, actual, rng),
        "crps": metrics.crps_histogram(values, counts, actual),
        "pinball": float(pinball),
        "median_abs_error": abs(float(median) - float(actual)),
    }


# --------------------------------------------------------------------------- one series


@dataclass
class SeriesBacktest:
    """Scores of one method (raw and calibrated) on one series, per (question, horizon)."""

    name: str
    base: str
    window: int | None
    horizons: tuple[int, ...]
    raw: dict[tuple[str, int], Scores]
    calibrated: dict[tuple[str, int], Scores]
    n_periods: int
    skipped: str | None = None  # why nothing was scored (too short for the method), if so
    calibrated_scores: bool = True  # False: only raw forecasts were scored

    def scores(self, calibrated: bool, question: str, horizon: int) -> Scores:
        if calibrated and not self.calibrated_scores:
            raise InputError(
                "method",
                method_name(self.base, True),
                "was backtested without the calibration layer",
            )
        return (self.calibrated if calibrated else self.raw)[(question, horizon)]


def backtest_series(
    name: str,
    values: Sequence[float] | NDArray[np.float64],
    base: str,
    window: int | None,
    horizons: Sequence[int] = (DEFAULT_HORIZON,),
    step: int = DEFAULT_STEP,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    first_origin: int = DEFAULT_FIRST_ORIGIN,
    ml_paths: int = ML_PATHS,
    calibrate: bool = True,
    last_origin: int | None = None,
) -> SeriesBacktest:
    """Backtest one method on one series: raw and calibrated scores at every scored origin.

    With calibrate=False only the scored origins are forecast (no learning
    origins in between) and the calibrated scores stay empty. `first_origin`
    and `last_origin` (periods from the series' start) bound the scored
    origins, e.g. to young histories; the origins before them still teach
    the calibration, exactly as in a backtest without the bounds.

    The calibrated forecast at origin t applies `calibration.fit_calibration`
    to the raw PITs of this series' earlier forecasts (same method, question
    and horizon) made at origins s with s + H <= t: only outcomes known at t.
    """
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or not np.all(np.isfinite(array)) or np.any(array < 0):
        raise InputError(
            f"series {name}", array.shape, "must be a 1-D list of throughput values >= 0"
        )
    if base not in BASE_METHODS:
        raise InputError("method", base, f"must be one of {', '.join(BASE_METHODS)}")
    horizons = tuple(whole_number("horizon", h, 1, MAX_HORIZON) for h in horizons)
    step = whole_number("step", step, 1)
    runs = whole_number("runs", runs, 1)
    first_origin, last_origin = check_origin_bounds(first_origin, last_origin)
    if base in ML_METHODS:
        first_origin = max(first_origin, ML_MIN_FIRST_ORIGIN)
    keys = [(q, h) for h in horizons for q in QUESTIONS]
    raw = {k: Scores() for k in keys}
    cal = {k: Scores() for k in keys}
    result = SeriesBacktest(name, base, window, horizons, raw, cal, int(array.size))
    if base in ML_METHODS and window is not None and window < ml.MIN_ML_PERIODS:
        result.skipped = f"ML needs a window of at least {ml.MIN_ML_PERIODS} periods"
        return _freeze(result)
    max_h = max(horizons)
    origins, scored = learning_origins(array.size, max_h, base, first_origin, step, last_origin)
    if not calibrate:
        origins, scored = origins[scored], scored[scored]
    result.calibrated_scores = bool(calibrate)
    if not scored.any():
        upto = "" if last_origin is None else f" (up to {last_origin})"
        result.skipped = f"{array.size} periods: no origin with {first_origin} periods before it{upto} and {max_h} after"
        return _freeze(result)
    past: dict[tuple[str, int], tuple[list[int], list[float]]] = {k: ([], []) for k in keys}
    past_z: dict[tuple[str, int], list[float]] = {k: [] for k in keys}
    for origin, is_scored in zip(origins.tolist(), scored.tolist(), strict=True):
        outcomes = {h: actual_outcome(array, origin, h) for h in horizons}
        forecasts = forecast_origin(
            array,
            origin,
            base,
            window,
            horizons,
            runs,
            seed,
            backlogs={h: outcomes[h][0] for h in horizons},
            ml_paths=ml_paths,
        )
        for question, h in keys:
            actual = float(outcomes[h][0] if question == "how_many" else outcomes[h][1])
            hist_values, counts = forecasts.hists[(question, h)]
            past_origins, past_pits = past[(question, h)]
            if is_scored:
                score = score_forecast(
                    question, hist_values, counts, actual, _pit_rng(seed, origin, h, question)
                )
                raw[(question, h)].add(origin, actual, score)
                if not calibrate:
                    continue
                if CALIBRATION_KIND == "pit":
                    cmap = calibration.fit_calibration(
                        calibration.usable_pits(past_origins, past_pits, h, origin)
                    )
                    cal_counts = (
                        calibration.calibrate_counts(counts, cmap) if cmap.active else counts
                    )
                    cal_values = hist_values
                else:
                    zmap = calibration.fit_conformal(
                        calibration.usable_pits(past_origins, past_z[(question, h)], h, origin)
                    )
                    spread_q = metrics.quantile_from_histogram(
                        hist_values, counts, calibration.SPREAD_LEVELS
                    )
                    cal_values, cal_counts = (
                        calibration.conformal_histogram(hist_values, counts, spread_q, zmap)
                        if zmap.active
                        else (hist_values, counts)
                    )
                keep = cal_counts > 0
                cal_score = score_forecast(
                    question,
                    cal_values[keep],
                    cal_counts[keep],
                    actual,
                    _pit_rng(seed, origin, h, question),
                )
                cal[(question, h)].add(origin, actual, cal_score)
                pit = score["pit"]
            else:
                pit = metrics.pit_randomized(
                    hist_values, counts, actual, _pit_rng(seed, origin, h, question)
                )
            past_origins.append(origin)
            past_pits.append(pit)
            if CALIBRATION_KIND != "pit":
                spread_q = metrics.quantile_from_histogram(
                    hist_values, counts, calibration.SPREAD_LEVELS
                )
                past_z[(question, h)].append(calibration.standardised_error(spread_q, actual))
    return _freeze(result)


def _freeze(result: SeriesBacktest) -> SeriesBacktest:
    result.raw = {k: s.frozen() for k, s in result.raw.items()}
    result.calibrated = {k: s.frozen() for k, s in result.calibrated.items()}
    return result


@dataclass(frozen=True)
class BacktestOptions:
    """How every series of a backtest is scored: horizons, origins, runs, seed, calibration."""

    horizons: tuple[int, ...] = (DEFAULT_HORIZON,)
    step: int = DEFAULT_STEP
    runs: int = DEFAULT_RUNS
    seed: int = 0
    first_origin: int = DEFAULT_FIRST_ORIGIN
    ml_paths: int = ML_PATHS
    calibrate: bool = True  # run the calibration layer (needed only when a '+cal' method is asked)
    last_origin: int | None = None  # the last scored origin (None: as late as each series allows)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "horizons",
            tuple(whole_number("horizon", h, 1, MAX_HORIZON) for h in self.horizons),
        )
        object.__setattr__(self, "step", whole_number("step", self.step, 1))
        object.__setattr__(self, "runs", whole_number("runs", self.runs, 1))
        object.__setattr__(self, "seed", whole_number("seed", self.seed, 0))
        first, last = check_origin_bounds(self.first_origin, self.last_origin)
        object.__setattr__(self, "first_origin", first)
        object.__setattr__(self, "last_origin", last)

    def check_lengths(
        self, lengths: Mapping[str, int], labels: Mapping[str, str] | None = None
    ) -> None:
        """Refuse a backtest that no series can score: origins or horizon beyond every series.

        A series too short for these bounds is skipped (and says why); when
        all are, the user asked for something the history does not hold.
        `labels` renames the fields in the error (e.g. to the CLI's flags).
        """
        if not lengths:
            return
        label = {"horizon": "horizon", "first_origin": "first_origin", **(labels or {})}
        longest = max(lengths.values())
        max_h = max(self.horizons)
        if max_h > longest - MIN_PERIODS:
            raise InputError(
                label["horizon"],
                max_h,
                f"must leave {MIN_PERIODS} periods of history: the longest series has "
                f"{longest} periods, so at most {max(longest - MIN_PERIODS, 0)}",
            )
        if self.first_origin > longest - max_h:
            raise InputError(
                label["first_origin"],
                self.first_origin,
                f"is beyond the series: with horizon {max_h} the longest series "
                f"({longest} periods) has origins up to {longest - max_h}",
            )

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `backtest_series`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_origin_bounds(first_origin: Any, last_origin: Any) -> tuple[int, int | None]:
    """Validated (first, last) scored origins, in periods from a series' start.

    An origin is the number of periods of history before it, so the first
    must leave MIN_PERIODS of history; the last (None: as late as the data
    allows) may not come before the first.
    """
    first = whole_number("first_origin", first_origin, MIN_PERIODS)
    if last_origin is None:
        return first, None
    last = whole_number("last_origin", last_origin, MIN_PERIODS)
    if last < first:
        raise InputError("last_origin", last_origin, f"must not come before first_origin ({first})")
    return first, last


def backtest_series_task(
    name: str, values: Sequence[float], base: str, window: int | None, options: BacktestOptions
) -> dict[tuple[str, str, int | None], SeriesBacktest]:
    """One task of a backtest job: {(series, base method, window): result} (merges by union)."""
    return {
        (name, base, window): backtest_series(name, values, base, window, **options.as_kwargs())
    }


def merge_series_results(
    parts: Iterable[Mapping[Any, SeriesBacktest]],
) -> dict[Any, SeriesBacktest]:
    """Union of task results (order-independent: keys never collide)."""
    merged: dict[Any, SeriesBacktest] = {}
    for part in parts:
        for key, value in part.items():
            if key in merged:
                raise ValueError(f"backtest result {key} would be counted twice")
            merged[key] = value
    return merged
