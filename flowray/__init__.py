"""flowray: probabilistic delivery forecasts (when, how many, how likely) on Ray.

The stable public API:

    from flowray import Scenario, simulate, how_many
    result = simulate(Scenario(throughput=[5, 6, 0, 7], backlog=40), runs=100_000, seed=7)
    result.percentile(85), result.to_dict()
"""

from flowray.core.forecast import how_many, simulate
from flowray.core.results import ForecastResult, HowManyResult
from flowray.core.scenario import Risk, Scenario, Team
from flowray.exceptions import FlowrayError, InputError

__version__ = "0.1.0"

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
