"""flowray: probabilistic delivery forecasts (when, how many, how likely) on Ray.

The stable public API:

    from flowray import Scenario, forecast
    result = forecast(Scenario(throughput=[5, 6, 0, 7, 4, 8, 3, 6, 5, 7], backlog=40), seed=7)
    result.percentile(85), result.to_dict()

`cycle_time_report(project, db_path)` reads a stored project's work items: cycle-time
percentiles, and the age and likely done date of each item in progress.

`forecast` uses flowray's calibrated default method, as the pages, the CLI and
the batch do; `simulate` and `how_many` run the plain model (plain bootstrap on
all the history), which the reference checks compare against.

`import flowray` is instant: the names below (and numba, pandas, Ray, DuckDB
behind them) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowray.exceptions import FlowrayError, InputError

__version__ = "0.1.0"

_LAZY = {
    "forecast": "flowray.core.methods",
    "simulate": "flowray.core.forecast",
    "how_many": "flowray.core.forecast",
    "ForecastResult": "flowray.core.results",
    "HowManyResult": "flowray.core.results",
    "Scenario": "flowray.core.scenario",
    "Risk": "flowray.core.scenario",
    "Team": "flowray.core.scenario",
    "Portfolio": "flowray.core.portfolio",
    "forecast_portfolio": "flowray.core.portfolio_engine",
    "cycle_time_report": "flowray.pipeline.cycle_time",
    "CycleTimeReport": "flowray.pipeline.cycle_time",
}
_SUBMODULES = (
    "pipeline",
    "jobs",
    "tasks",
    "store",
    "records",
    "importers",
    "widgets",
    "core",
    "text",
    "data",
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from flowray.core.forecast import how_many, simulate
    from flowray.core.methods import forecast
    from flowray.core.portfolio import Portfolio
    from flowray.core.portfolio_engine import forecast_portfolio
    from flowray.core.results import ForecastResult, HowManyResult
    from flowray.core.scenario import Risk, Scenario, Team
    from flowray.pipeline.cycle_time import CycleTimeReport, cycle_time_report


def __getattr__(name: str) -> Any:
    """Load a public name (or a subpackage: `from flowray import pipeline`) on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"flowray.{name}")
    raise AttributeError(f"module 'flowray' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "CycleTimeReport",
    "ForecastResult",
    "FlowrayError",
    "HowManyResult",
    "InputError",
    "Portfolio",
    "Risk",
    "Scenario",
    "Team",
    "__version__",
    "cycle_time_report",
    "forecast",
    "forecast_portfolio",
    "how_many",
    "simulate",
]
