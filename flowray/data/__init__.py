"""Demo data shipped inside the package: real weekly throughput series (see demo/README.md).

Notebooks, dashboards and tests use these so a fresh install works without
any download. Names are GitHub "owner/name" (the file stem `owner__name` is
accepted too).
"""

from __future__ import annotations

import csv
import datetime as dt
from importlib import resources
from pathlib import Path

from flowray.exceptions import InputError

__all__ = ["demo_path", "demo_series_names", "last_full_week", "load_demo_series"]

_KINDS = ("weekly", "items")


def _demo_dir() -> Path:
    return Path(str(resources.files(__name__).joinpath("demo")))


def _stem(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError("name", name, f"must be one of {demo_series_names()}")
    return name.strip().replace("/", "__")


def demo_series_names() -> list[str]:
    """The demo series, as GitHub owner/name, sorted case-insensitively."""
    files = (_demo_dir() / "weekly").glob("*.csv")
    return sorted((f.stem.replace("__", "/", 1) for f in files), key=str.lower)


def demo_path(name: str, kind: str = "weekly") -> Path:
    """The file of a demo series: its weekly CSV, or (kind="items") its item list where shipped."""
    if kind not in _KINDS:
        raise InputError("kind", kind, f"must be one of {list(_KINDS)}")
    path = _demo_dir() / kind / f"{_stem(name)}.csv"
    if not path.is_file():
        shipped = sorted(p.stem.replace("__", "/", 1) for p in (_demo_dir() / kind).glob("*.csv"))
        raise InputError("name", name, f"no demo {kind} file; available: {shipped}")
    return path


def load_demo_series(name: str, *, as_of: dt.date | None = None) -> list[tuple[dt.date, int]]:
    """Weekly throughput of a demo series: (ISO Monday, items done that week), oldest first.

    With `as_of`, the same numbers are re-dated whole weeks forward or back so that
    the last week is the one before `as_of`'s week: a demo built today then reads
    like a team's history up to last week, never like data that stopped months ago.
    """
    with demo_path(name).open(newline="", encoding="utf-8") as handle:
        weeks = [
            (dt.date.fromisoformat(row["week_start"]), int(row["throughput"]))
            for row in csv.DictReader(handle)
        ]
    if as_of is None or not weeks:
        return weeks
    shift = last_full_week(as_of) - weeks[-1][0]
    return [(week + shift, items) for week, items in weeks]


def last_full_week(day: dt.date) -> dt.date:
    """The Monday of the week before `day`'s week: the last week a history can hold on `day`."""
    return day - dt.timedelta(days=day.weekday() + 7)
