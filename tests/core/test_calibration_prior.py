"""The pooled calibration prior: the shipped file, the blend with a series' own errors, the words."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from flowray.core import backtest, calibration, calibration_prior, live_calibration, metrics
from flowray.core.engine import Question
from flowray.core.methods import ForecastMethod, default_method, method_forecast
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError
from flowray.pipeline.backtest import METADATA_FILES

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "throughput"
SUBSET = ("astral-sh__uv", "sveltejs__svelte")  # two short tuning series
SUBSET_PRIOR = ROOT / "tests" / "fixtures" / "calibration_prior_subset.json"
RUNS = 2000


def _series(name: str) -> list[float]:
    lines = (FIXTURES / f"{name}.csv").read_text().splitlines()[1:]
    return [float(line.split(",")[1]) for line in lines]


def _document() -> dict:
    path = ROOT / "flowray" / "data" / calibration_prior.PRIOR_FILE
    return json.loads(path.read_text())


def _script():
    spec = importlib.util.spec_from_file_location(
        "build_calibration_prior", ROOT / "scripts" / "build_calibration_prior.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the shipped file


def test_the_shipped_prior_loads_and_is_the_default_methods():
    prior = calibration_prior.load_prior()
    assert prior.applies_to(backtest.DEFAULT_BASE_METHOD, backtest.DEFAULT_WINDOW)
    assert not prior.applies_to("block", backtest.DEFAULT_WINDOW)
    assert not prior.applies_to(backtest.DEFAULT_BASE_METHOD, 26)
    assert prior.strength > 0 and prior.teams >= 10
    for question in backtest.QUESTIONS:
        for h in calibration_prior.HORIZONS:
            atoms = prior.errors[(question, h)]
            assert atoms.size == calibration_prior.QUANTILES and np.all(np.diff(atoms) >= 0)
    # the further a 12-week sample looks, the more it is over-confident: wider standardised errors
    near, far = prior.errors[("how_many", 1)], prior.errors[("how_many", 12)]
    assert far[94] - far[5] > near[94] - near[5]


def test_the_shipped_prior_was_learned_on_the_tuning_part_of_the_repository_series():
    document = _document()
    series = [p.stem for p in FIXTURES.glob("*.csv") if p.name.lower() not in METADATA_FILES]
    tuning = sorted(s for s in series if calibration_prior.is_tuning(s))
    assert document["series"] == tuning and document["teams"] == len(tuning)
    assert not [s for s in document["series"] if not calibration_prior.is_tuning(s)]


def test_the_split_rule_is_sha256_of_the_stem():
    assert calibration_prior.is_tuning("etcd-io__etcd")  # sha256 starts with 0
    assert not calibration_prior.is_tuning("gradio-app__gradio")  # starts with a


def test_a_horizon_between_stored_ones_reads_the_nearest():
    prior = calibration_prior.load_prior()
    assert prior.horizon_for("how_many", 13) == 14  # a tie reads the longer horizon
    assert prior.horizon_for("how_many", 17) == 16 and prior.horizon_for("how_many", 12) == 12
    assert prior.horizon_for("when", 200) == 52 and prior.horizon_for("when", 1) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"format": 2}, "prior.format"),
        ({"method": ""}, "prior.method"),
        ({"window": 0}, "prior.window"),
        ({"strength": -1}, "prior.strength"),
        ({"teams": 0}, "prior.teams"),
        ({"errors": {"how_many": {}}}, "prior.errors"),
        ({"errors": {"how_many": {"4": [1.0, 0.0]}, "when": {"4": [0.0, 1.0]}}}, "how_many.4"),
        ({"errors": {"how_many": {"4": [0.0, "x"]}, "when": {"4": [0.0, 1.0]}}}, "how_many.4"),
        ({"errors": {"how_many": {"0": [0.0, 1.0]}, "when": {"4": [0.0, 1.0]}}}, "horizon"),
        ({"errors": {"how_many": {"4": [0.0, float("nan")]}, "when": {"4": [0, 1]}}}, "how_many"),
    ],
)
def test_a_bad_prior_document_is_refused_naming_the_field(change, field):
    document = {**_document(), **change}
    with pytest.raises(InputError) as caught:
        calibration_prior.parse_prior(document)
    assert field in str(caught.value)


# --------------------------------------------------------------------------- the blend


def test_the_prior_weight_falls_as_own_errors_accrue():
    shares = [calibration.prior_share(n, 12.0) for n in range(0, 200)]
    assert shares[0] == 1.0 and shares[12] == 0.5
    assert all(a > b for a, b in zip(shares, shares[1:], strict=False))
    assert shares[-1] < 0.06


def test_own_errors_take_over_the_answer_as_they_accrue():
    """Own errors that say "the actual lands 3 spreads above the median" move the answer there."""
    prior = calibration_prior.load_prior()
    values, counts = np.arange(10, 31), np.full(21, 100.0)  # a flat raw forecast, median 20
    spread = metrics.quantile_from_histogram(values, counts, calibration.SPREAD_LEVELS)
    medians = []
    for n in (0, 4, 12, 48, 400):
        cmap = calibration_prior.prior_map(np.full(n, 3.0), "how_many", 8, prior)
        assert cmap.active and cmap.uses_prior and cmap.n_errors == n
        assert cmap.own_share == pytest.approx(n / (n + prior.strength))
        v, p = calibration.conformal_histogram(values, counts, spread, cmap)
        medians.append(int(metrics.quantile_from_histogram(v, p, 0.5)))
    assert medians == sorted(medians) and medians[0] < medians[-1]
    assert medians[-1] == 20 + 3 * 8  # median + 3 x half the 10-90% range (8 items)


def test_a_history_with_no_own_errors_is_calibrated_by_the_prior():
    history = _series("psf__black")[:9]  # 9 weeks: no 8-week forecast has a known outcome yet
    cmap = live_calibration.live_calibration(history, "how_many", 8, seed=1)
    assert cmap.n_errors == 0 and cmap.active and cmap.uses_prior and cmap.own_share == 0.0
    scenario = Scenario(throughput=history, backlog=40)
    result = method_forecast(scenario, Question("how_many", 8), RUNS, 1)
    raw = method_forecast(
        scenario, Question("how_many", 8), RUNS, 1, method=ForecastMethod("recency", 12)
    )
    assert result.method_report.calibrated and result.method_report.uses_prior
    # the raw 12-week sample is over-confident; the prior widens its "95% likely at least X"
    assert result.at_least(95) < raw.at_least(95)
    assert int(result.counts.sum()) == RUNS


def test_the_prior_leaves_other_calibrated_methods_alone():
    """The prior holds the default method's errors; another '+cal' method learns from its own."""
    history = _series("psf__black")[:25]
    cmap = live_calibration.live_calibration(history, "how_many", 8, "block", 12, seed=1)
    assert not cmap.uses_prior and not cmap.active  # 10 resolved past errors: fewer than 12
    own = live_calibration.live_calibration(history, "how_many", 4, use_prior=False, seed=1)
    assert own.prior is None and own.n_errors == 25 - 4 - 8 + 1


# --------------------------------------------------------------------------- the words


def test_the_report_says_what_the_calibration_leaned_on():
    values = _series("psf__black")
    scenario = Scenario(throughput=values[:30], backlog=40)
    report = method_forecast(scenario, Question("how_many", 8), RUNS, 1).method_report
    teams = calibration_prior.load_prior().teams
    words = report.describe()
    assert report.past_errors == 30 - 8 - 8 + 1
    assert "calibrated on this history's own past forecast errors" in words
    assert (
        f"({report.past_errors} past forecasts with a known outcome, made 8 weeks ahead)" in words
    )
    assert f"on the pooled prior of {teams} real teams' forecast errors" in words
    assert f"the prior weighs {round(report.prior_weight * 100)}%" in words
    saved = report.to_dict()["calibration"]
    assert saved["prior"] == {"teams": teams, "weight": report.prior_weight}
    assert 0 < report.prior_weight < 1

    young = method_forecast(
        Scenario(throughput=values[:9], backlog=40), Question("how_many", 8), RUNS, 1
    )
    words = young.method_report.describe()
    assert f"calibrated on the pooled prior of {teams} real teams' forecast errors" in words
    assert "none of this history's own past forecasts has a known outcome yet" in words


def test_a_forced_short_history_says_the_prior_carries_it():
    scenario = Scenario(throughput=_series("psf__black")[:5], backlog=20)
    report = method_forecast(scenario, Question("when"), RUNS, 1).method_report
    assert report.calibrated and report.past_errors == 0
    assert report.describe().startswith(
        "Only 5 weeks of history (fewer than 8): the pooled prior carries this forecast."
    )
    assert default_method().is_default


# --------------------------------------------------------------------------- the script


def test_the_script_rebuilds_the_subset_prior_identically(tmp_path):
    """The script's output from two series equals the committed file, byte for byte."""
    script = _script()
    files = script.tuning_files(FIXTURES, SUBSET)
    assert [f.stem for f in files] == sorted(SUBSET)
    out = tmp_path / "prior.json"
    script.write(script.build(files), out)
    assert out.read_text() == SUBSET_PRIOR.read_text()
    shipped = _document()
    rebuilt = json.loads(out.read_text())
    for key in ("format", "method", "window", "strength", "runs", "seed", "quantiles"):
        assert rebuilt[key] == shipped[key], key
    assert rebuilt["errors"].keys() == shipped["errors"].keys()
