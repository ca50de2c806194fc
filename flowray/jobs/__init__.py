"""Jobs: the one interface every long piece of work runs behind, and its serial engine.

A use case is written once as a job (`submit_forecast`, `submit_method_forecast`,
a backtest, a sweep...) and runs on whichever engine it is given: `SERIAL`
(this process, no cluster) or `flowray.tasks.RAY` (Ray remote tasks). Both
give the same numbers, and both answer `state`, `progress()`, `partial()`,
`result()` and `cancel()`. The pipeline chooses the engine, in one place.
"""

from flowray.jobs.composite import (
    CALIBRATION_SHARE,
    ForecastProgress,
    MethodJob,
    submit_method_forecast,
)
from flowray.jobs.forecast import (
    MAX_CHUNKS_PER_TASK,
    MIN_TASKS_PER_JOB,
    plan_task_groups,
    submit_forecast,
    submit_how_many,
)
from flowray.jobs.serial import SERIAL, SerialEngine, SerialJob
from flowray.jobs.state import (
    CANCEL_WAIT_S,
    DEFAULT_MAX_RETRIES,
    ChunkTask,
    Engine,
    Job,
    JobState,
    JobTimeout,
    Progress,
)
from flowray.jobs.status import ClusterInfo, ClusterStatus, HealthCheck

__all__ = [
    "CALIBRATION_SHARE",
    "CANCEL_WAIT_S",
    "DEFAULT_MAX_RETRIES",
    "MAX_CHUNKS_PER_TASK",
    "MIN_TASKS_PER_JOB",
    "SERIAL",
    "ChunkTask",
    "ClusterInfo",
    "ClusterStatus",
    "Engine",
    "ForecastProgress",
    "HealthCheck",
    "Job",
    "JobState",
    "JobTimeout",
    "MethodJob",
    "Progress",
    "SerialEngine",
    "SerialJob",
    "plan_task_groups",
    "submit_forecast",
    "submit_how_many",
    "submit_method_forecast",
]
