"""The serial engine: a job's tasks run one after another in this process.

Same interface as the Ray engine (state, progress, partial, result, cancel),
and the same numbers: tasks are the same, merges are exact. The tasks run in
one background thread of this process, so a widget can follow and cancel a
job without Ray; `result()` waits for it. A failing task's own exception is
raised by `result()`, with its traceback (in-process there is nothing to
unwrap), and the job's `error` says which task failed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from flowray.exceptions import JobCancelled
from flowray.jobs.state import (
    CANCEL_WAIT_S,
    DEFAULT_MAX_RETRIES,
    ChunkTask,
    JobState,
    JobTimeout,
    Progress,
    check_submission,
    identity,
)

_WAIT_STEP_S = 0.1


class SerialJob:
    """A job whose tasks run in order in one thread of this process."""

    def __init__(
        self,
        kind: str,
        tasks: Sequence[ChunkTask],
        merge: Callable[[list[Any]], Any],
        finalize: Callable[[Any], Any],
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.kind = kind
        self._tasks = list(tasks)
        self._merge = merge
        self._finalize = finalize
        self._lock = threading.RLock()
        self._finished = threading.Event()
        self._cancelled = threading.Event()
        self._state = JobState.PENDING
        self._acc: Any = None
        self._done = {"chunks": 0, "runs": 0, "tasks": 0}
        self._chunks_total = sum(t.chunks for t in self._tasks)
        self._runs_total = sum(t.runs for t in self._tasks)
        self._error: str | None = None
        self._cause: BaseException | None = None
        self._result: Any = None
        self._has_result = False
        self._started = time.monotonic()
        self._ended: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"flowray-{kind}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for index, task in enumerate(self._tasks):
            if self._cancelled.is_set():
                return
            try:
                part = task.fn(*task.args)
            except BaseException as exc:  # the task's own error, raised again by result()
                with self._lock:
                    where = task.label or f"task {index}"
                    self._error = (
                        f"{self.kind} job {self.id}: {where} failed: {type(exc).__name__}: {exc}"
                    )
                    self._cause = exc
                    self._end(JobState.FAILED)
                return
            with self._lock:
                if self._cancelled.is_set():
                    return
                self._acc = self._merge([part] if self._acc is None else [self._acc, part])
                self._done["chunks"] += task.chunks
                self._done["runs"] += task.runs
                self._done["tasks"] += 1
                self._state = JobState.RUNNING
        with self._lock:
            if not self._cancelled.is_set():
                self._end(JobState.DONE)

    def _end(self, state: JobState) -> None:
        self._state = state
        self._ended = time.monotonic()
        self._finished.set()

    # -- the job interface -------------------------------------------------------------
    @property
    def state(self) -> JobState:
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    def done(self) -> bool:
        return self._state.finished

    def progress(self) -> Progress:
        with self._lock:
            end = self._ended if self._ended is not None else time.monotonic()
            return Progress(
                state=self._state,
                chunks_done=self._done["chunks"],
                chunks_total=self._chunks_total,
                runs_done=self._done["runs"],
                runs_total=self._runs_total,
                tasks_done=self._done["tasks"],
                tasks_total=len(self._tasks),
                tasks_submitted=min(
                    len(self._tasks), self._done["tasks"] + (0 if self._state.finished else 1)
                ),
                elapsed_s=end - self._started,
            )

    def partial(self) -> Any:
        with self._lock:
            if self._state is JobState.DONE:
                return self._final()
            acc = self._acc
        return None if acc is None else self._finalize(acc)

    def result(self, timeout: float | None = None) -> Any:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished.wait(_WAIT_STEP_S):
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeout(
                    f"job {self.id} ({self.kind}): not finished after {timeout} s; "
                    f"{self.progress().fraction:.0%} done"
                )
        with self._lock:
            if self._state is JobState.FAILED:
                assert self._cause is not None
                raise self._cause
            if self._state is JobState.CANCELLED:
                raise JobCancelled(f"job {self.id} ({self.kind}) was cancelled")
            return self._final()

    def cancel(self, wait: float = CANCEL_WAIT_S) -> bool:
        """Stop before the next task; the state is CANCELLED on return (a running task ends alone)."""
        with self._lock:
            if self._state.finished:
                return False
            self._cancelled.set()
            self._end(JobState.CANCELLED)
        self._thread.join(timeout=max(0.0, wait))
        return True

    def _final(self) -> Any:
        if not self._has_result:
            self._result = self._finalize(self._acc)
            self._has_result = True
        return self._result

    def __repr__(self) -> str:
        p = self.progress()
        return f"<SerialJob {self.id} {self.kind} {p.state.value} {p.fraction:.0%}>"


class SerialEngine:
    """Runs jobs in this process: no cluster, nothing to start, the same numbers as Ray."""

    name = "serial"

    def share(self, value: Any) -> Any:
        return value

    def submit(
        self,
        kind: str,
        tasks: Sequence[ChunkTask],
        merge: Callable[[list[Any]], Any],
        finalize: Callable[[Any], Any] = identity,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_in_flight: int | None = None,
        keep: Sequence[Any] = (),
    ) -> SerialJob:
        check_submission(kind, tasks, max_retries)
        return SerialJob(kind, tasks, merge, finalize)

    def __repr__(self) -> str:
        return "SerialEngine()"


SERIAL = SerialEngine()
"""The one serial engine (it holds no state)."""
