"""flowray: probabilistic delivery forecasts (when, how many, how likely) on Ray.

The stable public API:

    from flowray import Scenario, simulate, how_many
    result = simulate(Scenario(throughput=[5, 6, 0, 7], backlog=40), runs=100_000, seed=7)
    result.percentile(85), result.to_dict()

`import flowray` is instant: the names below (and numba, pandas, Ray, DuckDB
behind them) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowray.exceptions import FlowrayError, InputError

__version__ = "0.1.0"

_LAZY = {
    "simulate": "flowray.core.forecast",
    "how_many": "flowray.core.forecast",
    "ForecastResult": "flowray.core.results",
    "HowManyResult": "flowray.core.results",
    "Scenario": "flowray.core.scenario",
    "Risk": "flowray.core.scenario",
    "Team": "flowray.core.scenario",
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
    from flowray.core.results import ForecastResult, HowManyResult
    from flowray.core.scenario import Risk, Scenario, Team


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
    "ForecastResult",
    "FlowrayError",
    "HowManyResult",
    "InputError",
    "Risk",
    "Scenario",
    "Team",
    "__version__",
    "how_many",
    "simulate",
]
