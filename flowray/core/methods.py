"""Forecast methods: which sampler reads the history, on which window, calibrated or not.

A method is a backtested name ("recency+cal", "bootstrap", "block", ...) and a
window (the last N periods the sampler draws from). flowray's default is the
best calibrated method of the backtests (`default_method()`); the plain model
(plain bootstrap on all the history, docs/model.md) is one option away.
`method_forecast` makes a forecast with a method, in this process; the job
engines run the same steps as a job (flowray.jobs.forecast). Every result a
method makes carries a `MethodReport`: the words the pages, the CLI and the
ledger use to say how the numbers were made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from flowray.core import backtest, calibration, live_calibration
from flowray.core.checks import MIN_PERIODS
from flowray.core.engine import Question
from flowray.core.forecast import run_local
from flowray.core.results import HowManyResult, Result
from flowray.core.scenario import Scenario
from flowray.exceptions import InputError
from flowray.text import period_word


def apply_window(history: Sequence[float], window: int | None) -> list[float]:
    """The last `window` periods of the history (all of them for None)."""
    if window is None:
        return list(history)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise InputError("window", window, "must be a whole number of periods >= 1")
    return list(history)[-window:]


DEFAULT = "default"  # the method name that means flowray's chosen method and window
ALL_HISTORY = "all"  # the window that means every stored period
DEFAULT_WINDOW_OF_METHOD = object()  # "not given": the method's own default window

SAMPLER_WORDS = {
    "bootstrap": "Plain bootstrap",
    "block": "Block bootstrap",
    "recency": "Recency-weighted sampling",
    "weibull": "Zero-inflated Weibull fit",
}


@dataclass(frozen=True)
class ForecastMethod:
    """How a forecast reads the history: a backtested method name and the periods its sampler sees.

    name: a sampler ("bootstrap", "block", "recency", "weibull"), optionally with
    "+cal" (the calibration layer, learned from the history's own past forecast
    errors). window: the last N periods the sampler draws from; None = all of them.
    """

    name: str
    window: int | None

    @property
    def base(self) -> str:
        return backtest.parse_method(self.name)[0]

    @property
    def calibrated(self) -> bool:
        return backtest.parse_method(self.name)[1]

    @property
    def is_default(self) -> bool:
        """True for flowray's chosen method and window (backtest.DEFAULT_METHOD / DEFAULT_WINDOW)."""
        return self.name == backtest.DEFAULT_METHOD and self.window == backtest.DEFAULT_WINDOW

    @property
    def is_domain_model(self) -> bool:
        """True for plain bootstrap on all the history: the plain model of docs/model.md."""
        return self.name == "bootstrap" and self.window is None

    def label(self) -> str:
        """'recency+cal, window 12' / 'bootstrap, window all': the backtest names, for logs and tables."""
        return f"{self.name}, window {ALL_HISTORY if self.window is None else self.window}"


def default_method() -> ForecastMethod:
    """flowray's chosen method: the best calibrated method of the backtests."""
    return ForecastMethod(backtest.DEFAULT_METHOD, backtest.DEFAULT_WINDOW)


DOMAIN_MODEL = ForecastMethod("bootstrap", None)
"""Plain bootstrap on all the history: the plain model of docs/model.md."""


def resolve_method(
    name: str | ForecastMethod | None = DEFAULT, window: Any = DEFAULT_WINDOW_OF_METHOD
) -> ForecastMethod:
    """A method name (or 'default') and a window (N, 'all', None = all) -> a checked ForecastMethod.

    Without a window, 'default' takes flowray's chosen window (12) and any other
    method all the history. ML forecasters are refused here: they answer the
    deadline question next to Monte Carlo (`flowray deadline --method ml`).
    """
    if isinstance(name, ForecastMethod):
        method_name, implied = name.name, name.window
    elif name is None or (isinstance(name, str) and name.strip().lower() in (DEFAULT, "")):
        method_name, implied = backtest.DEFAULT_METHOD, backtest.DEFAULT_WINDOW
    else:
        choices = f"'{DEFAULT}' or one of {', '.join(backtest.MC_METHODS)}, optionally with {backtest.CALIBRATED_SUFFIX}"
        if not isinstance(name, str):
            raise InputError("method", name, f"must be {choices}")
        try:
            base, calibrated = backtest.parse_method(name)
        except InputError:
            raise InputError("method", name, f"must be {choices}") from None
        if base in backtest.ML_METHODS:
            raise InputError(
                "method",
                name,
                f"is an ML forecaster: use `flowray deadline --method ml` (ML next to Monte Carlo); "
                f"here the method must be {choices}",
            )
        method_name, implied = backtest.method_name(base, calibrated), None
    if window is DEFAULT_WINDOW_OF_METHOD:
        chosen = implied
    elif window is None:
        chosen = None
    else:
        chosen = backtest.parse_window(window)  # 'all' -> None; whole numbers >= 1
    return ForecastMethod(method_name, chosen)


@dataclass
class MethodReport:
    """Which method made a result, and what its calibration did: for the result view and the ledger."""

    method: ForecastMethod
    history_periods: (
        int  # periods of history the forecast could see (the calibration learns from all)
    )
    period_days: int = 7
    project: str | None = None
    calibration: Any = (
        None  # the fitted map (core.calibration), None until learned or when not calibrated
    )
    horizon: int | None = None  # periods ahead the calibration's past errors were measured at
    pending: bool = False  # a partial result: the calibration is applied when the simulation ends
    # Why a calibrated method's answer was left as simulated (None: it was not left so).
    uncalibrated_reason: str | None = None

    @property
    def calibrated(self) -> bool:
        """True when the answer was actually recalibrated (the method asked for it and it was possible)."""
        return self.calibration is not None and bool(self.calibration.active)

    @property
    def past_errors(self) -> int:
        return 0 if self.calibration is None else int(self.calibration.n_errors)

    @property
    def uses_prior(self) -> bool:
        """True when the pooled prior of other teams' errors took part in the calibration."""
        return self.calibrated and bool(getattr(self.calibration, "uses_prior", False))

    @property
    def prior_weight(self) -> float:
        """The prior's share of the calibration's errors (0 without it)."""
        if not self.uses_prior:
            return 0.0
        return 1.0 - float(self.calibration.own_share)

    def _describe_with_prior(self, sampled: str, whose: str, ahead: str) -> str:
        teams = int(self.calibration.prior_teams)
        pooled = f"the pooled prior of {teams} real teams' forecast errors"
        n = self.past_errors
        if n == 0:
            text = (
                f"{sampled}, calibrated on {pooled}{ahead}: none of {whose} own past forecasts "
                f"has a known outcome yet (its own errors take over as they accrue)."
            )
        else:
            text = (
                f"{sampled}, calibrated on {whose} own past forecast errors ({n} past "
                f"{'forecast' if n == 1 else 'forecasts'} with a known outcome{ahead}) "
                f"and on {pooled} (the prior weighs {round(self.prior_weight * 100):d}%, "
                f"less as {whose} own errors accrue)."
            )
        if self.history_periods < MIN_PERIODS:
            text = (
                f"Only {self.history_periods} {period_word(self.period_days, self.history_periods)} "
                f"of history (fewer than {MIN_PERIODS}): the pooled prior carries this forecast. "
                + text
            )
        return text

    def sampler_words(self) -> str:
        words = SAMPLER_WORDS[self.method.base]
        if self.method.window is None or self.method.window >= self.history_periods:
            return f"{words} on all {self.history_periods} {period_word(self.period_days, self.history_periods)} of history"
        return f"{words} of the last {self.method.window} {period_word(self.period_days, self.method.window)}"

    def describe(self) -> str:
        """Plain words for a stakeholder: what produced the numbers, and whether they are calibrated.

        Words only: no file names and no measured percentages, which change with
        every backtest run (BACKTESTS.md holds those).
        """
        whose = "this project's" if self.project else "this history's"
        source = "this project's history" if self.project else "this history"
        sampled = self.sampler_words()
        if self.method.is_domain_model:
            sampled += " (the plain model)"
        if not self.method.calibrated:
            text = f"{sampled}; not calibrated."
            if self.method.is_domain_model:
                text += (
                    " In flowray's backtests this method was over-confident (its 85% level was met "
                    "less often than 85% of the time); flowray's default method is calibrated."
                )
            return text
        if self.pending:
            return f"{sampled}; calibration on {whose} own past forecast errors is applied when all runs are done."
        if self.uncalibrated_reason:
            return f"{sampled}; not calibrated: {self.uncalibrated_reason}."
        if self.calibrated:
            ahead = (
                ""
                if self.horizon is None
                else f", made {self.horizon} {period_word(self.period_days, self.horizon)} ahead"
            )
            if self.uses_prior:
                return self._describe_with_prior(sampled, whose, ahead)
            return (
                f"{sampled}, calibrated on {whose} own past forecast errors "
                f"({self.past_errors} past forecasts with a known outcome{ahead})."
            )
        needed = calibration.MIN_PAST_ERRORS
        horizon = self.horizon or 0
        text = (
            f"Calibration was not possible: only {self.past_errors} past "
            f"{'forecast' if self.past_errors == 1 else 'forecasts'} made on {source} "
            f"{'has' if self.past_errors == 1 else 'have'} a known outcome, and it needs {needed} "
            f"(about {MIN_PERIODS + needed - 1 + horizon} {period_word(self.period_days)} of history for a "
            f"{horizon}-{period_word(self.period_days, 1)} horizon). Fell back to the same sampling without "
            f"calibration: {sampled[0].lower() + sampled[1:]}."
        )
        if (
            self.method.base == backtest.DEFAULT_BASE_METHOD
            and self.method.window == backtest.DEFAULT_WINDOW
        ):
            text += (
                " Uncalibrated, it was over-confident in flowray's backtests: its 85% level was met "
                "clearly less often than 85% of the time."
            )
        else:
            text += " Uncalibrated forecasts tend to be over-confident."
        return text

    def to_dict(self) -> dict[str, Any]:
        """What the ledger keeps (in the row's result JSON, key 'method')."""
        cmap = self.calibration
        return {
            "name": self.method.name,
            "window": ALL_HISTORY if self.method.window is None else self.method.window,
            "sampler": self.method.base,
            "calibration_asked": self.method.calibrated,
            "calibrated": self.calibrated,
            "calibration": None
            if cmap is None
            else {
                "past_errors": int(cmap.n_errors),
                "weight": float(cmap.weight),
                "horizon": self.horizon,
                "prior": {
                    "teams": int(cmap.prior_teams),
                    "weight": self.prior_weight,
                }
                if self.uses_prior
                else None,
            },
            "history_periods": self.history_periods,
            "is_default": self.method.is_default,
            "description": self.describe(),
        }


def method_forecast(
    scenario: Scenario,
    question: Question,
    runs: int = 100_000,
    seed: int = 0,
    history: Sequence[float] | None = None,
    method: ForecastMethod | None = None,
    project: str | None = None,
) -> Result:
    """A forecast made locally with `method` (default: flowray's chosen one).

    `history` is the whole throughput history (default: the scenario's); the
    sampler draws from its last `method.window` periods and, for a '+cal'
    method, the calibration map is learned from the forecasts the method would
    have made on `history` at every past origin whose outcome is known. The
    result carries `method_report` (MethodReport) and `calibration` (the map,
    or None when the method is not calibrated).
    """
    method = method or default_method()
    forecast_scenario, past = method_scenario(scenario, history, method)
    result = run_local(forecast_scenario, question, runs, seed)
    report = MethodReport(method, len(past), scenario.period_days, project)
    if not method.calibrated:
        return with_report(result, report)
    horizon = calibration_horizon(question, result)
    cmap = live_calibration.live_calibration(
        past, question.kind, horizon, method.base, method.window, seed=seed
    )
    return calibrated(result, cmap, horizon, report)


def calibration_horizon(question: Question, raw: Result) -> int:
    """The horizon whose past errors calibrate the answer: H for how-many, the raw median for "when"."""
    if question.kind == "how_many":
        assert question.periods is not None  # Question.__post_init__ requires it for how_many
        return int(question.periods)
    return live_calibration.calibrated_horizon(raw)


NOTHING_TO_CALIBRATE = (
    "at least half the simulated futures do not finish within the horizon, so there is no "
    "completion time to calibrate"
)


def calibrated(raw: Result, cmap: Any, horizon: int, report: MethodReport) -> Result:
    """The raw result read through the calibration map, with a report that says so.

    A "when" answer whose median is not reached within the horizon is left as
    simulated: its errors are measured in units of its own spread, which runs
    that never finish do not have, and a map would move "not done" runs to
    made-up dates.
    """
    if not isinstance(raw, HowManyResult) and raw.percentile(50) is None:
        return with_report(raw, replace(report, uncalibrated_reason=NOTHING_TO_CALIBRATE))
    result = live_calibration.calibrate_result(raw, cmap)
    result.method_report = replace(report, calibration=cmap, horizon=horizon, pending=False)
    return result


def with_report(result: Result, report: MethodReport, *, pending: bool = False) -> Result:
    """The result as `report`'s method made it, not calibrated (or, pending, not yet)."""
    result.calibration = None
    result.method_report = replace(report, pending=pending)
    return result


def method_scenario(
    scenario: Scenario, history: Sequence[float] | None, method: ForecastMethod
) -> tuple[Scenario, list[float]]:
    """The scenario a method simulates (its window of the history, its sampler) and the whole history."""
    past = list(scenario.throughput if history is None else history)
    return scenario.replace(throughput=apply_window(past, method.window), sampler=method.base), past


def calibrated_forecast(
    scenario: Scenario,
    question: Question,
    runs: int = 100_000,
    seed: int = 0,
    history: Sequence[float] | None = None,
) -> Result:
    """flowray's default forecast: `method_forecast` with `default_method()`.

    `history` is the whole throughput history (default: the scenario's); the
    forecast uses its last DEFAULT_WINDOW periods with the default sampler,
    and the calibration map is learned from the forecasts the default method
    would have made on `history` at every past origin whose outcome is known.
    """
    return method_forecast(scenario, question, runs, seed, history, default_method())


def forecast(
    scenario: Scenario,
    *,
    periods: int | None = None,
    end: object | None = None,
    runs: int = 100_000,
    seed: int = 0,
    method: str | ForecastMethod | None = DEFAULT,
    window: Any = DEFAULT_WINDOW_OF_METHOD,
) -> Result:
    """flowray's forecast of a scenario, made the way the pages, the CLI and the batch make it.

    "When will it be done?" by default; "how many items?" with `periods` or an
    `end` date. The method is flowray's calibrated default unless named
    (`method="bootstrap", window="all"` is the plain model, which `simulate`
    and `how_many` compute directly). The scenario's throughput is the whole
    history: the method reads its own window of it and learns its calibration
    from the history's past forecast errors.
    """
    if periods is not None or end is not None:
        from flowray.core.forecast import horizon_periods

        question = Question("how_many", horizon_periods(scenario, periods, end))
    else:
        question = Question("when")
    return method_forecast(scenario, question, runs, seed, method=resolve_method(method, window))
