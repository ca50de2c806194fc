"""The one error hierarchy of flowray.

Every message names the field, the value received and the rule it broke, so a
user reading a status line (or a CI log) knows exactly what to fix.
"""

from __future__ import annotations

from typing import Any


class FlowrayError(Exception):
    """Base class of every error flowray raises on purpose."""


class InputError(FlowrayError, ValueError):
    """Bad input: names the field, the value and the rule."""

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{field}: got {shown}; {rule}")


class JobError(FlowrayError):
    """A background job failed; carries the failing chunk's message."""


class JobCancelled(FlowrayError):
    """The job was cancelled before it finished."""


class StoreError(FlowrayError):
    """The database could not be read or written (after retries)."""


class NotEnoughData(InputError):
    """Too little history for the requested method (ML, or any forecast below the minimum)."""
