"""The ML deadline analysis: when, how many by the deadline, and P(deadline) from ML, next to Monte Carlo.

The ML forecaster (`flowray.core.ml`) draws throughput paths after the
history; `samplers.path_sampler` turns them into a table of paths
that the SAME completion kernel reads (risks, split, team, focus and lead
times apply exactly as for Monte Carlo), and the SAME result object
(`ForecastResult`) comes back. So the two answers differ only in how a
period's throughput is drawn, and can be shown side by side.

What a reviewer must know: each simulated run follows one ML path, so the
dependence between periods inside a path (a slow week followed by another)
is kept. Beyond the simulated path length a run draws independently from the
last period's values, so make the paths at least as long as the answer
needs (`path_periods` covers the deadline and the backlog).

A consensus note says whether the two agree: they disagree when their 85%
completion differs by more than CONSENSUS_PERIODS periods (or
CONSENSUS_SHARE of the Monte Carlo value, whichever is larger), or their
P(done by the deadline) by more than CONSENSUS_PROBABILITY.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowray.core import ml
from flowray.core.engine import Question
from flowray.core.forecast import run_local
from flowray.core.results import ForecastResult
from flowray.core.samplers import SamplerTable, path_sampler
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError
from flowray.text import format_probability

METHODS: tuple[str, ...] = ("ml", "mc", "both")
DEFAULT_ML_METHOD = "gbm"
DEFAULT_PATHS = 2000
MIN_PATH_PERIODS = 12
MAX_PATH_PERIODS = 156
CONSENSUS_PERIODS = 2
CONSENSUS_SHARE = 0.2
CONSENSUS_PROBABILITY = 0.15
CONSENSUS_LEVEL = 85
ML_TASK_WEIGHT = 10  # an ML task (fit + paths) costs about ten Monte Carlo ones (progress weights)


def path_periods(scenario: Scenario) -> int:
    """How far to simulate ML paths: past the deadline and past 1.5 x the backlog at mean pace."""
    history = np.asarray(scenario.throughput, dtype=float)
    mean = float(history.mean()) if history.size else 0.0
    by_pace = math.ceil(1.5 * scenario.max_total_items() / mean) if mean > 0 else MAX_PATH_PERIODS
    wanted = max(MIN_PATH_PERIODS, scenario.periods_to_deadline or 0, by_pace)
    return int(min(wanted, MAX_PATH_PERIODS, scenario.max_periods))


def ml_sampler(
    scenario: Scenario,
    method: str = DEFAULT_ML_METHOD,
    seed: int = 0,
    n_paths: int = DEFAULT_PATHS,
    periods: int | None = None,
) -> SamplerTable:
    """Fit `method` on the scenario's history and turn its throughput paths into a sampler table.

    Raises NotEnoughData (recommending Monte Carlo) below ml.MIN_ML_PERIODS periods.
    """
    steps = path_periods(scenario) if periods is None else int(periods)
    forecaster = ml.fit_forecaster(
        scenario.throughput, method, horizon=steps, seed=seed, period_days=scenario.period_days
    )
    paths = forecaster.sample_paths(n_paths, np.random.default_rng(seed))
    return path_sampler(paths.T)


def run_ml(
    scenario: Scenario,
    runs: int = 100_000,
    seed: int = 0,
    method: str = DEFAULT_ML_METHOD,
    n_paths: int = DEFAULT_PATHS,
) -> ForecastResult:
    """The "when" (and P(deadline)) answer with ML throughput: the same kernel and result object."""
    if method not in ml.METHODS:
        raise InputError("ml_method", method, f"must be one of {', '.join(ml.METHODS)}")
    table = ml_sampler(scenario, method, seed, n_paths)
    result = run_local(scenario, Question("when"), runs, seed, sampler=table)
    assert isinstance(result, ForecastResult)  # a "when" question gets a ForecastResult
    return result


def run_mc(scenario: Scenario, runs: int = 100_000, seed: int = 0) -> ForecastResult:
    result = run_local(scenario, Question("when"), runs, seed)
    assert isinstance(result, ForecastResult)  # a "when" question gets a ForecastResult
    return result


def forecast_task(
    kind: str, scenario: Scenario, runs: int, seed: int, ml_method: str, n_paths: int
) -> dict[str, Any]:
    """One task of a deadline job: {"ml": result} or {"mc": result}; ML refusals travel as text."""
    if kind == "mc":
        return {"mc": run_mc(scenario, runs, seed)}
    try:
        return {"ml": run_ml(scenario, runs, seed, ml_method, n_paths)}
    except ml.NotEnoughData as exc:
        return {"ml_refused": str(exc)}


@dataclass
class DeadlineComparison:
    """ML and Monte Carlo answers to the same scenario, with a consensus note."""

    scenario: Scenario
    mc: ForecastResult | None
    ml: ForecastResult | None
    ml_method: str
    notes: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool | None:
        """None when only one answer exists."""
        if self.mc is None or self.ml is None:
            return None
        return not _disagreements(self.mc, self.ml)

    def consensus(self) -> str | None:
        if self.mc is None or self.ml is None:
            return None
        gaps = _disagreements(self.mc, self.ml)
        if not gaps:
            return "ML and Monte Carlo agree: " + _summary(self.mc, self.ml) + "."
        return (
            "ML and Monte Carlo disagree: "
            + "; ".join(gaps)
            + ". Prefer Monte Carlo (its calibration is backtested) "
            "and look at recent changes in the throughput history."
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ml_method": self.ml_method, "notes": list(self.notes)}
        for key, result in (("mc", self.mc), ("ml", self.ml)):
            out[key] = None if result is None else _answer(result)
        out["agree"] = self.agree
        out["consensus"] = self.consensus()
        return out


def _p85(result: ForecastResult) -> int | None:
    return result.percentile(CONSENSUS_LEVEL)


def _disagreements(mc: ForecastResult, ml_result: ForecastResult) -> list[str]:
    gaps = []
    a, b = _p85(mc), _p85(ml_result)
    if a is None or b is None:
        if (a is None) != (b is None):
            gaps.append(f"85% completion: Monte Carlo {_periods(a)}, ML {_periods(b)}")
    else:
        allowed = max(CONSENSUS_PERIODS, CONSENSUS_SHARE * a)
        if abs(a - b) > allowed:
            gaps.append(
                f"85% completion {b} periods with ML vs {a} with Monte Carlo "
                f"(more than {allowed:g} periods apart)"
            )
    pa, pb = mc.probability_by_deadline, ml_result.probability_by_deadline
    if pa is not None and pb is not None and abs(pa - pb) > CONSENSUS_PROBABILITY:
        gaps.append(
            f"P(done by the deadline) {format_probability(pb)} with ML vs {format_probability(pa)} "
            f"with Monte Carlo (more than {CONSENSUS_PROBABILITY:.0%} apart)"
        )
    return gaps


def _periods(value: int | None) -> str:
    return "beyond the horizon" if value is None else f"{value} periods"


def _summary(mc: ForecastResult, ml_result: ForecastResult) -> str:
    text = f"85% completion {_periods(_p85(ml_result))} (ML) vs {_periods(_p85(mc))} (Monte Carlo)"
    if mc.probability_by_deadline is not None and ml_result.probability_by_deadline is not None:
        text += (
            f", P(deadline) {format_probability(ml_result.probability_by_deadline)} vs "
            f"{format_probability(mc.probability_by_deadline)}"
        )
    return text


def _answer(result: ForecastResult) -> dict[str, Any]:
    """The side-by-side fields: percentiles with dates and MC error, P(deadline), items by it."""
    levels = (50, 70, 85, 95)
    out: dict[str, Any] = {
        "runs": result.runs,
        "percentiles": result.percentiles(levels),
        "dates": result.dates(levels),
        "percentile_error": {str(p): result.percentile_error(p)["plus_minus"] for p in levels},
        "not_done_share": result.not_done_share,
    }
    prob = result.probability_by_deadline
    if prob is not None:
        out["probability_by_deadline"] = prob
        out["probability_by_deadline_text"] = format_probability(prob)
        out["items_by_deadline"] = {str(p): result.items_by_deadline(p) for p in levels}
    return out


def compare(
    scenario: Scenario,
    method: str = "both",
    runs: int = 100_000,
    seed: int = 0,
    ml_method: str = DEFAULT_ML_METHOD,
    n_paths: int = DEFAULT_PATHS,
) -> DeadlineComparison:
    """ML, Monte Carlo, or both for one scenario, in this process (the reference for the Ray job)."""
    if method not in METHODS:
        raise InputError("method", method, f"must be one of {', '.join(METHODS)}")
    parts: dict[str, Any] = {}
    if method in ("mc", "both"):
        parts.update(forecast_task("mc", scenario, runs, seed, ml_method, n_paths))
    if method in ("ml", "both"):
        if method == "ml":
            parts["ml"] = run_ml(scenario, runs, seed, ml_method, n_paths)  # refusals raise
        else:
            parts.update(forecast_task("ml", scenario, runs, seed, ml_method, n_paths))
    return build_comparison(scenario, parts, ml_method)


def build_comparison(
    scenario: Scenario, parts: dict[str, Any], ml_method: str
) -> DeadlineComparison:
    notes = []
    if "ml_refused" in parts:
        notes.append(f"ML not used: {parts['ml_refused']}")
    return DeadlineComparison(scenario, parts.get("mc"), parts.get("ml"), ml_method, notes)
