"""What every flowray panel shares: a status line, a busy guard, plain-language errors.

A Voila page hides tracebacks and silently drops exceptions raised in widget
callbacks, so a panel never lets one escape: every callback runs inside
`Panel.action` (or, for work that continues in the background, inside
`Panel.start_background`), which disables the panel's controls, shows any
error in the status line in words a stakeholder can act on, and always
re-enables the controls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

import ipywidgets as widgets

from flowray.exceptions import FlowrayError, InputError, JobCancelled, JobError, StoreError
from flowray.widgets.html import escape

log = logging.getLogger(__name__)

# Plain-language names of scenario and request fields, for error messages.
FIELD_LABELS: dict[str, str] = {
    "throughput": "Throughput",
    "project": "Project",
    "window": "History window",
    "backlog": "Items left",
    "backlog.low": "Items left (low)",
    "backlog.high": "Items left (up to)",
    "split_rate": "Split rate",
    "split_rate.low": "Each item becomes (from)",
    "split_rate.high": "Each item becomes (to)",
    "risks": "Risks",
    "risks.likelihood": "Risk likelihood",
    "risks.low": "Risk impact (low)",
    "risks.mode": "Risk impact (most likely)",
    "risks.high": "Risk impact (high)",
    "team": "Team",
    "team.history_size": "People behind the history",
    "team.min_contributors": "Fewest people active",
    "team.max_contributors": "Most people active",
    "team.contributors": "Team (fewest / most people)",
    "team.s_curve": "Ramp-up and wind-down",
    "focus": "Focus (% of capacity)",
    "start": "Start date",
    "deadline": "Deadline",
    "end": "Count items until",
    "periods": "Count items until",
    "runs": "Simulated futures",
    "seed": "Repeatable-run number",
    "max_periods": "Horizon",
    "series": "Series",
    "method": "Method",
    "horizon": "Horizon",
    "step": "A past date every N weeks",
}


def field_label(field: str) -> str:
    """'team.s_curve' -> 'Ramp-up and wind-down'; 'throughput[3]' -> 'Throughput (value 4)'."""
    if field in FIELD_LABELS:
        return FIELD_LABELS[field]
    base, _, rest = field.partition("[")
    if rest and base in FIELD_LABELS:
        index = rest.rstrip("]")
        return (
            f"{FIELD_LABELS[base]} (value {int(index) + 1})"
            if index.isdigit()
            else FIELD_LABELS[base]
        )
    return field.replace("_", " ").replace(".", " ").capitalize()


def describe_error(exc: BaseException, label: Callable[[str], str] | None = None) -> str:
    """One line a stakeholder can act on; never a traceback.

    `label` names a field in the page's words (default `field_label`): a page
    whose fields carry names of their own (a feature's) passes its own.
    """
    if isinstance(exc, InputError):
        value = exc.value
        shown = "" if value is None or value == "" else f" (you entered {_short(value)})"
        return f"Please check {(label or field_label)(exc.field)}: {exc.rule}{shown}."
    if isinstance(exc, JobCancelled):
        return "The run was cancelled."
    if isinstance(exc, JobError):
        return f"The run failed on the cluster: {_short(exc, 300)}"
    if isinstance(exc, StoreError):
        return f"The database could not be read or written: {_short(exc, 300)}"
    if isinstance(exc, FlowrayError):
        return _short(exc, 300)
    return f"Something went wrong ({type(exc).__name__}): {_short(exc, 300)}"


def _short(value: Any, limit: int = 80) -> str:
    text = str(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def title(text: str, subtitle: str = "") -> widgets.HTML:
    sub = (
        f"<div style='color:#555;font-size:14px;margin-top:2px'>{escape(subtitle)}</div>"
        if subtitle
        else ""
    )
    return widgets.HTML(
        f"<div style='margin:4px 0 8px 0'><div style='font-size:22px;font-weight:600'>{escape(text)}</div>{sub}</div>"
    )


def section(text: str) -> widgets.HTML:
    return widgets.HTML(
        f"<div style='font-size:15px;font-weight:600;margin:10px 0 4px 0'>{escape(text)}</div>"
    )


def note(text: str) -> widgets.HTML:
    return widgets.HTML(f"<div style='color:#555;font-size:13px'>{escape(text)}</div>")


def run_blockers_html(names: str) -> str:
    """The line under Run naming the fields that hold it back ("" when none do)."""
    if not names:
        return ""
    return (
        "<div style='color:#b42318;font-size:13px;margin:2px 0'>"
        f"Run is off until these are fixed: {escape(names)}.</div>"
    )


def run_and_cancel_buttons(
    run_label: str, run_width: str = "140px"
) -> tuple[widgets.Button, widgets.Button]:
    """The Run / Cancel pair of every job panel: Run in the primary style, Cancel off until a
    job runs (JobPanel turns it on and off)."""
    run = widgets.Button(
        description=run_label,
        button_style="primary",
        layout=widgets.Layout(width=run_width, margin="0 6px 0 0"),
    )
    cancel = widgets.Button(
        description="Cancel",
        button_style="warning",
        disabled=True,
        layout=widgets.Layout(width="90px", margin="0 10px 0 0"),
    )
    return run, cancel


class Panel:
    """Base of every panel: `.widget` to display, `.status` line, busy guard, background tasks.

    A panel object displays itself in a notebook (it forwards to `.widget`),
    so a dashboard cell can end with `forecast_app()`.
    """

    def __init__(self) -> None:
        self.status = widgets.HTML(value="", layout=widgets.Layout(min_height="22px"))
        self.controls: list[widgets.Widget] = []  # disabled while busy
        self.task: asyncio.Task[Any] | None = None
        self.busy = False
        self.last_error: str | None = None
        self.widget: widgets.Widget = widgets.VBox()

    # -- display -----------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # -- status line -----------------------------------------------------------------
    def show_info(self, text: str) -> None:
        self.last_error = None
        self.status.value = f"<span style='color:#333'>{escape(text)}</span>"

    def show_success(self, text: str) -> None:
        self.last_error = None
        self.status.value = f"<span style='color:#1a7f37;font-weight:600'>{escape(text)}</span>"

    def show_error(self, exc: BaseException | str) -> None:
        text = exc if isinstance(exc, str) else describe_error(exc)
        if isinstance(exc, BaseException) and not isinstance(exc, FlowrayError):
            log.warning("panel callback failed", exc_info=exc)  # for the developer's log only
        self.last_error = text
        self.status.value = f"<span style='color:#b42318;font-weight:600'>{escape(text)}</span>"

    # -- busy state --------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        """Disable (or re-enable) the controls; subclasses also toggle their own buttons."""
        self.busy = busy
        for control in self.all_controls():
            control.disabled = busy
        self.after_busy_change(busy)

    def all_controls(self) -> list[widgets.Widget]:
        """Every control to disable while busy (override when controls come and go)."""
        return list(self.controls)

    def after_busy_change(self, busy: bool) -> None:
        """Hook: enable what should stay usable while busy (e.g. Cancel)."""

    def action(self, fn: Callable[[], Any]) -> Callable[..., None]:
        """A button handler that runs `fn` busy, shows errors, and always re-enables.

        When `fn` hands its work to a background task (returns the task from
        `start_background`), that task owns the busy state and re-enables the
        controls when it ends.
        """

        def handler(*_args: Any) -> None:
            if self.busy:
                return
            self.set_busy(True)
            handed_off = False
            try:
                handed_off = isinstance(fn(), asyncio.Task | _Finished)
            except Exception as exc:  # shown to the page user, who never sees tracebacks
                self.show_error(exc)
            finally:
                if not handed_off:
                    self.set_busy(False)

        return handler

    def guarded(self, fn: Callable[..., Any]) -> Callable[..., None]:
        """An observer (or other non-button callback) that shows its errors instead of raising them.

        Unlike `action` it does not toggle the busy state: observers also fire
        while an action runs (e.g. refilling a picker), and must not be skipped.
        """

        def handler(*args: Any) -> None:
            try:
                fn(*args)
            except Exception as exc:  # shown to the page user, who never sees tracebacks
                self.show_error(exc)

        return handler

    def start_background(
        self, work: Callable[[], Coroutine[Any, Any, Any]]
    ) -> asyncio.Task[Any] | _Finished:
        """Run `work()` as an asyncio task of the kernel's loop; the callback returns at once.

        Without a running loop (a plain script), the work runs to completion
        here instead, so the panel still works, only without live updates.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._guarded(work))
            return _Finished()
        self.task = loop.create_task(self._guarded(work))
        return self.task

    async def _guarded(self, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            await work()
        except asyncio.CancelledError:
            self.show_info("Stopped.")
        except Exception as exc:
            self.show_error(exc)
        finally:
            self.set_busy(False)

    async def wait(self) -> None:
        """Await the current background task (tests and notebooks)."""
        if self.task is not None:
            await asyncio.shield(self.task)

    @staticmethod
    async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking call (Ray start, database read) off the kernel's event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, partial(fn, *args, **kwargs))


class _Finished:
    """Marks background work that already ran to completion (no event loop)."""


FINISHED_STATES = ("DONE", "FAILED", "CANCELLED")


class JobPanel(Panel):
    """A panel that runs one job at a time: start it off the event loop, follow it, cancel it.

    Subclasses say how to start the job (`follow_job(start)`) and how to show
    progress, partial results and the end (`show_progress`, `show_partial`,
    `on_done`, `on_cancelled`, `on_failed`); the loop, the cancel request that
    arrives before the job exists, and the cancel that must not block the
    kernel's event loop live here once.
    """

    poll_seconds = 0.25

    cancel_button: widgets.Button  # made by the subclass, where its layout is; wired to on_cancel

    def __init__(self) -> None:
        super().__init__()
        self.job: Any = None
        self._cancel_requested = False

    # -- hooks -----------------------------------------------------------------------------
    def on_started(self, job: Any) -> None:
        """Say that the job runs (called once it exists)."""

    def show_progress(self, progress: Any) -> None:
        """Show the job's progress (called at every poll)."""

    def show_partial(self, job: Any) -> None:
        """Show the result so far (called when more chunks have finished)."""

    def on_done(self, result: Any) -> None:
        """Show the final result."""

    def on_cancelled(self, progress: Any) -> None:
        """Say that the job was cancelled, and how far it got."""

    def on_failed(self) -> None:
        """Mark the failure (the error itself reaches the status line)."""

    # -- the loop --------------------------------------------------------------------------
    def reset_job(self) -> None:
        """Forget the last job before a new one starts (Cancel becomes usable)."""
        self.job = None
        self._cancel_requested = False
        self.cancel_button.disabled = False

    async def follow_job(self, start: Callable[[], Any]) -> None:
        """Start the job off the event loop, then poll it until it ends; a failure raises its error."""
        job = await self.in_thread(start)
        self.job = job
        if self._cancel_requested:
            await self.in_thread(job.cancel)
        self.on_started(job)
        seen_chunks = -1
        while True:
            progress = job.progress()
            self.show_progress(progress)
            if str(progress.state) in FINISHED_STATES:
                break
            if progress.chunks_done != seen_chunks:
                seen_chunks = progress.chunks_done
                self.show_partial(job)
            await asyncio.sleep(self.poll_seconds)
        state = str(job.state)
        if state == "DONE":
            self.on_done(job.result())
        elif state == "CANCELLED":
            self.on_cancelled(job.progress())
        else:
            self.on_failed()
            job.result()  # raises the job's error, shown in the status line

    def on_cancel(self, _button: Any = None) -> None:
        """Cancel the running job; the follow loop notices, shows the state and re-enables the controls."""
        try:
            self.cancel_button.disabled = True
            if self.task is not None and self.task.done():
                return  # the click crossed the job's end: nothing to cancel, keep the last line
            self._cancel_requested = True
            if self.job is not None:
                self.show_info("Cancelling...")
                self._cancel_in_background(self.job)
            else:
                self.show_info("Cancelling as soon as the run has started...")
        except Exception as exc:  # shown to the page user, who never sees tracebacks
            self.show_error(exc)
        finally:
            if self.task is None or self.task.done():
                self.set_busy(False)

    def _cancel_in_background(self, job: Any) -> None:
        """A job's cancel waits up to ~1.5 s for the engine to confirm: do that off the event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            job.cancel()
            return
        future = loop.run_in_executor(None, job.cancel)

        def report(f: asyncio.Future[Any]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc:
                self.show_error(exc)

        future.add_done_callback(report)
