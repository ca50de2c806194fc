"""The workspace a use case works in: one ledger (opened once) and one job engine.

Front ends build a `Workspace` (or pass a database path, which becomes one)
and hand it down, so a page refresh opens the database once instead of once
per helper, and the choice of engine (in this process, or on Ray) is made in
one place: `engine_named`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowray.exceptions import InputError
from flowray.jobs import SERIAL, Engine

if TYPE_CHECKING:  # pragma: no cover - typing only
    from flowray.store import Store

ENGINES = ("serial", "ray")
"""The job engines: "serial" runs a job's tasks in this process, "ray" as Ray remote tasks."""


def engine_named(engine: str | Engine | None, default: str = "serial") -> Engine:
    """The engine called `engine` ("serial" or "ray"; None: `default`), or the engine given."""
    if engine is None:
        engine = default
    if not isinstance(engine, str):
        return engine
    if engine == "serial":
        return SERIAL
    if engine == "ray":
        from flowray import tasks

        return tasks.RAY
    raise InputError("engine", engine, f"must be one of {', '.join(ENGINES)}")


class Workspace:
    """A ledger and an engine, opened once and passed down to every step of a use case."""

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        engine: str | Engine | None = None,
        *,
        store: Store | None = None,
    ) -> None:
        self._db_path = None if db_path is None else Path(db_path)
        self._store = store
        self.engine = engine_named(engine)

    @property
    def db_path(self) -> Path:
        """The database file (FLOWRAY_DB or ./flowray.duckdb unless a path was given)."""
        if self._store is not None:
            return self._store.path
        if self._db_path is None:
            from flowray.config import load_settings

            self._db_path = load_settings().db_path
        return self._db_path

    @property
    def store(self) -> Store:
        """The ledger, opened (and its schema checked) on first use, then reused."""
        if self._store is None:
            from flowray.store import Store

            self._store = Store(self.db_path)
        return self._store

    def with_engine(self, engine: str | Engine | None) -> Workspace:
        """The same ledger with another engine."""
        return Workspace(self._db_path, engine, store=self._store)

    def __repr__(self) -> str:
        return f"Workspace({str(self._db_path or '<default>')!r}, engine={self.engine.name!r})"


Where = Any
"""A workspace, a Store, a database path, or None (the default database)."""


def workspace_of(where: Where, engine: str | Engine | None = None) -> Workspace:
    """The workspace for `where`: a Workspace as it is (or with `engine`), a Store, a path, or None."""
    if isinstance(where, Workspace):
        return where if engine is None else where.with_engine(engine)
    if where is None or isinstance(where, (str, os.PathLike)):
        return Workspace(where, engine)
    if hasattr(where, "save_forecast") and hasattr(where, "path"):  # a Store
        return Workspace(engine=engine, store=where)
    raise InputError("db", where, "must be a database path, a Store or a Workspace")
