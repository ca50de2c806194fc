"""What every record module shares: the connection it is handed, JSON, timestamps, who acts.

records/ holds what the store keeps, by topic, as SQL and typed records. It
never imports duckdb: each function takes (or returns work on) a `Connection`,
the few methods of a DuckDB connection it uses, and `flowray.store` runs that
work under its lock on a connection of its own. Every statement binds its
parameters.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

KINDS = ("when", "deadline", "how_many", "ml", "backtest")
"""What a ledger row forecasts."""
UNITS = ("periods", "items")
"""What a ledger row's numbers count: completion periods, or items done by a horizon."""


class Connection(Protocol):
    """The part of a DuckDB connection the records use."""

    def execute(self, query: str, parameters: Any = ...) -> Any: ...

    def executemany(self, query: str, parameters: Any = ...) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def sql(self, query: str) -> Any: ...


Work = Callable[[Connection], T]
"""What a record function returns once its inputs are checked: the work to run in one transaction."""


def jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, allow_nan=False)


class Record:
    """Base of the store's records: `to_dict()` is JSON-ready (dates as ISO strings)."""

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))  # type: ignore[call-overload]


def current_user() -> str:
    """Who is acting: JUPYTERHUB_USER on a hub, else the OS login name."""
    hub_user = os.environ.get("JUPYTERHUB_USER")
    if hub_user:
        return hub_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid{os.getuid()}"


def utcnow() -> dt.datetime:
    """Timestamps are stored as naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def level_key(mapping: Mapping[Any, Any] | None, level: int) -> Any:
    if not mapping:
        return None
    for key in (str(level), level, float(level), f"p{level}"):
        if key in mapping:
            return mapping[key]
    return None


__all__: Sequence[str] = (
    "Connection",
    "Record",
    "Work",
    "current_user",
    "dumps",
    "jsonable",
    "utcnow",
)
