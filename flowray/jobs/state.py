"""The job interface: what every engine's job answers, and what a job is made of.

A job is "a list of tasks whose results merge": each `ChunkTask` runs
`fn(*args)` somewhere (in this process or on a Ray worker), an
order-independent `merge` folds finished results together, and `finalize`
turns a merge into the job's result. Because merges are exact (integer
histograms add), the serial engine and the Ray engine give the same result
bit for bit, and `partial()` can show the result so far at any moment.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from flowray.exceptions import FlowrayError, InputError

DEFAULT_MAX_RETRIES = 3
"""Ray re-runs a task this often when its worker or node dies; a chunk's result does not change."""

CANCEL_WAIT_S = 1.5
"""How long `cancel()` waits for the engine to confirm that every cancelled task has ended."""


class JobTimeout(FlowrayError, TimeoutError):
    """`Job.result(timeout=...)` ran out of time; the job keeps running."""


class JobState(enum.StrEnum):
    """Where a job stands. PENDING: submitted, no result yet; RUNNING: results arriving."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class ChunkTask:
    """One remote task: `fn(*args)` on a worker. It covers `chunks` chunks and `runs` runs.

    `fn` must be importable on the workers (a module-level function of flowray
    or its dependencies), so it travels by name.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    chunks: int = 1
    runs: int = 0
    label: str = ""


@dataclass(frozen=True)
class Progress:
    """A job's progress: counts only ever grow, and end at the totals when DONE."""

    state: JobState
    chunks_done: int
    chunks_total: int
    runs_done: int
    runs_total: int
    tasks_done: int
    tasks_total: int
    tasks_submitted: int
    elapsed_s: float

    @property
    def fraction(self) -> float:
        """Share of the work done, by runs (by chunks when a job has no runs)."""
        if self.runs_total > 0:
            return self.runs_done / self.runs_total
        return self.chunks_done / self.chunks_total if self.chunks_total else 1.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        data["fraction"] = self.fraction
        return data


class Job(Protocol):
    """A handle on one submitted job. Every method returns promptly except `result`."""

    kind: str

    @property
    def state(self) -> JobState: ...

    @property
    def error(self) -> str | None: ...

    def done(self) -> bool: ...

    def progress(self) -> Progress: ...

    def partial(self) -> Any: ...

    def result(self, timeout: float | None = None) -> Any: ...

    def cancel(self, wait: float = CANCEL_WAIT_S) -> bool: ...


class Engine(Protocol):
    """Where a job's tasks run: `SerialEngine` (this process) or `tasks.RayEngine` (Ray)."""

    name: str

    def share(self, value: Any) -> Any:
        """A handle for a large read-only value that many tasks take as an argument."""
        ...

    def submit(
        self,
        kind: str,
        tasks: Sequence[ChunkTask],
        merge: Callable[[list[Any]], Any],
        finalize: Callable[[Any], Any] = ...,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_in_flight: int | None = None,
        keep: Sequence[Any] = (),
    ) -> Job:
        """Start `tasks` and return their job at once."""
        ...


def check_submission(kind: str, tasks: Sequence[ChunkTask], max_retries: int) -> None:
    """The checks every engine makes before it starts a job."""
    if not kind or not all(ch.isalnum() or ch in "_-" for ch in kind):
        raise InputError("kind", kind, "a job kind is a short name of letters, digits, _ or -")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InputError("max_retries", max_retries, "must be a whole number >= 0")
    if not tasks:
        raise InputError("tasks", len(tasks), "a job needs at least one task")


def identity(merged: Any) -> Any:
    """The default `finalize`: the merge is the result."""
    return merged


def last(parts: list[Any]) -> Any:
    """The `merge` of a one-task job: its result."""
    return parts[-1]
