"""Input boxes that never change what the user typed: text read through core.validation.

ipywidgets' number boxes (BoundedIntText and friends) coerce and clamp: -5
becomes the minimum and "abc" the last good value, without a word, so a page
answers a question nobody asked. A `CheckedText` keeps the text as typed,
reads it through one of `core.validation`'s checks, and shows the check's
`InputError` (the field, the value, the rule) right under the box. The panel
that owns the boxes keeps Run disabled while any of them holds an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets

from flowray.core.validation import finite_number, parse_date, whole_number
from flowray.exceptions import InputError
from flowray.text import long_date
from flowray.widgets.base import describe_error
from flowray.widgets.html import escape

Check = Callable[[str, str], Any]
"""Reads a field's text: (field, text) -> the value, or raises InputError(field, text, rule)."""


class _Typed(traitlets.Unicode):
    """Text as typed; a number or a date set from code is written out (40 -> "40", a date -> ISO)."""

    def validate(self, obj: Any, value: Any) -> Any:
        if value is None:
            value = ""
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        return super().validate(obj, value)


class _Checked:
    """What a checked box adds to an ipywidgets text box: the check, the message under it."""

    value: str
    layout: widgets.Layout
    field: str
    check: Check
    hint: Callable[[Any], str] | None
    label: Callable[[str], str] | None
    message: widgets.HTML
    box: widgets.VBox

    def __init__(
        self,
        field: str,
        check: Check,
        *,
        value: Any = "",
        hint: Callable[[Any], str] | None = None,
        label: Callable[[str], str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("continuous_update", True)
        # the ipywidgets box the class mixes this into (Text or Textarea), next in the MRO
        super().__init__(value=value, **kwargs)  # type: ignore[call-arg]
        self.field = field
        self.check = check
        self.hint = hint
        self.label = label  # names the field in the message (default: base.field_label)
        self.message = widgets.HTML("")
        self.box = widgets.VBox([self, self.message])

    def read(self) -> Any:
        """The value the text stands for; an InputError naming this field when it is not valid."""
        return self.check(self.field, self.value)

    def problem(self) -> InputError | None:
        try:
            self.read()
        except InputError as exc:
            return exc
        return None

    def show_problem(self, problem: InputError | None) -> None:
        """Show `problem` under the box in red, or (when there is none) the hint, in grey."""
        if problem is not None:
            self.message.value = (
                "<div style='color:#b42318;font-size:12px;max-width:370px;line-height:1.3'>"
                f"{escape(describe_error(problem, self.label))}</div>"
            )
            return
        words = ""
        if self.hint is not None:
            try:
                words = self.hint(self.read())
            except InputError:
                words = ""
        self.message.value = (
            f"<div style='color:#555;font-size:12px'>{escape(words)}</div>" if words else ""
        )

    def set_visible(self, visible: bool) -> None:
        display = None if visible else "none"
        self.layout.display = display
        self.message.layout.display = display


class CheckedText(_Checked, widgets.Text):
    """A one-line text box whose value is read by `check`; its problem (or a hint) shows under it.

    `.value` is the text exactly as typed. `.read()` is the checked value (or
    the InputError); `.problem()` is that error or None. Place `.box` (the box
    and its message) in a layout, and hide or show both with `set_visible`.
    """

    value = _Typed(help="The text as typed").tag(sync=True)


class CheckedArea(_Checked, widgets.Textarea):
    """A multi-line `CheckedText` (pasted lists of numbers)."""

    value = _Typed(help="The text as typed").tag(sync=True)


# -- checks, each one of core.validation's with the form's bounds ----------------------------------
def whole(minimum: int | None = None, maximum: int | None = None) -> Check:
    """A whole number within [minimum, maximum] (validation.whole_number)."""
    return lambda field, value: whole_number(field, value, minimum, maximum)


def number(minimum: float | None = None, maximum: float | None = None) -> Check:
    """A finite number within [minimum, maximum] (validation.finite_number)."""
    return lambda field, value: finite_number(field, value, minimum, maximum)


DATE_RULE = "must be a date written YYYY-MM-DD, e.g. 2026-12-02"


def date(*, required: bool) -> Check:
    """A date written YYYY-MM-DD (validation.parse_date); empty is None unless required."""

    def check(field: str, value: str) -> dt.date | None:
        day = parse_date(field, value)
        if day is None and required:
            raise InputError(field, value, DATE_RULE)
        return day

    return check


def date_in_words(day: Any) -> str:
    """The hint under a date box: the date as the rest of the page writes it."""
    return "" if day is None else long_date(day)
