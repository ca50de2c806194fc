"""Machine-learning forecasters of weekly throughput, with real predictive intervals.

What a reviewer must know:

- Features: ONE function, `build_features`, makes the feature rows for training
  and for prediction. Row t holds what was known before period t (lag 1 is the
  most recent period, t - 1) and is used to forecast y[t]. Training rows are the
  rows t = n_lags .. T-1 of the history; the prediction row is row T; the
  simulation calls the same function on each simulated path. Nothing at or
  after t enters row t.
- Models: each method is a one-step-ahead *conditional distribution* of next
  period's throughput given the features:
  * "gbm": GradientBoostingRegressor(loss="quantile"), one small model per level
    of `MODEL_LEVELS`, quantile crossings sorted away (rearrangement);
  * "forest": a quantile regression forest (Meinshausen 2006): a
    RandomForestRegressor whose leaves keep every training target; the
    conditional law is the mixture, over trees, of the targets sharing the
    query's leaf;
  * "linear": linear quantile regression (QuantileRegressor, one per level of
    `MODEL_LEVELS`, small L1 penalty on standardised features): the baseline.
  The spread is each model's own predictive distribution, never the spread
  between models.
- Multi-step uncertainty: paths are simulated recursively. At each step every
  path's features are built from its own (observed + simulated) history, the
  model gives that path's next-period distribution, and one value is drawn
  from it (inverse-CDF interpolation of the quantile grid for "gbm"/"linear",
  a draw from the leaf mixture for "forest"), clipped at 0. Uncertainty thus
  compounds through the lags and rolling means; the per-period quantile
  tables (`predict_quantiles`) are quantiles of those paths, so periods keep
  the dependence they have in the paths (sums of paths, e.g. "how many items
  in H weeks", are as wide as they should be), and any horizon can be
  simulated, including the long ones a deadline analysis needs.
- Validation: time-series folds only (expanding window, sklearn
  TimeSeriesSplit); `cross_validate_pinball` scores multi-step forecasts of
  each fold's next periods.
- Data guard: fewer than MIN_ML_PERIODS periods raises NotEnoughData, which
  recommends Monte Carlo.

Everything is deterministic given the seed (model fitting) and the
numpy Generator (path draws). Pure numpy/scikit-learn: no I/O, no ray.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flowray.core.metrics import pinball_loss
from flowray.core.validation import whole_number
from flowray.exceptions import InputError, NotEnoughData

MIN_ML_PERIODS = 16
METHODS: tuple[str, ...] = ("gbm", "forest", "linear")
# Levels of the per-period quantile tables: 0.05, 0.10, ..., 0.95.
DEFAULT_LEVELS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))
# Levels the quantile models ("gbm", "linear") are fitted at; other levels are
# read by interpolating between them (linear tails beyond 0.05 and 0.95).
MODEL_LEVELS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
# Paths simulated by `predict_quantiles`: quantile noise well below one item.
DEFAULT_PATHS = 2000

# Small, shallow models: a backtest fits thousands of them.
GBM_TREES = 50
GBM_DEPTH = 2
GBM_LEARNING_RATE = 0.1
FOREST_TREES = 50
MIN_SAMPLES_LEAF = 5
LINEAR_L1 = 0.01


# ---------------------------------------------------------------------------
# features


@dataclass(frozen=True)
class FeatureSpec:
    """Which features `build_features` makes; every statistic looks only backwards."""

    n_lags: int = 4
    mean_windows: tuple[int, ...] = (4, 13, 26)
    std_window: int = 13
    zero_window: int = 13
    seasonal: bool = False

    def __post_init__(self) -> None:
        for name, value in (
            ("n_lags", self.n_lags),
            ("std_window", self.std_window),
            ("zero_window", self.zero_window),
            *(("mean_windows", w) for w in self.mean_windows),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(name, value, "must be a whole number >= 1")

    @property
    def lookback(self) -> int:
        """Periods a feature row can look back; older history never changes a row."""
        return max(self.n_lags, self.std_window, self.zero_window, *self.mean_windows)

    @property
    def names(self) -> list[str]:
        names = [f"lag_{j}" for j in range(1, self.n_lags + 1)]
        names += [f"mean_{w}" for w in self.mean_windows]
        names += [f"std_{self.std_window}", f"zero_share_{self.zero_window}"]
        if self.seasonal:
            names += ["season_sin", "season_cos"]
        return names


def build_features(
    history: ArrayLike,
    positions: ArrayLike | None = None,
    spec: FeatureSpec | None = None,
    start: dt.date | None = None,
    period_days: int = 7,
) -> NDArray[np.float64]:
    """Feature rows for forecasting history[t] from history[:t], one per position t.

    `history` is one series (T,) or a stack of paths (P, T); the result is
    (len(positions), F) or (P, len(positions), F), columns as `spec.names`.
    Positions run from spec.n_lags to T (T = the first period after the data);
    by default all of them, so rows[:-1] with targets history[n_lags:] are the
    training set and rows[-1] is the prediction row. Windows shorter than their
    nominal length near the start of the data use what exists, identically at
    training and prediction time. `start` (date of history[0]) is needed only
    for seasonal features, which describe the target period's time of year.
    """
    spec = spec or FeatureSpec()
    array = np.asarray(history, dtype=float)
    if array.ndim not in (1, 2) or array.shape[-1] == 0:
        raise InputError("history", array.shape, "must be a 1-D series or a 2-D stack of paths")
    paths = array.reshape(1, -1) if array.ndim == 1 else array
    n_periods = paths.shape[1]
    if positions is None:
        position_array = np.arange(spec.n_lags, n_periods + 1)
    else:
        position_array = np.atleast_1d(np.asarray(positions)).astype(np.int64)
    if position_array.size and (
        position_array.min() < spec.n_lags or position_array.max() > n_periods
    ):
        raise InputError(
            "positions",
            positions,
            f"each must lie in [{spec.n_lags}, {n_periods}] (n_lags .. length of history)",
        )
    columns: list[NDArray[np.float64]] = []
    for lag in range(1, spec.n_lags + 1):
        columns.append(paths[:, position_array - lag])
    sums = _prefix_sums(paths)
    squares = _prefix_sums(paths**2)
    zeros = _prefix_sums((paths == 0).astype(float))
    for window in spec.mean_windows:
        columns.append(_window_mean(sums, position_array, window))
    mean = _window_mean(sums, position_array, spec.std_window)
    mean_square = _window_mean(squares, position_array, spec.std_window)
    columns.append(np.sqrt(np.maximum(mean_square - mean**2, 0.0)))
    columns.append(_window_mean(zeros, position_array, spec.zero_window))
    if spec.seasonal:
        angle = _season_angle(position_array, start, period_days)
        columns.append(np.broadcast_to(np.sin(angle), (paths.shape[0], angle.size)))
        columns.append(np.broadcast_to(np.cos(angle), (paths.shape[0], angle.size)))
    rows = np.stack(columns, axis=-1)
    return rows[0] if array.ndim == 1 else rows


def _prefix_sums(paths: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.concatenate((np.zeros((paths.shape[0], 1)), np.cumsum(paths, axis=1)), axis=1)


def _window_mean(
    prefix: NDArray[np.float64], positions: NDArray[np.int64], window: int
) -> NDArray[np.float64]:
    """Mean of the (up to) `window` values before each position."""
    low = np.maximum(positions - window, 0)
    return (prefix[:, positions] - prefix[:, low]) / (positions - low)


def _season_angle(positions: NDArray[np.int64], start: dt.date | None, period_days: int) -> Any:
    if start is None:
        raise InputError("start", start, "seasonal features need the date of the first period")
    ordinals = start.toordinal() + period_days * positions
    day_of_year = np.array(
        [dt.date.fromordinal(int(o)).timetuple().tm_yday for o in ordinals], dtype=float
    )
    return 2.0 * math.pi * day_of_year / 365.25


# ---------------------------------------------------------------------------
# one-step conditional distributions


class _OneStepModel(Protocol):
    def fit(self, rows: NDArray[np.float64], targets: NDArray[np.float64]) -> None: ...

    def draw(self, rows: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]: ...


def _draw_from_quantile_grid(
    grid: NDArray[np.float64], levels: NDArray[np.float64], uniforms: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Inverse-CDF draws: piecewise-linear quantile function through (level, grid) per row.

    Beyond the outer levels the quantile function continues linearly to levels 0
    and 1 with the slope of its outer segments (a bounded, uniform-tailed law).
    """
    low_slope = (grid[:, 1] - grid[:, 0]) / (levels[1] - levels[0])
    high_slope = (grid[:, -1] - grid[:, -2]) / (levels[-1] - levels[-2])
    full_levels = np.concatenate(([0.0], levels, [1.0]))
    full_grid = np.column_stack(
        (
            grid[:, 0] - low_slope * levels[0],
            grid,
            grid[:, -1] + high_slope * (1.0 - levels[-1]),
        )
    )
    segment = np.clip(np.searchsorted(full_levels, uniforms, side="right") - 1, 0, levels.size)
    rows = np.arange(grid.shape[0])
    left, right = full_levels[segment], full_levels[segment + 1]
    weight = (uniforms - left) / (right - left)
    return full_grid[rows, segment] + weight * (
        full_grid[rows, segment + 1] - full_grid[rows, segment]
    )


class _QuantileGridModel:
    """One quantile regressor per MODEL_LEVELS level; draws by inverse-CDF interpolation."""

    def __init__(self, kind: str, seed: int) -> None:
        self.kind = kind
        self.seed = seed
        self.levels = np.array(MODEL_LEVELS)
        self.regressors: list[Any] = []

    def _regressor(self, level: float) -> Any:
        # scikit-learn is imported when a model is built: `flowray --help` and the
        # Monte Carlo paths should not pay its import time.
        from sklearn.ensemble import GradientBoostingRegressor
        from sklearn.linear_model import QuantileRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.kind == "gbm":
            return GradientBoostingRegressor(
                loss="quantile",
                alpha=level,
                n_estimators=GBM_TREES,
                max_depth=GBM_DEPTH,
                learning_rate=GBM_LEARNING_RATE,
                min_samples_leaf=MIN_SAMPLES_LEAF,
                subsample=0.8,
                random_state=self.seed,
            )
        return make_pipeline(
            StandardScaler(),
            QuantileRegressor(quantile=level, alpha=LINEAR_L1, solver="highs"),
        )

    def fit(self, rows: NDArray[np.float64], targets: NDArray[np.float64]) -> None:
        self.regressors = [
            self._regressor(float(level)).fit(rows, targets) for level in self.levels
        ]

    def quantile_grid(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        grid = np.column_stack([regressor.predict(rows) for regressor in self.regressors])
        return np.sort(grid, axis=1)  # rearrangement: crossing quantiles become monotone

    def draw(self, rows: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
        return _draw_from_quantile_grid(
            self.quantile_grid(rows), self.levels, rng.random(int(rows.shape[0]))
        )


class _QuantileForest:
    """Quantile regression forest: next period ~ a training target sharing the query's leaf.

    Drawing a tree uniformly, then a training target uniformly within the
    query's leaf of that tree, samples exactly the forest's weighted empirical
    law (Meinshausen's weights), without building an n x n weight matrix.
    """

    def __init__(self, seed: int) -> None:
        from sklearn.ensemble import RandomForestRegressor

        self.forest = RandomForestRegressor(
            n_estimators=FOREST_TREES,
            min_samples_leaf=MIN_SAMPLES_LEAF,
            max_features=0.5,
            random_state=seed,
            n_jobs=1,
        )

    def fit(self, rows: NDArray[np.float64], targets: NDArray[np.float64]) -> None:
        self.forest.fit(rows, targets)
        train_leaves = self.forest.apply(rows)  # (n_train, n_trees)
        n_trees = train_leaves.shape[1]
        n_nodes = max(tree.tree_.node_count for tree in self.forest.estimators_)
        self.leaf_start = np.zeros((n_trees, n_nodes), dtype=np.int64)
        self.leaf_size = np.zeros((n_trees, n_nodes), dtype=np.int64)
        self.sorted_targets = np.empty((n_trees, targets.size))
        for tree in range(n_trees):
            order = np.argsort(train_leaves[:, tree], kind="stable")
            self.sorted_targets[tree] = targets[order]
            sizes = np.bincount(train_leaves[:, tree], minlength=n_nodes)
            self.leaf_size[tree] = sizes
            self.leaf_start[tree] = np.cumsum(sizes) - sizes

    def draw(self, rows: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.float64]:
        leaves = self.forest.apply(rows)
        n_rows, n_trees = leaves.shape
        tree = rng.integers(n_trees, size=n_rows)
        node = leaves[np.arange(n_rows), tree]
        size = self.leaf_size[tree, node]
        pick = self.leaf_start[tree, node] + np.minimum(
            (rng.random(n_rows) * size).astype(np.int64), size - 1
        )
        return self.sorted_targets[tree, pick]


def _make_model(method: str, seed: int) -> _OneStepModel:
    if method in ("gbm", "linear"):
        return _QuantileGridModel(method, seed)
    if method == "forest":
        return _QuantileForest(seed)
    raise InputError("method", method, f"must be one of {', '.join(METHODS)}")


# ---------------------------------------------------------------------------
# the forecaster


def _validated_history(history: ArrayLike) -> NDArray[np.float64]:
    try:
        array = np.asarray(history, dtype=float)
    except (TypeError, ValueError):
        raise InputError("history", history, "must be a list of numbers") from None
    if array.ndim != 1 or array.size == 0:
        raise InputError("history", history, "must be a non-empty 1-D list of throughput values")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise InputError("history", history, "throughput values must be finite and >= 0")
    if array.size < MIN_ML_PERIODS:
        raise NotEnoughData(
            "history",
            f"{array.size} periods",
            f"ML forecasts need at least {MIN_ML_PERIODS} periods of history; "
            "use the Monte Carlo forecast (bootstrap of the history) instead",
        )
    if not np.any(array > 0):
        raise InputError("history", history, "throughput must not be all 0")
    return array


@dataclass(frozen=True, eq=False)
class Forecaster:
    """A fitted one-step model plus the history it continues; simulates paths ahead.

    Picklable (it travels to Ray workers). Build it with `fit_forecaster`.
    """

    method: str
    horizon: int
    seed: int
    spec: FeatureSpec
    history: NDArray[np.float64] = field(repr=False)
    start: dt.date | None
    period_days: int
    model: _OneStepModel = field(repr=False)

    @property
    def n_training_rows(self) -> int:
        return int(self.history.size - self.spec.n_lags)

    def sample_paths(
        self, n: int, rng: np.random.Generator, horizon: int | None = None
    ) -> NDArray[np.float64]:
        """(n, horizon) throughput paths after the history, values >= 0 (not rounded).

        Recursive simulation: each period's value is drawn from the model's
        distribution given that path's own history so far.
        """
        n = whole_number("n", n, 1)
        steps = self.horizon if horizon is None else whole_number("horizon", horizon, 1)
        if not isinstance(rng, np.random.Generator):
            raise InputError("rng", rng, "must be a numpy.random.Generator")
        # Only the last `lookback` periods can change a feature row: keep that tail.
        lookback = self.spec.lookback
        tail = self.history[-lookback:]
        offset = self.history.size - tail.size
        buffer = np.empty((n, tail.size + steps))
        buffer[:, : tail.size] = tail
        for step in range(steps):
            end = tail.size + step
            low = max(0, end - lookback)
            shifted_start = (
                None
                if self.start is None
                else self.start + dt.timedelta(days=self.period_days * (offset + low))
            )
            rows = build_features(
                buffer[:, low:end], [end - low], self.spec, shifted_start, self.period_days
            )[:, 0, :]
            buffer[:, end] = np.maximum(self.model.draw(rows, rng), 0.0)
        return buffer[:, tail.size :]

    def predict_quantiles(
        self,
        levels: Sequence[float] | NDArray[np.float64] = DEFAULT_LEVELS,
        horizon: int | None = None,
        n_paths: int = DEFAULT_PATHS,
    ) -> NDArray[np.float64]:
        """(horizon, len(levels)) throughput quantiles per period, from `n_paths` paths.

        Deterministic: the paths are drawn with numpy.random.default_rng(seed),
        so this equals the quantiles of sample_paths(n_paths, default_rng(seed)).
        """
        level_array = np.asarray(levels, dtype=float)
        if (
            level_array.ndim != 1
            or level_array.size == 0
            or not np.all(np.isfinite(level_array))
            or np.any(level_array <= 0)
            or np.any(level_array >= 1)
        ):
            raise InputError("levels", levels, "must be a 1-D list of levels strictly in (0, 1)")
        paths = self.sample_paths(n_paths, np.random.default_rng(self.seed), horizon)
        return np.quantile(paths, level_array, axis=0).T


def fit_forecaster(
    history: ArrayLike,
    method: str = "gbm",
    horizon: int = 12,
    seed: int = 0,
    spec: FeatureSpec | None = None,
    start: dt.date | None = None,
    period_days: int = 7,
) -> Forecaster:
    """Fit `method` ("gbm", "forest" or "linear") on a throughput history, oldest first.

    `horizon` is the default number of periods for predictions; `start` (date
    of the first period) is only needed when `spec.seasonal` is on.
    Raises NotEnoughData below MIN_ML_PERIODS periods.
    """
    array = _validated_history(history)
    if method not in METHODS:
        raise InputError("method", method, f"must be one of {', '.join(METHODS)}")
    horizon = whole_number("horizon", horizon, 1)
    seed = whole_number("seed", seed, 0)
    period_days = whole_number("period_days", period_days, 1)
    spec = spec or FeatureSpec()
    if spec.n_lags > MIN_ML_PERIODS // 2:
        raise InputError("spec.n_lags", spec.n_lags, f"must be <= {MIN_ML_PERIODS // 2}")
    if spec.seasonal and start is None:
        raise InputError("start", start, "seasonal features need the date of the first period")
    rows = build_features(array, None, spec, start, period_days)
    model = _make_model(method, seed)
    model.fit(rows[:-1], array[spec.n_lags :])
    return Forecaster(
        method=method,
        horizon=horizon,
        seed=seed,
        spec=spec,
        history=array.copy(),
        start=start,
        period_days=period_days,
        model=model,
    )


# ---------------------------------------------------------------------------
# time-series cross-validation


def time_series_folds(
    n_periods: int, n_splits: int = 4, horizon: int = 4, min_train: int = MIN_ML_PERIODS
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Expanding-window folds (TimeSeriesSplit): train on a prefix, test the next `horizon` periods.

    Folds whose training prefix is shorter than `min_train` are dropped. Never shuffled.
    """
    n_periods = whole_number("n_periods", n_periods, 1)
    n_splits = whole_number("n_splits", n_splits, 2)
    horizon = whole_number("horizon", horizon, 1)
    if n_periods - n_splits * horizon < 1:
        raise NotEnoughData(
            "history",
            f"{n_periods} periods",
            f"{n_splits} folds of {horizon} periods need more history; "
            "use fewer folds or the Monte Carlo forecast",
        )
    from sklearn.model_selection import TimeSeriesSplit

    splitter = TimeSeriesSplit(n_splits=n_splits, test_size=horizon)
    return [
        (train, test)
        for train, test in splitter.split(np.arange(n_periods))
        if train.size >= min_train
    ]


def cross_validate_pinball(
    history: ArrayLike,
    methods: Sequence[str] = METHODS,
    n_splits: int = 4,
    horizon: int = 4,
    levels: Sequence[float] = DEFAULT_LEVELS,
    seed: int = 0,
    n_paths: int = 1000,
    start: dt.date | None = None,
    period_days: int = 7,
    spec: FeatureSpec | None = None,
) -> dict[str, float]:
    """Mean pinball loss per method over expanding-window folds of `horizon`-period forecasts.

    Each fold fits on the history before its test periods only, forecasts them
    all at once (multi-step, as used), and scores the per-period quantiles.
    """
    array = _validated_history(history)
    folds = time_series_folds(array.size, n_splits, horizon)
    if not folds:
        raise NotEnoughData(
            "history",
            f"{array.size} periods",
            f"no fold has {MIN_ML_PERIODS} periods to train on; use the Monte Carlo forecast",
        )
    level_array = np.asarray(levels, dtype=float)
    scores: dict[str, float] = {}
    for method in methods:
        losses = []
        for train, test in folds:
            forecaster = fit_forecaster(
                array[train], method, test.size, seed, spec, start, period_days
            )
            quantiles = forecaster.predict_quantiles(level_array, n_paths=n_paths)
            losses.append(float(np.mean(pinball_loss(quantiles, level_array, array[test]))))
        scores[method] = float(np.mean(losses))
    return scores
