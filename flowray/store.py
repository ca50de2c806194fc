"""The DuckDB store: the only module that imports duckdb. `Store` is the facade of one database file.

What is stored, and the SQL that reads and writes it, lives in flowray.records
by topic; this module owns the connection, the file lock and the retry.

Sharing one file between processes: DuckDB lets one process open the file
read-write, and while it does nobody else can even read it. So nothing here
keeps a connection open. Each operation takes an OS advisory lock on sidecar
files (`<db>.lock`, `<db>.gate`: exclusive for writers, shared for readers,
with writer preference so readers cannot starve a writer), opens a short-lived
connection, runs one transaction and closes. DuckDB lock errors (say, a user
has the file open in the duckdb shell) are retried with backoff until a total
timeout, which ends in one clear `StoreError`. Several reads can share one
connection (`Store.reading()`), so a page refresh opens the file once.
See docs/store.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from flowray.exceptions import InputError, StoreError
from flowray.records import export, ledger, legacy, portfolios, projects, schema, scores, sources
from flowray.records.base import Connection
from flowray.records.export import EXPORT_FORMATS, EXPORT_TABLES
from flowray.records.ledger import ForecastRecord, ForecastSummary, PlanRecord
from flowray.records.legacy import ImportSummary
from flowray.records.portfolios import (
    PortfolioForecastRecord,
    PreparedPortfolioForecast,
    StoredPortfolio,
)
from flowray.records.projects import (
    HistoryReplaced,
    ItemsImported,
    Project,
    ThroughputPeriod,
    ThroughputRevision,
    User,
    WorkItemDetail,
    WorkItemRow,
)
from flowray.records.schema import SCHEMA_VERSION
from flowray.records.scores import Actual, ActualAdded, CalibrationLevel, Score
from flowray.records.sources import Source, SyncApplied, SyncedItem

DEFAULT_TIMEOUT_S = 60.0

T = TypeVar("T")

SIDECAR_SUFFIXES = (".lock", ".gate", ".wal", ".tmp")
"""Files beside the ledger: the two lock files of this module, DuckDB's write-ahead log and
the folder DuckDB spills to."""


def sidecar_path(db_path: Path, suffix: str) -> Path:
    """`<db><suffix>`, e.g. flowray.duckdb.lock."""
    return db_path.with_name(db_path.name + suffix)


def ledger_files(db_path: Path) -> tuple[Path, ...]:
    """The ledger and its sidecar files: what nothing but the store may ever write."""
    return (db_path, *(sidecar_path(db_path, suffix) for suffix in SIDECAR_SUFFIXES))


def require_ledger(path: str | os.PathLike[str]) -> Path:
    """The ledger file at `path`, or the one error for a ledger that is not there.

    Commands that need an existing ledger, and the batch, call this instead of
    creating an empty ledger at a mistyped path; the commands that may start
    one (project add, the imports) open `Store(path)` directly.
    """
    where = Path(path).expanduser()
    if not where.exists():
        raise InputError(
            "db", str(where), f"no ledger at {where}; create one with `flowray project add NAME`"
        )
    if not where.is_file():
        raise InputError("db", str(where), "is a folder, not a ledger file")
    return where


def _one_line(exc: BaseException) -> str:
    """DuckDB's reason on one line (some of its messages span several)."""
    return " ".join(str(exc).split())


# --------------------------------------------------------------------------------------
# Locking: a readers-writer lock across processes and threads, with writer preference
# --------------------------------------------------------------------------------------


class _Busy(Exception):
    """The lock or the file stayed busy until the deadline."""


class _Transient(Exception):
    """A DuckDB error worth retrying (a lock held by a process outside our protocol)."""


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _wait_flock(fd: int, operation: int, deadline: float) -> None:
    delay = 0.0005
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _Busy from None
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.02)


class _SidecarLock:
    """flock on `<db>.lock` (shared for readers, exclusive for writers), entered through
    `<db>.gate` so that a waiting writer stops new readers from overtaking it.

    flock locks belong to an open file description, so two threads of one process
    exclude each other just as two processes do. The kernel drops them when a
    process dies, even by SIGKILL.
    """

    def __init__(self, db_path: Path) -> None:
        self.main = sidecar_path(db_path, ".lock")
        self.gate = sidecar_path(db_path, ".gate")

    @contextlib.contextmanager
    def hold(self, *, exclusive: bool, deadline: float) -> Iterator[None]:
        try:
            main_fd = _open_lock_file(self.main)
        except OSError as exc:
            if exclusive:
                raise StoreError(
                    f"cannot create the lock file {self.main}: {exc.strerror}"
                ) from None
            yield  # read-only directory: nobody can write there, read without our lock
            return
        try:
            gate_fd = _open_lock_file(self.gate)
            try:
                _wait_flock(gate_fd, fcntl.LOCK_EX, deadline)
                _wait_flock(main_fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, deadline)
            finally:
                os.close(gate_fd)
            yield
        finally:
            os.close(main_fd)


# Each operation opens its own connection: one thread and no extension autoloading keep
# that cheap (the queries are small; opening the database dominates).
_CONNECTION_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "threads": 1,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}


def _is_transient(exc: duckdb.Error, path: Path) -> bool:
    """A lock held by another program, or a write conflict: worth retrying.

    The file's own name is left out of the test, so a ledger under a folder
    called "blocks" is not taken for a lock error.
    """
    text = str(exc).replace(str(path), "").lower()
    if isinstance(exc, duckdb.IOException) and ("lock" in text or "resource temporarily" in text):
        return True
    return isinstance(exc, duckdb.TransactionException) and "conflict" in text


class Reader:
    """Reads on one open connection: what `Store.reading()` hands out (the Store's read methods)."""

    def __init__(self, con: Connection) -> None:
        self._con = con

    def list_projects(self) -> list[Project]:
        return projects.list_projects()(self._con)

    def get_throughput(self, project: str) -> list[ThroughputPeriod]:
        return projects.get_throughput(project)(self._con)

    def list_forecasts(
        self, project: str | None = None, *, kind: str | None = None
    ) -> list[ForecastSummary]:
        return ledger.list_forecasts(project, kind=kind)(self._con)

    def get_forecast(self, forecast_id: int) -> ForecastRecord:
        return ledger.get_forecast(forecast_id)(self._con)

    def list_scores(self, project: str | None = None) -> dict[int, Score]:
        return scores.list_scores(project)(self._con)

    def list_plans(self, project: str | None = None) -> list[PlanRecord]:
        return ledger.list_plans(project)(self._con)

    def calibration(self, project: str | None = None) -> list[CalibrationLevel]:
        return scores.calibration(project)(self._con)


class Store:
    """One flowray database file, safe to share between processes.

    `Store(path)` creates the file (mode 0600) and migrates its schema when needed;
    then each method opens a short-lived connection under the file lock.
    `Store(path, create=False)` opens an existing ledger only (`require_ledger`).

    A file that DuckDB cannot read, or a DuckDB file of another program (tables
    but no flowray schema), is refused with a `StoreError` and left unchanged:
    it is only ever opened read-only before it is known to be a ledger.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        create: bool = True,
    ) -> None:
        self.path = Path(path).expanduser().absolute()
        if timeout <= 0:
            raise InputError("timeout", timeout, "must be > 0 seconds")
        self.timeout = float(timeout)
        self._lock = _SidecarLock(self.path)
        if not create:
            require_ledger(self.path)
        elif not self.path.parent.is_dir():
            raise InputError("db", str(self.path), "its folder does not exist")
        elif self.path.exists() and not self.path.is_file():
            raise InputError("db", str(self.path), "is a folder, not a ledger file")
        self._ensure_schema(create=create)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connection machinery ----------------------------------------------------------
    def _run(self, work: Callable[[Any], T], *, write: bool, probe: bool = False) -> T:
        """Run `work` in one transaction on a fresh connection, retrying transient lock errors.

        `probe`: the first look at an existing file, where any DuckDB error means
        the file is not a readable ledger.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                return self._attempt(work, write=write, deadline=deadline, probe=probe)
            except _Transient as exc:
                if time.monotonic() + delay > deadline:
                    raise self._busy_error(exc.__cause__) from None
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.25)
            except _Busy:
                raise self._busy_error(None) from None

    def _busy_error(self, cause: BaseException | None) -> StoreError:
        detail = f" (last error: {cause})" if cause else ""
        return StoreError(
            f"database {self.path} stayed busy for {self.timeout:g} s: another process kept it "
            f"locked{detail}. Try again, or close the other program holding the file."
        )

    def _damaged(self, exc: BaseException) -> StoreError:
        return StoreError(f"{self.path} is not a flowray ledger or is damaged: {_one_line(exc)}")

    def _connect(self, *, write: bool) -> Any:
        """A DuckDB connection; an unreadable file is reported as such (never a DuckDB error)."""
        try:
            return duckdb.connect(str(self.path), read_only=not write, config=_CONNECTION_CONFIG)
        except duckdb.Error as exc:
            if _is_transient(exc, self.path):
                raise _Transient from exc
            if self.path.is_file() and "permission denied" not in str(exc).lower():
                raise self._damaged(exc) from None
            raise StoreError(f"cannot open database {self.path}: {_one_line(exc)}") from None

    def _attempt(
        self, work: Callable[[Any], T], *, write: bool, deadline: float, probe: bool = False
    ) -> T:
        with self._lock.hold(exclusive=write, deadline=deadline):
            # Files DuckDB creates while we write (the database itself, its WAL) are
            # private. Writers are serialised by the lock, so the umask swap cannot nest.
            old_umask = os.umask(0o077) if write else None
            try:
                con = self._connect(write=write)
                try:
                    if write:
                        con.execute("BEGIN TRANSACTION")
                    try:
                        out = work(con)
                        if write:
                            con.execute("COMMIT")
                    except BaseException:
                        if write:
                            with contextlib.suppress(duckdb.Error):
                                con.execute("ROLLBACK")
                        raise
                except duckdb.Error as exc:
                    if _is_transient(exc, self.path):
                        raise _Transient from exc
                    if probe:
                        raise self._damaged(exc) from None
                    raise StoreError(f"database {self.path}: {exc}") from None
                finally:
                    with contextlib.suppress(duckdb.Error):
                        con.close()  # after COMMIT the data is safe in the WAL either way
                return out
            finally:
                if old_umask is not None:
                    os.umask(old_umask)

    def _read(self, work: Callable[[Any], T]) -> T:
        return self._run(work, write=False)

    def _write(self, work: Callable[[Any], T]) -> T:
        return self._run(work, write=True)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Reader]:
        """Several reads on one connection, under one shared lock (a page refresh, a report)."""
        deadline = time.monotonic() + self.timeout
        with self._lock.hold(exclusive=False, deadline=deadline):
            try:
                con = self._connect(write=False)
            except _Transient as exc:
                raise self._busy_error(exc.__cause__) from None
            try:
                yield Reader(con)
            except duckdb.Error as exc:
                raise StoreError(f"database {self.path}: {exc}") from None
            finally:
                with contextlib.suppress(duckdb.Error):
                    con.close()

    # -- schema ----------------------------------------------------------------------------
    def _ensure_schema(self, *, create: bool) -> None:
        """Check an existing file read-only, then create or migrate it if that is wanted.

        Nothing is written to a file before a read-only look shows it is a ledger
        (any version) or an empty DuckDB file; a damaged file or another program's
        database is refused unchanged. Without `create`, an empty DuckDB file is
        not turned into a ledger either.
        """
        if self.path.exists():
            version, tables = self._run(_schema_state, write=False, probe=True)
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema v{version}, newer than this flowray "
                    f"(v{SCHEMA_VERSION}); upgrade flowray to use it"
                )
            if version == 0 and tables:
                raise StoreError(
                    f"{self.path} is not a flowray ledger: it is a DuckDB database with "
                    f"{tables} table(s) or view(s) of another program and no flowray schema; "
                    "it was left unchanged"
                )
            if version == 0 and not create:
                raise InputError(
                    "db",
                    str(self.path),
                    f"no ledger at {self.path} (an empty DuckDB file); "
                    "create one with `flowray project add NAME`",
                )
        created = not self.path.exists()
        while self._write(lambda con: schema.migrate_step(con, self.path)) < SCHEMA_VERSION:
            pass
        if created:
            os.chmod(self.path, 0o600)

    def schema_version(self) -> int:
        """The schema version of the file (equal to SCHEMA_VERSION once opened)."""
        return self._read(schema.read_schema_version)

    # -- users, projects, throughput and work items ----------------------------------------
    def add_user(
        self,
        name: str,
        *,
        email: str | None = None,
        role: str = "member",
        created_at: dt.datetime | None = None,
    ) -> User:
        """Register a person (name as they log in, e.g. their JupyterHub user)."""
        return self._write(projects.add_user(name, email=email, role=role, created_at=created_at))

    def get_user(self, name: str) -> User:
        return self._read(projects.get_user(name))

    def list_users(self) -> list[User]:
        return self._read(projects.list_users())

    def add_project(
        self,
        name: str,
        *,
        owner: str | None = None,
        description: str | None = None,
        team_size: int | None = None,
        status: str = "active",
        start_date: dt.date | str | None = None,
        target_date: dt.date | str | None = None,
        created_at: dt.datetime | None = None,
    ) -> Project:
        """Create a project; its owner (default: the current user) is registered if new."""
        return self._write(
            projects.add_project(
                name,
                owner=owner,
                description=description,
                team_size=team_size,
                status=status,
                start_date=start_date,
                target_date=target_date,
                created_at=created_at,
            )
        )

    def get_project(self, name: str) -> Project:
        return self._read(projects.get_project(name))

    def list_projects(self) -> list[Project]:
        return self._read(projects.list_projects())

    def set_throughput(
        self,
        project: str,
        periods: Iterable[Any],
        *,
        period_days: int = 7,
        replace: bool = True,
        reason: str = "set_throughput",
    ) -> int:
        """Store throughput history: (period_start, items) pairs or {"period_start", "items"}.

        replace=True makes `periods` the whole history; replace=False merges (a period
        already stored takes the new count). Returns the number of periods written.
        A history that changes is first kept as a revision (`reason` says why).
        """
        return self._write(
            projects.set_throughput(
                project, periods, period_days=period_days, replace=replace, reason=reason
            )
        )

    def get_throughput(self, project: str) -> list[ThroughputPeriod]:
        """The project's history, oldest first."""
        return self._read(projects.get_throughput(project))

    def add_work_items(self, project: str, items: Iterable[Any]) -> int:
        """Insert or update work items (objects with item_id, done_on, started_on).

        The throughput is left as it is; `import_work_items` also re-derives it.
        """
        return self._write(projects.add_work_items(project, items))

    def get_work_items(self, project: str) -> list[WorkItemRow]:
        return self._read(projects.get_work_items(project))

    def get_work_item_details(self, project: str) -> list[WorkItemDetail]:
        """The project's items with title, type, status and parent (what a sync stores)."""
        return self._read(projects.get_work_item_details(project))

    def import_work_items(
        self,
        project: str,
        items: Iterable[Any],
        *,
        period_days: int = 7,
        create_project: bool = True,
        replace: bool = False,
        today: dt.date | None = None,
        source: str | None = None,
    ) -> ItemsImported:
        """Store work items and replace the project's throughput with the one derived from
        all its stored items (zero periods filled), in one transaction.

        `items` are objects with item_id, done_on, started_on (importers.WorkItem).
        Open items (no done date) are kept as work in progress, never counted. Items
        without a done item, or with a done date after `today` (default: the local
        date), are refused whole; a derived history that would shrink the stored one
        needs `replace=True`. The replaced history is kept as a revision
        (`ItemsImported.history.revision`), its reason naming `source` (the file).
        """
        return self._write(
            projects.import_work_items(
                project,
                items,
                period_days=period_days,
                create_project=create_project,
                replace=replace,
                today=today,
                source=source,
            )
        )

    def connect_source(
        self,
        project: str,
        kind: str,
        settings: Mapping[str, Any],
        workflow: Mapping[str, list[str]] | None = None,
        *,
        create_project: bool = True,
    ) -> Source:
        """Add or update the project's tracker source of `kind` (settings never hold a secret)."""
        return self._write(
            sources.connect_source(project, kind, settings, workflow, create_project=create_project)
        )

    def list_sources(self, project: str | None = None) -> list[Source]:
        return self._read(sources.list_sources(project))

    def apply_sync(
        self,
        source_id: int,
        items: Iterable[SyncedItem],
        *,
        cursor: dt.datetime | None,
        period_days: int = 7,
        today: dt.date | None = None,
    ) -> SyncApplied:
        """Upsert a sync's items, re-derive the throughput and move the cursor: one transaction."""
        return self._write(
            sources.apply_sync(
                source_id, items, cursor=cursor, period_days=period_days, today=today
            )
        )

    def list_throughput_revisions(self, project: str) -> list[ThroughputRevision]:
        """The project's replaced histories (revision, when, who, why, shape), oldest first."""
        return self._read(projects.list_throughput_revisions(project))

    def get_throughput_revision(self, project: str, revision: int) -> list[ThroughputPeriod]:
        """The history kept as `revision`, oldest period first."""
        return self._read(projects.get_throughput_revision(project, revision))

    def restore_throughput(self, project: str, revision: int) -> HistoryReplaced:
        """Make a kept revision the project's history; the current one becomes a new revision.

        Nothing is ever lost: restoring is a replacement like an import.
        """
        return self._write(projects.restore_throughput(project, revision))

    def save_forecast(
        self,
        project: str,
        result: Mapping[str, Any],
        *,
        kind: str | None = None,
        created_by: str | None = None,
        data_window: tuple[dt.date | str, dt.date | str] | None = None,
        data_periods: int | None = None,
        name: str | None = None,
    ) -> int:
        """Append a forecast (an engine result's `to_dict()`) to the ledger; return its id.

        The ledger row and its full distribution are written in one transaction, so a
        crash leaves either the whole forecast or nothing. Ledger rows are never
        updated or deleted; scores go to their own tables.
        """
        return self._write(
            ledger.save_forecast(
                project,
                result,
                kind=kind,
                created_by=created_by,
                data_window=data_window,
                data_periods=data_periods,
                name=name,
            )
        )

    def list_forecasts(
        self, project: str | None = None, *, kind: str | None = None
    ) -> list[ForecastSummary]:
        """Ledger rows (oldest first), optionally of one project and/or kind."""
        return self._read(ledger.list_forecasts(project, kind=kind))

    def save_plan(
        self,
        project: str,
        result: Mapping[str, Any],
        *,
        how: str = "api",
        kind: str | None = None,
        created_by: str | None = None,
        data_window: tuple[dt.date | str, dt.date | str] | None = None,
        data_periods: int | None = None,
        name: str | None = None,
    ) -> int:
        """Append a forecast to the ledger and make it the project's plan, in one transaction.

        `how` says how it was set (one of `records.ledger.PLAN_HOWS`: "cli", "page",
        "api", "batch"). Only a "when" or "deadline" forecast of a backlog can be a plan.
        """
        return self._write(
            ledger.save_forecast(
                project,
                result,
                kind=kind,
                created_by=created_by,
                data_window=data_window,
                data_periods=data_periods,
                name=name,
                plan=how,
            )
        )

    def set_plan(
        self, project: str, forecast_id: int, *, set_by: str | None = None, how: str = "api"
    ) -> PlanRecord:
        """Make a saved forecast the project's plan: what the portfolio, the batch and alerts follow.

        A new record of the append-only plan history (nothing is rewritten); the same
        plan set twice records it once. An unknown id, another project's forecast, or
        a forecast that is not a "when"/"deadline" forecast of a backlog is refused by name.
        """
        return self._write(ledger.set_plan(project, forecast_id, set_by=set_by, how=how))

    def get_plan(self, project: str) -> PlanRecord | None:
        """The project's plan in force (its latest plan record), or None: it has no plan."""
        return self._read(ledger.get_plan(project))

    def list_plans(self, project: str | None = None) -> list[PlanRecord]:
        """The plan history (of one project, or all), oldest first: which plan was in force when."""
        return self._read(ledger.list_plans(project))

    def get_forecast(self, forecast_id: int) -> ForecastRecord:
        """One ledger row with its inputs, result and score (if resolved)."""
        return self._read(ledger.get_forecast(forecast_id))

    def get_distribution(self, forecast_id: int) -> list[tuple[int, int]]:
        """(value, count) pairs of the forecast's distribution, ascending (empty if none).

        Values are completion periods (unit "periods") or items (unit "items"); runs not
        done within the horizon are not listed: they are the ledger's `not_done`.
        """
        return self._read(ledger.get_distribution(forecast_id))

    def add_actual(
        self,
        project: str | None,
        completed_on: dt.date | str,
        items_done: int | None,
        *,
        forecast_id: int | None = None,
        partial: bool = False,
        notes: str | None = None,
        recorded_by: str | None = None,
        recorded_at: dt.datetime | None = None,
    ) -> ActualAdded:
        """Record what happened and score every open forecast it resolves (same transaction).

        Without `forecast_id` the actual belongs to the project and resolves each of its
        open forecasts it applies to (see docs/store.md); with it, only that forecast.
        `partial=True` means the work was not finished by `completed_on` (a cut-off).
        """
        return self._write(
            scores.add_actual(
                project,
                completed_on,
                items_done,
                forecast_id=forecast_id,
                partial=partial,
                notes=notes,
                recorded_by=recorded_by,
                recorded_at=recorded_at,
            )
        )

    def list_actuals(self, project: str | None = None) -> list[Actual]:
        return self._read(scores.list_actuals(project))

    def score_pending(self) -> list[int]:
        """Score every open forecast that a recorded actual resolves; return their ids."""
        return self._write(scores.score_pending())

    def get_score(self, forecast_id: int) -> Score | None:
        return self._read(scores.get_score(forecast_id))

    def calibration(self, project: str | None = None) -> list[CalibrationLevel]:
        """Per level 50/70/85/95: the share of resolved forecasts met, overall or for one project."""
        return self._read(scores.calibration(project))

    def list_scores(self, project: str | None = None) -> dict[int, Score]:
        """Every score (of one project, or all), by forecast id."""
        return self._read(scores.list_scores(project))

    def import_flow_forecaster(self, data: Any) -> ImportSummary:
        """Move the old app's users, projects, forecasts and actuals in (one transaction).

        `data` is what `flowray.importers.read_flow_forecaster` returns. Old forecasts
        enter the ledger with source "flow_forecaster" (source_ref "forecast:<old id>"),
        their inputs translated to a flowray scenario and their stored results kept
        whole; they have no distribution, so they are scored against their headline
        percentiles only (no PIT). A project without throughput gets the old forecasts'
        tpSamples, dated as the periods just before each forecast's start. Importing the
        same file again adds nothing.
        """
        return self._write(legacy.import_flow_forecaster(data))

    # -- portfolios ------------------------------------------------------------------------
    def save_portfolio_definition(
        self, name: str, definition: Mapping[str, Any], *, created_by: str | None = None
    ) -> int:
        """Create a stored portfolio or add a revision of its definition; returns its id."""
        return self._write(portfolios.save_definition(name, definition, created_by=created_by))

    def list_portfolios(self) -> list[str]:
        """The stored portfolios' names, sorted."""
        return self._read(portfolios.list_portfolio_names())

    def get_portfolio(self, name: str) -> StoredPortfolio:
        """A stored portfolio's latest definition and its features done."""
        return self._read(portfolios.get_portfolio(name))

    def save_portfolio_forecast(self, name: str, prepared: PreparedPortfolioForecast) -> int:
        """Append a portfolio forecast (and its definition when new or changed), one transaction."""
        return self._write(portfolios.save_forecast(name, prepared))

    def list_portfolio_forecasts(self, name: str) -> list[PortfolioForecastRecord]:
        """A stored portfolio's saved forecasts, oldest first, with their features' scores."""
        return self._read(portfolios.list_forecasts(name))

    def get_portfolio_feature_distribution(
        self, forecast_id: int, position: int
    ) -> list[tuple[int, int]]:
        """(completion period, runs) of one feature of a saved portfolio forecast."""
        return self._read(portfolios.get_feature_distribution(forecast_id, position))

    def mark_feature_done(
        self,
        name: str,
        feature: str,
        done_on: dt.date | str,
        *,
        recorded_by: str | None = None,
    ) -> list[int]:
        """Mark a feature done and score the saved forecasts that covered it (one transaction)."""
        return self._write(portfolios.mark_done(name, feature, done_on, recorded_by=recorded_by))

    # -- export ----------------------------------------------------------------------------
    def read_table(self, table: str) -> Any:
        """A whole table (or view) as a pyarrow Table."""
        query = export.export_query(table)
        return self._read(lambda con: con.sql(query).to_arrow_table())

    def export_table(
        self,
        table: str,
        path: str | os.PathLike[str],
        *,
        format: str = "parquet",
        force: bool = False,
    ) -> Path:
        """Write a table (or view) to Parquet or CSV (mode 0600); returns the path written.

        The path is checked before the table is read: never the ledger or its
        sidecar files (even with `force`), never an existing file unless `force`.
        The file is written beside the target and renamed into place, so a crash
        leaves no half-written file and never a damaged old one.
        """
        if format not in EXPORT_FORMATS:
            raise InputError("format", format, f"must be one of {list(EXPORT_FORMATS)}")
        export.export_query(table)  # an unknown table fails before any file is touched
        target = export.export_target(path, protected=ledger_files(self.path), force=force)
        data = self.read_table(table)  # the lock is not held while writing the file
        return export.write_export(data, target, format=format, force=force)


def _schema_state(con: Connection) -> tuple[int, int]:
    """(flowray schema version, 0 without one; user tables and views in the file)."""
    con.execute(
        "SELECT (SELECT count(*) FROM duckdb_tables() WHERE NOT internal)"
        " + (SELECT count(*) FROM duckdb_views() WHERE NOT internal)"
    )
    tables = int(con.fetchone()[0])
    return schema.read_schema_version(con), tables


__all__ = [
    "EXPORT_TABLES",
    "SCHEMA_VERSION",
    "Reader",
    "Store",
    "Actual",
    "ActualAdded",
    "PlanRecord",
    "ledger_files",
    "require_ledger",
]
