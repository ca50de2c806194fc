"""The checks every input goes through: whole numbers, numbers, text, choices, dates.

One meaning everywhere. A **whole number** is a value equal to an integer: 5,
5.0 and "5" are 5 (forms, files and JSON write numbers all three ways); 5.5,
True, NaN, infinity and "five" are refused. A **number** is finite and not a
bool. Each check raises `InputError(field, value, rule)`, so every message
names the field, the value received and the rule.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any, Literal, overload

from flowray.core.limits import EARLIEST_DATE, LATEST_DATE
from flowray.exceptions import InputError


def _bound(value: float) -> str:
    """A bound as written: 10000000, not 1e+07."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _bounds_rule(kind: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"must be {kind} from {_bound(minimum)} to {_bound(maximum)}"
    if minimum is not None:
        return f"must be {kind} >= {_bound(minimum)}"
    if maximum is not None:
        return f"must be {kind} <= {_bound(maximum)}"
    return f"must be {kind}"


def finite_number(
    field: str, value: Any, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A finite number (int, float or numeric text), optionally within [minimum, maximum]."""
    rule = _bounds_rule("a finite number", minimum, maximum)
    if isinstance(value, bool):
        raise InputError(field, value, rule)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise InputError(field, value, rule) from None
    if not math.isfinite(number):
        raise InputError(field, value, rule)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InputError(field, value, rule)
    return number


def whole_number(
    field: str, value: Any, minimum: int | None = None, maximum: int | None = None
) -> int:
    """A value equal to an integer (5, 5.0, "5"), optionally within [minimum, maximum]."""
    rule = _bounds_rule("a whole number", minimum, maximum)
    if isinstance(value, bool):
        raise InputError(field, value, rule)
    if isinstance(value, int) or (
        hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iu"
    ):
        number = int(value)
    else:
        try:
            as_float = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(field, value, rule) from None
        if not math.isfinite(as_float) or as_float != math.floor(as_float):
            raise InputError(field, value, rule)
        number = int(as_float)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InputError(field, value, rule)
    return number


def optional_whole_number(field: str, value: Any, minimum: int | None = None) -> int | None:
    """None stays None; anything else must be a whole number."""
    return None if value is None else whole_number(field, value, minimum)


def optional_number(field: str, value: Any) -> float | None:
    """None stays None; anything else must be a finite number."""
    return None if value is None else finite_number(field, value)


@overload
def text(field: str, value: Any, *, required: Literal[True]) -> str: ...
@overload
def text(field: str, value: Any, *, required: bool = False) -> str | None: ...
def text(field: str, value: Any, *, required: bool = False) -> str | None:
    """Stripped text; empty text is None unless required."""
    if value is None:
        if required:
            raise InputError(field, value, "is required")
        return None
    if not isinstance(value, str):
        raise InputError(field, value, "must be text")
    value = value.strip()
    if required and not value:
        raise InputError(field, value, "must not be empty")
    return value or None


def choice(field: str, value: Any, choices: Iterable[str]) -> str:
    """One of `choices`, exactly as written there."""
    options = list(choices)
    if value not in options:
        raise InputError(field, value, f"must be one of {', '.join(options)}")
    return str(value)


def parse_date(field: str, value: Any, *, empty_is_none: bool = True) -> dt.date | None:
    """A date from a date, a datetime or 'YYYY-MM-DD'; None (and '', unless told otherwise) is None.

    The one date reader of scenarios, the store and the importers, so they accept
    and refuse the same things with the same message. Dates outside
    EARLIEST_DATE..LATEST_DATE are typos (a year 9999 start overflows the calendar).
    """
    if value is None or (empty_is_none and value == ""):
        return None
    if isinstance(value, dt.datetime):
        return within_calendar(field, value.date())
    if isinstance(value, dt.date):
        return within_calendar(field, value)
    if isinstance(value, str):
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise InputError(field, value, "must be a date written YYYY-MM-DD") from None
        return within_calendar(field, day)
    raise InputError(field, value, "must be a date (datetime.date or 'YYYY-MM-DD')")


def within_calendar(field: str, day: dt.date) -> dt.date:
    """`day` itself, or an InputError when it lies outside EARLIEST_DATE..LATEST_DATE."""
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise InputError(
            field,
            day.isoformat(),
            f"must lie from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}",
        )
    return day


def parse_timestamp(field: str, value: Any) -> dt.datetime | None:
    """A naive UTC timestamp from a datetime (aware ones are converted), a date or ISO 8601 text.

    Like dates, timestamps outside EARLIEST_DATE..LATEST_DATE are refused by name.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            try:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            except OverflowError:
                raise InputError(field, str(value), "must be a real calendar time") from None
        within_calendar(field, value.date())
        return value
    if isinstance(value, dt.date):
        within_calendar(field, value)
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parse_timestamp(field, parsed)
    raise InputError(field, value, "must be a timestamp (ISO 8601)")
