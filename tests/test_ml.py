"""ML forecasters: feature identity, no leakage, time-ordered CV, data guard, real intervals."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from flowray.core import ml
from flowray.exceptions import InputError, NotEnoughData

FIXTURES = Path(__file__).parent / "fixtures" / "throughput"
SERIES = ("psf__black", "fastapi__fastapi")


def load_series(name: str) -> tuple[np.ndarray, dt.date]:
    frame = pd.read_csv(FIXTURES / f"{name}.csv")
    return frame["throughput"].to_numpy(float), dt.date.fromisoformat(frame["week_start"].iloc[0])


@pytest.fixture(scope="module")
def black_104() -> np.ndarray:
    """The last 104 weeks of psf/black: the size of history a backtest fits on."""
    return load_series("psf__black")[0][-104:]


class RecordingModel:
    """Stand-in model that records the rows it is given and returns a fixed value."""

    def __init__(self, value: float = 3.0) -> None:
        self.value = value
        self.fit_rows: np.ndarray | None = None
        self.fit_targets: np.ndarray | None = None
        self.draw_rows: list[np.ndarray] = []

    def fit(self, rows: np.ndarray, targets: np.ndarray) -> None:
        self.fit_rows, self.fit_targets = rows.copy(), targets.copy()

    def draw(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.draw_rows.append(rows.copy())
        return np.full(rows.shape[0], self.value)


# ---------------------------------------------------------------------------
# features


def test_features_hand_computed_and_lag1_is_most_recent() -> None:
    spec = ml.FeatureSpec(n_lags=3, mean_windows=(2, 10), std_window=2, zero_window=3)
    history = np.array([1.0, 0.0, 3.0, 4.0, 6.0])
    rows = ml.build_features(history, spec=spec)
    assert spec.names == ["lag_1", "lag_2", "lag_3", "mean_2", "mean_10", "std_2", "zero_share_3"]
    # Positions 3, 4 (training rows) and 5 (the prediction row after the data).
    assert rows.shape == (3, 7)
    # Row for t = 3 forecasts history[3] from (1, 0, 3): lag_1 = 3, the most recent.
    assert rows[0].tolist() == pytest.approx([3, 0, 1, 1.5, 4 / 3, 1.5, 1 / 3])
    # Prediction row (t = 5): lags (6, 4, 3), mean_2 = 5, mean_10 over all 5 values = 2.8.
    assert rows[2].tolist() == pytest.approx([6, 4, 3, 5, 2.8, 1, 0])


@pytest.mark.parametrize("name", SERIES)
def test_prediction_row_equals_training_row_for_the_same_position(name: str) -> None:
    history, start = load_series(name)
    spec = ml.FeatureSpec(seasonal=True)
    training = ml.build_features(history, spec=spec, start=start)  # rows for t = n_lags .. T
    for t in (spec.n_lags, spec.n_lags + 1, 20, 27, 100, history.size - 1):
        # What a forecaster sees at origin t: only history[:t], asking for the next period.
        at_prediction = ml.build_features(history[:t], positions=[t], spec=spec, start=start)
        np.testing.assert_array_equal(at_prediction[0], training[t - spec.n_lags])


def test_rows_never_see_the_target_or_later_periods(black_104: np.ndarray) -> None:
    rows = ml.build_features(black_104)
    for t in (10, 50, 103):
        altered = black_104.copy()
        altered[t:] = 1000.0
        np.testing.assert_array_equal(ml.build_features(altered, positions=[t])[0], rows[t - 4])


def test_tail_of_history_gives_the_same_row_as_the_whole_history(black_104: np.ndarray) -> None:
    # The path simulation keeps only the last `lookback` periods; that must not change a row.
    spec = ml.FeatureSpec(seasonal=True)
    start = dt.date(2024, 1, 1)
    whole = ml.build_features(black_104, positions=[104], spec=spec, start=start)
    low = 104 - spec.lookback
    tail = ml.build_features(
        black_104[low:], [spec.lookback], spec, start + dt.timedelta(days=7 * low)
    )
    np.testing.assert_array_equal(whole, tail)


def test_stacked_paths_get_the_rows_each_path_would_get_alone(black_104: np.ndarray) -> None:
    paths = np.vstack([black_104, black_104[::-1], np.roll(black_104, 5)])
    stacked = ml.build_features(paths, positions=[30, 104])
    for i, path in enumerate(paths):
        np.testing.assert_array_equal(stacked[i], ml.build_features(path, positions=[30, 104]))


def test_features_refuse_positions_without_full_lags_or_beyond_the_data() -> None:
    with pytest.raises(InputError):
        ml.build_features(np.ones(20), positions=[2])
    with pytest.raises(InputError):
        ml.build_features(np.ones(20), positions=[22])
    with pytest.raises(InputError):
        ml.build_features(np.ones(20), spec=ml.FeatureSpec(seasonal=True))


def test_forecaster_trains_and_predicts_on_rows_from_build_features(
    black_104: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = RecordingModel(value=3.0)
    monkeypatch.setattr(ml, "_make_model", lambda method, seed: recorder)
    forecaster = ml.fit_forecaster(black_104, "gbm", horizon=3, seed=0)
    expected = ml.build_features(black_104)
    np.testing.assert_array_equal(recorder.fit_rows, expected[:-1])
    np.testing.assert_array_equal(recorder.fit_targets, black_104[4:])
    forecaster.sample_paths(2, np.random.default_rng(0))
    # Step 1 sees the observed history; steps 2 and 3 see it extended by the drawn 3.0s.
    extended = np.concatenate([black_104, [3.0, 3.0]])
    for step, rows in enumerate(recorder.draw_rows):
        want = ml.build_features(extended[: 104 + step], positions=[104 + step])[0]
        np.testing.assert_array_equal(rows[0], want)
        np.testing.assert_array_equal(rows[1], want)
    # The first prediction row is the row training would have built for position 104.
    np.testing.assert_array_equal(recorder.draw_rows[0][0], expected[-1])


# ---------------------------------------------------------------------------
# data guard and input checks


def test_ml_refuses_short_history_and_recommends_monte_carlo() -> None:
    short = np.arange(1, ml.MIN_ML_PERIODS, dtype=float)  # 15 periods
    with pytest.raises(NotEnoughData) as caught:
        ml.fit_forecaster(short, "gbm")
    assert isinstance(caught.value, InputError)
    assert "Monte Carlo" in str(caught.value)
    assert str(ml.MIN_ML_PERIODS) in str(caught.value)
    # Exactly the minimum is accepted.
    forecaster = ml.fit_forecaster(np.arange(1, ml.MIN_ML_PERIODS + 1, dtype=float), "linear")
    assert forecaster.predict_quantiles([0.5], horizon=2, n_paths=50).shape == (2, 1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "prophet"}, "method"),
        ({"horizon": 0}, "horizon"),
        ({"seed": -1}, "seed"),
        ({"spec": ml.FeatureSpec(seasonal=True)}, "start"),
    ],
)
def test_bad_arguments_are_refused(black_104: np.ndarray, kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as caught:
        ml.fit_forecaster(black_104, **kwargs)
    assert caught.value.field == field


@pytest.mark.parametrize("history", [[1.0] * 10 + [-1.0] * 10, [0.0] * 20, [1.0] * 19 + [np.nan]])
def test_bad_histories_are_refused(history: list[float]) -> None:
    with pytest.raises(InputError):
        ml.fit_forecaster(history, "linear")


# ---------------------------------------------------------------------------
# quantiles, paths, determinism


@pytest.fixture(scope="module")
def forecasters(black_104: np.ndarray) -> dict[str, ml.Forecaster]:
    return {m: ml.fit_forecaster(black_104, m, horizon=8, seed=3) for m in ml.METHODS}


@pytest.mark.parametrize("method", ml.METHODS)
def test_quantile_table_shape_and_monotone_in_level(
    forecasters: dict[str, ml.Forecaster], method: str
) -> None:
    table = forecasters[method].predict_quantiles()
    assert table.shape == (8, len(ml.DEFAULT_LEVELS))
    assert np.all(np.diff(table, axis=1) >= 0)
    assert np.all(table >= 0)
    # Real intervals: the 5-95% range is wide, not a sliver.
    assert np.all(table[:, -1] - table[:, 0] > 2)


@pytest.mark.parametrize("method", ml.METHODS)
def test_same_seed_same_numbers(black_104: np.ndarray, method: str) -> None:
    first = ml.fit_forecaster(black_104, method, horizon=4, seed=11)
    second = ml.fit_forecaster(black_104, method, horizon=4, seed=11)
    np.testing.assert_array_equal(first.predict_quantiles(), second.predict_quantiles())
    np.testing.assert_array_equal(
        first.sample_paths(300, np.random.default_rng(5)),
        second.sample_paths(300, np.random.default_rng(5)),
    )
    assert not np.array_equal(
        first.sample_paths(300, np.random.default_rng(5)),
        first.sample_paths(300, np.random.default_rng(6)),
    )


def test_predict_quantiles_are_the_quantiles_of_the_seeded_paths(
    forecasters: dict[str, ml.Forecaster],
) -> None:
    forecaster = forecasters["gbm"]
    paths = forecaster.sample_paths(500, np.random.default_rng(forecaster.seed))
    table = forecaster.predict_quantiles([0.1, 0.5, 0.9], n_paths=500)
    np.testing.assert_allclose(table, np.quantile(paths, [0.1, 0.5, 0.9], axis=0).T)


@pytest.mark.parametrize("method", ml.METHODS)
def test_paths_shape_nonnegative_and_any_horizon(
    forecasters: dict[str, ml.Forecaster], method: str
) -> None:
    forecaster = forecasters[method]
    paths = forecaster.sample_paths(200, np.random.default_rng(0))
    assert paths.shape == (200, 8)
    assert np.all(paths >= 0) and np.all(np.isfinite(paths))
    long = forecaster.sample_paths(50, np.random.default_rng(0), horizon=60)
    assert long.shape == (50, 60) and np.all(np.isfinite(long)) and np.all(long >= 0)


def test_forecaster_survives_pickling(forecasters: dict[str, ml.Forecaster]) -> None:
    for forecaster in forecasters.values():
        copy = pickle.loads(pickle.dumps(forecaster))
        np.testing.assert_array_equal(
            copy.sample_paths(100, np.random.default_rng(1)),
            forecaster.sample_paths(100, np.random.default_rng(1)),
        )


@pytest.mark.parametrize("method", ml.METHODS)
def test_intervals_match_the_true_law_on_iid_poisson(method: str) -> None:
    # On an i.i.d. Poisson(8) series the honest predictive law of every future
    # week is Poisson(8): quantiles near 4, 8 and 13 at 5%, 50% and 95%.
    history = np.random.default_rng(3).poisson(8, 160).astype(float)
    table = ml.fit_forecaster(history, method, horizon=6, seed=0).predict_quantiles(
        [0.05, 0.5, 0.95]
    )
    truth = stats.poisson.ppf([0.05, 0.5, 0.95], 8)
    assert np.all(np.abs(table[:, 1] - truth[1]) <= 1.5)
    assert np.all(np.abs(table[:, [0, 2]] - truth[[0, 2]]) <= 3.0)


def test_sums_of_paths_are_wider_than_one_week(forecasters: dict[str, ml.Forecaster]) -> None:
    # Multi-step uncertainty accumulates: the spread of 8-week totals exceeds that of a week.
    paths = forecasters["forest"].sample_paths(2000, np.random.default_rng(2))
    assert np.std(paths.sum(axis=1)) > 2 * np.std(paths[:, 0])


# ---------------------------------------------------------------------------
# time-series cross-validation


def test_folds_are_time_ordered_prefixes_never_shuffled() -> None:
    folds = ml.time_series_folds(100, n_splits=4, horizon=8)
    assert len(folds) == 4
    previous_end = 0
    for train, test in folds:
        np.testing.assert_array_equal(train, np.arange(train.size))  # a prefix, in order
        np.testing.assert_array_equal(test, np.arange(train.size, train.size + 8))
        assert train.max() < test.min()
        assert train.size > previous_end - 1
        previous_end = test.max()
    assert folds[-1][1][-1] == 99


def test_folds_with_too_little_training_data_are_dropped() -> None:
    folds = ml.time_series_folds(40, n_splits=4, horizon=8)
    assert [train.size for train, _ in folds] == [16, 24, 32]
    with pytest.raises(NotEnoughData):
        ml.time_series_folds(10, n_splits=4, horizon=4)


def test_cross_validation_trains_on_the_past_only(
    black_104: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_fit = ml.fit_forecaster

    def spying_fit(history, method, horizon, *args, **kwargs):  # type: ignore[no-untyped-def]
        np.testing.assert_array_equal(history, black_104[: len(history)])
        seen.append(len(history))
        assert horizon == 4
        return real_fit(history, method, horizon, *args, **kwargs)

    monkeypatch.setattr(ml, "fit_forecaster", spying_fit)
    scores = ml.cross_validate_pinball(black_104, n_splits=3, horizon=4, n_paths=200)
    assert set(scores) == set(ml.METHODS)
    assert all(np.isfinite(v) and v > 0 for v in scores.values())
    assert seen == [92, 96, 100] * 3


def test_cross_validation_scores_are_deterministic(black_104: np.ndarray) -> None:
    first = ml.cross_validate_pinball(black_104, methods=["linear"], n_splits=2, n_paths=200)
    second = ml.cross_validate_pinball(black_104, methods=["linear"], n_splits=2, n_paths=200)
    assert first == second
