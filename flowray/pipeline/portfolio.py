"""Stored portfolios: save a definition, forecast it, save the forecast, mark features done.

A stored portfolio is the mapping its TOML file holds; teams read from a
project keep `project = NAME`, so loading it reads the teams' current
histories from the ledger. Saved forecasts are immutable and keep the exact
inputs they were made from (the definition and the histories used), so a
forecast can be re-run bit for bit; each feature is scored once it is marked
done. See docs/portfolio.md, "Stored portfolios".

Import from it by name (`from flowray.pipeline.portfolio import load_portfolio`,
or `from flowray.pipeline import load_portfolio`): the package's attribute
`pipeline.portfolio` is the projects' page (`pipeline.ledger.portfolio`), so
`import flowray.pipeline.portfolio as m` binds that function, not this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowray.core.portfolio import Portfolio, portfolio_definition, team_histories
from flowray.core.portfolio_results import PortfolioResult
from flowray.exceptions import InputError
from flowray.importers.portfolio_file import HistoryPeriod, parse_portfolio
from flowray.pipeline.workspace import Where, workspace_of
from flowray.text import format_probability


def _history(store: Any) -> Callable[[str], Sequence[Any]]:
    """project name -> its stored periods (an unknown project is refused by name)."""
    return lambda project: store.get_throughput(project)


def _check_portfolio(portfolio: Any) -> Portfolio:
    if not isinstance(portfolio, Portfolio):
        raise InputError("portfolio", type(portfolio).__name__, "must be a flowray Portfolio")
    return portfolio


def list_portfolios(db_path: Where = None) -> list[str]:
    """The stored portfolios' names, sorted."""
    return list(workspace_of(db_path).store.list_portfolios())


def load_portfolio(name: str, db_path: Where = None) -> Portfolio:
    """The stored definition of portfolio `name`, its project teams' histories read from the ledger."""
    store = workspace_of(db_path).store
    return parse_portfolio(store.get_portfolio(name).definition, history=_history(store))


def save_portfolio(name: str, portfolio: Portfolio, db_path: Where = None) -> int:
    """Create portfolio `name` or replace its definition (a new revision); returns its id.

    Saved forecasts keep the definition they were made from. The definition is
    read back before it is stored, so a team's project must exist with the
    portfolio's period length.
    """
    store = workspace_of(db_path).store
    definition = portfolio_definition(_check_portfolio(portfolio))
    parse_portfolio(definition, history=_history(store))
    return int(store.save_portfolio_definition(name, definition))


def forecast_inputs(portfolio: Portfolio) -> dict[str, Any]:
    """What a saved forecast keeps to be re-made: the definition and the histories it used."""
    return {
        "definition": portfolio_definition(portfolio),
        "histories": team_histories(portfolio),
        "sampler": portfolio.sampler,
    }


def portfolio_from_inputs(inputs: Mapping[str, Any]) -> Portfolio:
    """The portfolio a saved forecast simulated, from its stored inputs (histories as used)."""
    by_project: dict[str, list[HistoryPeriod]] = {}
    definition = inputs["definition"]
    period_days = int(definition.get("period_days", 7))
    for history in inputs.get("histories", {}).values():
        starts = [dt.date.fromisoformat(d) for d in history["history_starts"]]
        by_project[history["project"]] = [
            HistoryPeriod(start, int(items), period_days)
            for start, items in zip(starts, history["throughput"], strict=True)
        ]
    return parse_portfolio(definition, history=lambda project: by_project.get(project, []))


def _save(
    store: Any,
    name: str,
    definition: Mapping[str, Any],
    result: PortfolioResult,
    forecast_name: str | None,
) -> int:
    from flowray.records.portfolios import prepare_portfolio_forecast

    prepared = prepare_portfolio_forecast(
        definition, forecast_inputs(result.portfolio), result, name=forecast_name, created_by=None
    )
    return int(store.save_portfolio_forecast(name, prepared))


def save_portfolio_forecast(
    name: str,
    portfolio: Portfolio,
    result: PortfolioResult,
    db_path: Where = None,
    *,
    forecast_name: str | None = None,
) -> int:
    """Save `portfolio` as portfolio `name` (a new revision when new or changed) and the forecast,
    in one transaction; returns the forecast id.

    `result` must be a forecast of `portfolio`. The forecast keeps its exact
    inputs (definition and histories used) and, per feature, its histogram of
    completion periods; it is never changed afterwards.
    """
    _check_portfolio(portfolio)
    if not isinstance(result, PortfolioResult):
        raise InputError("result", type(result).__name__, "must be a PortfolioResult")
    if result.portfolio != portfolio:
        raise InputError("result", "another portfolio", "must be a forecast of this portfolio")
    if not result.complete:
        raise InputError(
            "result", f"{result.runs} of {result.runs_asked} runs", "save a finished forecast"
        )
    store = workspace_of(db_path).store
    definition = portfolio_definition(portfolio)
    parse_portfolio(definition, history=_history(store))  # it can be loaded back
    return _save(store, name, definition, result, forecast_name)


def mark_feature_done(name: str, feature: str, done_on: dt.date, db_path: Where = None) -> None:
    """Record that `feature` of portfolio `name` was done on `done_on` (never a future date),
    and score every saved forecast of the portfolio that covered it."""
    workspace_of(db_path).store.mark_feature_done(name, feature, done_on)


def list_portfolio_forecasts(name: str, db_path: Where = None) -> list[Any]:
    """The saved forecasts of portfolio `name` (PortfolioForecastRecord), oldest first."""
    return list(workspace_of(db_path).store.list_portfolio_forecasts(name))


class NothingLeft(InputError):
    """A stored portfolio with nothing to forecast today: every feature done, or the target passed."""


def portfolio_as_of(name: str, db_path: Where = None, *, today: dt.date | None = None) -> Portfolio:
    """The stored portfolio as it stands `today`: the features marked done left out, and the
    start moved to today when it has passed (the sizes are as stored; save the definition
    again to update them)."""
    store = workspace_of(db_path).store
    stored = store.get_portfolio(name)
    portfolio = parse_portfolio(stored.definition, history=_history(store))
    done = {d.feature for d in stored.done}
    features = tuple(f for f in portfolio.features if f.name not in done)
    if not features:
        raise NothingLeft("portfolio", name, "has every feature marked done")
    start = max(portfolio.start, today or dt.date.today())
    if portfolio.target is not None and portfolio.target < start:
        raise NothingLeft(
            "portfolio",
            name,
            f"has a target ({portfolio.target.isoformat()}) that has passed; save a new target",
        )
    return portfolio.with_changes(features=features, start=start)


def forecast_stored_portfolio(
    name: str,
    db_path: Where = None,
    *,
    runs: int = 100_000,
    seed: int = 0,
    engine: str | None = None,
    save: bool = False,
    forecast_name: str | None = None,
    today: dt.date | None = None,
) -> tuple[PortfolioResult, int | None]:
    """Forecast stored portfolio `name` as it stands today (`portfolio_as_of`); save it if asked.

    A saved forecast refers to the stored definition it was made from (no new
    revision) and keeps its exact inputs. Returns (result, forecast id or None).
    """
    from flowray.jobs.portfolio import submit_portfolio

    workspace = workspace_of(db_path, engine)
    store = workspace.store
    portfolio = portfolio_as_of(name, workspace, today=today)
    result = submit_portfolio(workspace.engine, portfolio, runs, seed).result()
    if not save:
        return result, None
    definition = store.get_portfolio(name).definition
    return result, _save(store, name, definition, result, forecast_name)


def portfolio_alerts(previous: Any | None, result: PortfolioResult) -> list[str]:
    """Features inside the cut line of the previous saved forecast whose P(done by the target)
    is now below the level: "feature: P(target) before -> now ...". None before: no alert."""
    if previous is None or not previous.cut_line or result.portfolio.target is None:
        return []
    share = result.portfolio.level / 100.0
    names = set(result.feature_names)
    out = []
    for feature in previous.features[: previous.cut_line]:
        if feature.feature not in names:  # done since, or taken off the list
            continue
        now = result.probability_by_target(feature.feature)
        if now is None or now >= share - 1e-12:
            continue
        error = result.probability_error(now) or 0.0
        before = "-" if feature.p_target is None else format_probability(feature.p_target)
        out.append(
            f"{feature.feature}: P(done by the target) {before} in forecast "
            f"{previous.forecast_id} (inside its cut line) -> {format_probability(now)} "
            f"±{error * 100:.1f} pt now, below the level {result.portfolio.level:g}%"
        )
    return out


def reforecast_portfolio(
    name: str,
    db_path: Where = None,
    *,
    runs: int = 50_000,
    seed: int = 0,
    engine: str | None = None,
    today: dt.date | None = None,
) -> tuple[int, PortfolioResult, list[str]]:
    """The batch's step for one stored portfolio: forecast it as it stands today, save it, and
    compare with its previous saved forecast. Returns (forecast id, result, alerts)."""
    workspace = workspace_of(db_path, engine)
    forecasts = workspace.store.list_portfolio_forecasts(name)
    previous = forecasts[-1] if forecasts else None
    day = today or dt.date.today()
    result, fid = forecast_stored_portfolio(
        name,
        workspace,
        runs=runs,
        seed=seed,
        save=True,
        forecast_name=f"batch as of {day.isoformat()}",
        today=day,
    )
    assert fid is not None  # saved
    return fid, result, portfolio_alerts(previous, result)
