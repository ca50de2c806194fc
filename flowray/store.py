"""The DuckDB store: projects, throughput history, an immutable forecast ledger, actuals, scores.

This is the only module that imports duckdb. Every SQL statement binds its
parameters; the few identifiers that vary (table names for export) come from a
fixed allow-list.

Sharing one file between processes: DuckDB lets one process open the file
read-write, and while it does nobody else can even read it. So nothing here
keeps a connection open. Each operation takes an OS advisory lock on sidecar
files (`<db>.lock`, `<db>.gate`: exclusive for writers, shared for readers,
with writer preference so readers cannot starve a writer), opens a short-lived
connection, runs one transaction and closes. DuckDB lock errors (say, a user
has the file open in the duckdb shell) are retried with backoff until a total
timeout, which ends in one clear `StoreError`. See docs/store.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import getpass
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import duckdb

from flowray.core.validation import parse_date as _as_date
from flowray.exceptions import InputError, StoreError

SCHEMA_VERSION = 2
LEVELS = (50, 70, 85, 95)
KINDS = ("when", "deadline", "how_many", "ml", "backtest")
UNITS = ("periods", "items")
DEFAULT_TIMEOUT_S = 60.0
SCORING_METHOD = "v1: actual periods = ceil(days / period_days); nonrandomised PIT"

T = TypeVar("T")

# --------------------------------------------------------------------------------------
# Schema and migrations. A migration is never edited once released: add a new one.
# --------------------------------------------------------------------------------------

_V1_LEDGER = (
    """CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY,
        description VARCHAR NOT NULL,
        applied_at TIMESTAMP NOT NULL)""",
    "CREATE SEQUENCE user_id_seq START 1",
    """CREATE TABLE users (
        user_id BIGINT PRIMARY KEY DEFAULT nextval('user_id_seq'),
        name VARCHAR NOT NULL UNIQUE,
        email VARCHAR,
        role VARCHAR NOT NULL DEFAULT 'member',
        created_at TIMESTAMP NOT NULL)""",
    "CREATE SEQUENCE project_id_seq START 1",
    """CREATE TABLE projects (
        project_id BIGINT PRIMARY KEY DEFAULT nextval('project_id_seq'),
        name VARCHAR NOT NULL UNIQUE,
        owner VARCHAR,
        description VARCHAR,
        team_size INTEGER,
        status VARCHAR NOT NULL DEFAULT 'active',
        start_date DATE,
        target_date DATE,
        created_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE throughput (
        project_id BIGINT NOT NULL REFERENCES projects (project_id),
        period_start DATE NOT NULL,
        period_days INTEGER NOT NULL DEFAULT 7,
        items INTEGER NOT NULL CHECK (items >= 0),
        PRIMARY KEY (project_id, period_start))""",
    "CREATE SEQUENCE forecast_id_seq START 1",
    """CREATE TABLE forecasts (
        forecast_id BIGINT PRIMARY KEY DEFAULT nextval('forecast_id_seq'),
        project_id BIGINT NOT NULL REFERENCES projects (project_id),
        kind VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        inputs JSON,
        result JSON,
        seed BIGINT,
        runs BIGINT,
        engine_version VARCHAR,
        period_days INTEGER NOT NULL DEFAULT 7,
        start_date DATE,
        deadline DATE,
        data_from DATE,
        data_to DATE,
        p50 DOUBLE, p70 DOUBLE, p85 DOUBLE, p95 DOUBLE,
        date_p50 DATE, date_p70 DATE, date_p85 DATE, date_p95 DATE,
        p_deadline DOUBLE,
        not_done BIGINT NOT NULL DEFAULT 0)""",
    """CREATE TABLE forecast_distribution (
        forecast_id BIGINT NOT NULL REFERENCES forecasts (forecast_id),
        value INTEGER NOT NULL,
        count BIGINT NOT NULL CHECK (count > 0),
        PRIMARY KEY (forecast_id, value))""",
    "CREATE SEQUENCE actual_id_seq START 1",
    """CREATE TABLE actuals (
        actual_id BIGINT PRIMARY KEY DEFAULT nextval('actual_id_seq'),
        project_id BIGINT NOT NULL REFERENCES projects (project_id),
        forecast_id BIGINT REFERENCES forecasts (forecast_id),
        completed_on DATE NOT NULL,
        items_done INTEGER,
        notes VARCHAR,
        recorded_at TIMESTAMP NOT NULL,
        recorded_by VARCHAR NOT NULL)""",
)

# DuckDB cannot ADD COLUMN ... NOT NULL to a table other tables reference: the
# application always fills these columns.
_V2_SCORING = (
    """CREATE TABLE work_items (
        project_id BIGINT NOT NULL REFERENCES projects (project_id),
        item_id VARCHAR NOT NULL,
        started_on DATE,
        done_on DATE,
        PRIMARY KEY (project_id, item_id))""",
    "ALTER TABLE forecasts ADD COLUMN unit VARCHAR DEFAULT 'periods'",
    "ALTER TABLE forecasts ADD COLUMN name VARCHAR",
    "ALTER TABLE forecasts ADD COLUMN source VARCHAR DEFAULT 'flowray'",
    "ALTER TABLE forecasts ADD COLUMN source_ref VARCHAR",
    "ALTER TABLE forecasts ADD COLUMN horizon_date DATE",
    "ALTER TABLE forecasts ADD COLUMN backlog_low INTEGER",
    "ALTER TABLE forecasts ADD COLUMN backlog_high INTEGER",
    "ALTER TABLE forecasts ADD COLUMN data_periods INTEGER",
    # v1 ledger rows: fill what v2 derives from the inputs.
    "UPDATE forecasts SET unit = 'items', horizon_date = deadline WHERE kind = 'how_many'",
    """UPDATE forecasts SET
        backlog_low = CASE WHEN json_type(inputs, '$.backlog') = 'OBJECT'
                           THEN CAST(json_extract_string(inputs, '$.backlog.low') AS INTEGER)
                           ELSE TRY_CAST(json_extract_string(inputs, '$.backlog') AS INTEGER) END,
        backlog_high = CASE WHEN json_type(inputs, '$.backlog') = 'OBJECT'
                            THEN CAST(json_extract_string(inputs, '$.backlog.high') AS INTEGER)
                            ELSE TRY_CAST(json_extract_string(inputs, '$.backlog') AS INTEGER) END
       WHERE inputs IS NOT NULL""",
    "ALTER TABLE actuals ADD COLUMN partial BOOLEAN NOT NULL DEFAULT false",
    """CREATE TABLE forecast_scores (
        forecast_id BIGINT PRIMARY KEY REFERENCES forecasts (forecast_id),
        actual_id BIGINT NOT NULL REFERENCES actuals (actual_id),
        scored_at TIMESTAMP NOT NULL,
        method VARCHAR NOT NULL,
        actual_value INTEGER NOT NULL,
        pit DOUBLE, pit_low DOUBLE, pit_high DOUBLE,
        median DOUBLE, median_error DOUBLE,
        deadline_met BOOLEAN, brier DOUBLE)""",
    """CREATE TABLE forecast_score_levels (
        forecast_id BIGINT NOT NULL REFERENCES forecasts (forecast_id),
        level INTEGER NOT NULL,
        quantile DOUBLE,
        met BOOLEAN NOT NULL,
        expected_met DOUBLE,
        coverage DOUBLE,
        PRIMARY KEY (forecast_id, level))""",
    # CDF of every stored distribution: any percentile is one query away.
    """CREATE VIEW forecast_cdf AS
       SELECT d.forecast_id, d.value, d.count,
              CAST(SUM(d.count) OVER (PARTITION BY d.forecast_id ORDER BY d.value) AS DOUBLE)
                  / f.runs AS cdf
       FROM forecast_distribution d JOIN forecasts f USING (forecast_id)""",
    # Calibration per project (project_id set) and overall (project_id NULL).
    """CREATE VIEW calibration AS
       SELECT f.project_id, l.level,
              COUNT(*) AS n,
              SUM(CASE WHEN l.met THEN 1 ELSE 0 END) AS met,
              AVG(CASE WHEN l.met THEN 1.0 ELSE 0.0 END) AS met_share,
              COUNT(l.coverage) AS n_distribution,
              AVG(l.expected_met) AS expected_share,
              AVG(l.coverage) AS pit_coverage
       FROM forecast_score_levels l JOIN forecasts f USING (forecast_id)
       GROUP BY GROUPING SETS ((f.project_id, l.level), (l.level))""",
)


@dataclass(frozen=True)
class _Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[_Migration, ...] = (
    _Migration(1, "ledger: users, projects, throughput, forecasts, distribution, actuals", _V1_LEDGER),
    _Migration(2, "work items, forecast provenance and units, partial actuals, scoring", _V2_SCORING),
)
assert MIGRATIONS[-1].version == SCHEMA_VERSION

# Exports read whole tables; the queries are fixed strings, never formatted.
_EXPORT_QUERIES = {
    "users": "SELECT * FROM users ORDER BY user_id",
    "projects": "SELECT * FROM projects ORDER BY project_id",
    "throughput": "SELECT * FROM throughput ORDER BY project_id, period_start",
    "work_items": "SELECT * FROM work_items ORDER BY project_id, item_id",
    "forecasts": "SELECT * FROM forecasts ORDER BY forecast_id",
    "forecast_distribution": "SELECT * FROM forecast_distribution ORDER BY forecast_id, value",
    "actuals": "SELECT * FROM actuals ORDER BY actual_id",
    "forecast_scores": "SELECT * FROM forecast_scores ORDER BY forecast_id",
    "forecast_score_levels": "SELECT * FROM forecast_score_levels ORDER BY forecast_id, level",
    "calibration": "SELECT * FROM calibration ORDER BY project_id NULLS FIRST, level",
    "forecast_cdf": "SELECT * FROM forecast_cdf ORDER BY forecast_id, value",
}
EXPORT_TABLES = tuple(_EXPORT_QUERIES)

# --------------------------------------------------------------------------------------
# Records handed back to callers: plain frozen dataclasses with to_dict() for JSON.
# --------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: dates as ISO strings."""
        return _jsonable(asdict(self))  # type: ignore[call-overload]


@dataclass(frozen=True)
class User(_Record):
    user_id: int
    name: str
    email: str | None
    role: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Project(_Record):
    project_id: int
    name: str
    owner: str | None
    description: str | None
    team_size: int | None
    status: str
    start_date: dt.date | None
    target_date: dt.date | None
    created_at: dt.datetime


class ThroughputPeriod(NamedTuple):
    """Items completed in the period starting on `period_start`."""

    period_start: dt.date
    items: int
    period_days: int = 7


class WorkItemRow(NamedTuple):
    item_id: str
    done_on: dt.date | None
    started_on: dt.date | None


@dataclass
class ForecastSummary(_Record):
    """One ledger row without its JSON blobs (what a listing shows).

    For unit "periods" `percentiles[p]` is the p-th percentile of completion
    periods (None: beyond the horizon); for unit "items" (how_many) it is the
    conservative reading "at least N items with probability p".
    """

    forecast_id: int
    project: str
    kind: str
    unit: str
    name: str | None
    created_at: dt.datetime
    created_by: str
    source: str
    source_ref: str | None
    seed: int | None
    runs: int | None
    engine_version: str | None
    period_days: int
    start_date: dt.date | None
    deadline: dt.date | None
    horizon_date: dt.date | None
    backlog_low: int | None
    backlog_high: int | None
    data_from: dt.date | None
    data_to: dt.date | None
    data_periods: int | None
    percentiles: dict[int, float | None]
    dates: dict[int, dt.date | None]
    p_deadline: float | None
    not_done: int
    scored: bool
    method: str | None  # "recency+cal, window 12" when the result records how it was made


@dataclass(frozen=True)
class LevelScore(_Record):
    """How a forecast fared at one level (50/70/85/95)."""

    level: int
    quantile: float | None
    met: bool
    expected_met: float | None
    coverage: float | None


@dataclass(frozen=True)
class Score(_Record):
    forecast_id: int
    actual_id: int
    scored_at: dt.datetime
    method: str
    actual_value: int
    pit: float | None
    pit_low: float | None
    pit_high: float | None
    median: float | None
    median_error: float | None
    deadline_met: bool | None
    brier: float | None
    levels: dict[int, LevelScore]


@dataclass
class ForecastRecord(ForecastSummary):
    """A whole ledger row: the summary plus the stored inputs, result and score."""

    inputs: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    score: Score | None = None


@dataclass(frozen=True)
class Actual(_Record):
    actual_id: int
    project: str
    forecast_id: int | None
    completed_on: dt.date
    items_done: int | None
    partial: bool
    notes: str | None
    recorded_at: dt.datetime
    recorded_by: str


@dataclass(frozen=True)
class ActualAdded(_Record):
    """The stored actual and the ids of the forecasts it resolved (and scored)."""

    actual: Actual
    scored_forecasts: list[int]


@dataclass(frozen=True)
class CalibrationLevel(_Record):
    """Calibration at one level. `met_share` is the literal hit rate; compare it with
    `expected_share` (what a calibrated discrete forecast would hit) and with the
    level itself through `pit_coverage` (exactly the level in expectation)."""

    project: str | None
    level: int
    n: int
    met: int
    met_share: float | None
    n_distribution: int
    expected_share: float | None
    pit_coverage: float | None


@dataclass(frozen=True)
class ItemsImported(_Record):
    """What `import_work_items` stored: items, and the throughput derived from all of them."""

    project: str
    project_created: bool
    items: int
    done: int
    open: int
    throughput_periods: int


@dataclass(frozen=True)
class ImportSummary(_Record):
    """What an import of the old app's database moved over (and what it skipped)."""

    users: int = 0
    projects: int = 0
    forecasts: int = 0
    actuals: int = 0
    throughput_periods: int = 0
    scored_forecasts: int = 0
    skipped: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def current_user() -> str:
    """Who is acting: JUPYTERHUB_USER on a hub, else the OS login name."""
    hub_user = os.environ.get("JUPYTERHUB_USER")
    if hub_user:
        return hub_user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid{os.getuid()}"


def _utcnow() -> dt.datetime:
    """Timestamps are stored as naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _as_timestamp(field_name: str, value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return _as_timestamp(field_name, dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise InputError(field_name, value, "must be a timestamp (ISO 8601)")


def _as_int(field_name: str, value: Any, minimum: int | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(field_name, value, "must be a whole number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field_name, value, "must be a whole number") from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(field_name, value, "must be a whole number")
    if minimum is not None and number < minimum:
        raise InputError(field_name, value, f"must be >= {minimum}")
    return int(number)


def _as_float(field_name: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(field_name, value, "must be a number") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise InputError(field_name, value, "must be a finite number")
    return number


def _text(field_name: str, value: Any, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise InputError(field_name, value, "is required")
        return None
    if not isinstance(value, str):
        raise InputError(field_name, value, "must be text")
    value = value.strip()
    if required and not value:
        raise InputError(field_name, value, "must not be empty")
    return value or None


def _dumps(value: Any) -> str:
    return json.dumps(_jsonable(value), ensure_ascii=False, allow_nan=False)


def _level_key(mapping: Mapping[str, Any] | None, level: int) -> Any:
    if not mapping:
        return None
    for key in (str(level), level, float(level), f"p{level}"):
        if key in mapping:
            return mapping[key]
    return None


# --------------------------------------------------------------------------------------
# Scoring maths (pure; documented in docs/store.md)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Distribution:
    """A forecast's exact distribution: values (ascending), counts, and total runs.

    `runs` may exceed sum(counts): the rest are runs not done within the horizon,
    which sit at +infinity (they count in every CDF denominator).
    """

    values: tuple[int, ...]
    counts: tuple[int, ...]
    runs: int

    def cdf(self, x: float) -> float:
        """F(x) = P(value <= x)."""
        return sum(c for v, c in zip(self.values, self.counts, strict=True) if v <= x) / self.runs

    def percentile(self, level: int) -> int | None:
        """Smallest v with F(v) >= level/100 (the inverted CDF); None if beyond the horizon."""
        cum = 0
        for v, c in zip(self.values, self.counts, strict=True):
            cum += c
            if cum * 100 >= level * self.runs:
                return v
        return None

    def at_least(self, level: int) -> int | None:
        """Largest x with P(value >= x) >= level/100, i.e. smallest v with F(v) > 1 - level/100."""
        cum = 0
        for v, c in zip(self.values, self.counts, strict=True):
            cum += c
            if cum * 100 > (100 - level) * self.runs:
                return v
        return None


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def _score_distribution(
    dist: _Distribution, unit: str, actual: int
) -> tuple[float, float, float, int | None, list[LevelScore]]:
    """PIT interval, median and per-level scores of one actual under one distribution.

    PIT: the forecast CDF at the actual is a step for a discrete forecast; we keep
    the interval [F(a-1), F(a)] and its midpoint (the mid-PIT). Per level the
    `coverage` is the probability that a PIT drawn uniformly in that interval
    (the randomised PIT, exactly uniform under calibration) falls in the level's
    region: its mean over forecasts equals the level for a calibrated forecaster.
    """
    lo, hi = dist.cdf(actual - 1), dist.cdf(actual)
    median = dist.percentile(50)
    levels: list[LevelScore] = []
    for level in LEVELS:
        p = level / 100.0
        if unit == "periods":
            q = dist.percentile(level)
            met = q is None or actual <= q
            expected = 1.0 if q is None else dist.cdf(q)
            # P(V <= p) with V ~ U(lo, hi)
            cover = _clip01((p - lo) / (hi - lo)) if hi > lo else (1.0 if lo <= p else 0.0)
        else:
            q = dist.at_least(level)
            met = q is not None and actual >= q
            expected = 0.0 if q is None else 1.0 - dist.cdf(q - 1)
            # P(V >= 1 - p) with V ~ U(lo, hi)
            cover = _clip01((hi - (1 - p)) / (hi - lo)) if hi > lo else (1.0 if lo >= 1 - p else 0.0)
        levels.append(LevelScore(level, None if q is None else float(q), met, expected, cover))
    return (lo + hi) / 2, lo, hi, median, levels


def periods_between(start: dt.date, end: dt.date, period_days: int) -> int:
    """Whole periods from start to end, counted the way the engine dates them.

    The engine dates "done within w periods" as start + w * period_days, so work
    finished on `end` took ceil(days / period_days) periods, and it met the p-th
    percentile exactly when it finished on or before that percentile's date.
    """
    return -((start - end).days // period_days)


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
        self.main = db_path.with_name(db_path.name + ".lock")
        self.gate = db_path.with_name(db_path.name + ".gate")

    @contextlib.contextmanager
    def hold(self, *, exclusive: bool, deadline: float) -> Iterator[None]:
        try:
            main_fd = _open_lock_file(self.main)
        except OSError as exc:
            if exclusive:
                raise StoreError(f"cannot create the lock file {self.main}: {exc.strerror}") from None
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
_CONNECTION_CONFIG = {
    "threads": 1,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}


def _is_transient(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    if isinstance(exc, duckdb.IOException) and ("lock" in text or "resource temporarily" in text):
        return True
    return isinstance(exc, duckdb.TransactionException) and "conflict" in text


# --------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------

_SUMMARY_COLUMNS = """
    f.forecast_id, p.name, f.kind, f.unit, f.name, f.created_at, f.created_by, f.source,
    f.source_ref, f.seed, f.runs, f.engine_version, f.period_days, f.start_date, f.deadline,
    f.horizon_date, f.backlog_low, f.backlog_high, f.data_from, f.data_to, f.data_periods,
    f.p50, f.p70, f.p85, f.p95, f.date_p50, f.date_p70, f.date_p85, f.date_p95,
    f.p_deadline, f.not_done, s.forecast_id IS NOT NULL,
    json_extract_string(f.result, '$.method.name'), json_extract_string(f.result, '$.method.window')
"""
_SUMMARY_FROM = """
    FROM forecasts f JOIN projects p USING (project_id)
    LEFT JOIN forecast_scores s USING (forecast_id)
"""
_LIST_FORECASTS = "SELECT " + _SUMMARY_COLUMNS + _SUMMARY_FROM + """
    WHERE ($project_id IS NULL OR f.project_id = $project_id)
      AND ($kind IS NULL OR f.kind = $kind)
    ORDER BY f.forecast_id
"""
_GET_FORECAST = (
    "SELECT " + _SUMMARY_COLUMNS + ", f.inputs, f.result " + _SUMMARY_FROM
    + " WHERE f.forecast_id = $forecast_id"
)


SUMMARY_WIDTH = 34  # the columns of _SUMMARY_COLUMNS; _GET_FORECAST's inputs and result follow


def _summary_args(row: Sequence[Any]) -> dict[str, Any]:
    (fid, project, kind, unit, name, created_at, created_by, source, source_ref, seed, runs,
     engine_version, period_days, start, deadline, horizon, b_low, b_high, d_from, d_to,
     d_periods, p50, p70, p85, p95, d50, d70, d85, d95, p_deadline, not_done, scored,
     method_name, method_window) = row[:SUMMARY_WIDTH]
    return {
        "forecast_id": fid, "project": project, "kind": kind, "unit": unit, "name": name,
        "created_at": created_at, "created_by": created_by, "source": source,
        "source_ref": source_ref, "seed": seed, "runs": runs, "engine_version": engine_version,
        "period_days": period_days, "start_date": start, "deadline": deadline,
        "horizon_date": horizon, "backlog_low": b_low, "backlog_high": b_high,
        "data_from": d_from, "data_to": d_to, "data_periods": d_periods,
        "percentiles": {50: p50, 70: p70, 85: p85, 95: p95},
        "dates": {50: d50, 70: d70, 85: d85, 95: d95},
        "p_deadline": p_deadline, "not_done": not_done, "scored": bool(scored),
        "method": None if method_name is None else f"{method_name}, window {method_window}",
    }


@dataclass(frozen=True)
class _PreparedForecast:
    """A ledger row and its distribution, validated before any lock is taken."""

    row: dict[str, Any]
    values: list[int]
    counts: list[int]


_LEDGER_COLUMNS = (
    "project_id", "kind", "unit", "name", "created_at", "created_by", "source", "source_ref",
    "inputs", "result", "seed", "runs", "engine_version", "period_days", "start_date",
    "deadline", "horizon_date", "backlog_low", "backlog_high", "data_from", "data_to",
    "data_periods", "p50", "p70", "p85", "p95", "date_p50", "date_p70", "date_p85", "date_p95",
    "p_deadline", "not_done",
)
_INSERT_LEDGER = """
    INSERT INTO forecasts (project_id, kind, unit, name, created_at, created_by, source, source_ref,
        inputs, result, seed, runs, engine_version, period_days, start_date, deadline, horizon_date,
        backlog_low, backlog_high, data_from, data_to, data_periods, p50, p70, p85, p95, date_p50,
        date_p70, date_p85, date_p95, p_deadline, not_done)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
        ?, ?)
    RETURNING forecast_id
"""


def _insert_ledger_row(con: duckdb.DuckDBPyConnection, row: Mapping[str, Any]) -> int:
    con.execute(_INSERT_LEDGER, [row[c] for c in _LEDGER_COLUMNS])
    return int(con.fetchone()[0])


def _insert_distribution(
    con: duckdb.DuckDBPyConnection, forecast_id: int, values: Sequence[int], counts: Sequence[int]
) -> None:
    if not values:
        return
    con.execute(
        "INSERT INTO forecast_distribution (forecast_id, value, count) "
        "SELECT $fid, unnest($values::INTEGER[]), unnest($counts::BIGINT[])",
        {"fid": forecast_id, "values": list(values), "counts": list(counts)},
    )


def _backlog_range(value: Any) -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        return _as_int("backlog.low", value.get("low"), 0), _as_int("backlog.high", value.get("high"), 0)
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise InputError("backlog", value, "a range is (low, high)")
        return _as_int("backlog.low", value[0], 0), _as_int("backlog.high", value[1], 0)
    number = _as_int("backlog", value, 0)
    return number, number


def _histogram(result: Mapping[str, Any], key: str, value_key: str) -> tuple[list[int], list[int]]:
    hist = result.get(key)
    if not isinstance(hist, Mapping):
        raise InputError(f"result.{key}", hist, f"needs {{'{value_key}': [...], 'counts': [...]}}")
    values, counts = hist.get(value_key), hist.get("counts")
    if not isinstance(values, Sequence) or not isinstance(counts, Sequence) or len(values) != len(counts):
        raise InputError(f"result.{key}", "...", f"'{value_key}' and 'counts' must be lists of equal length")
    merged: dict[int, int] = {}
    for v, c in zip(values, counts, strict=True):
        value = _as_int(f"result.{key}.{value_key}", v, 0)
        count = _as_int(f"result.{key}.counts", c, 0)
        assert value is not None and count is not None
        if count:
            merged[value] = merged.get(value, 0) + count
    ordered = sorted(merged)
    return ordered, [merged[v] for v in ordered]


def _prepare_forecast(
    result: Mapping[str, Any],
    *,
    kind: str | None,
    created_by: str | None,
    data_window: tuple[Any, Any] | None,
    data_periods: int | None,
    name: str | None,
) -> _PreparedForecast:
    """Validate an engine result dict (see docs/store.md) into a ledger row."""
    if not isinstance(result, Mapping):
        raise InputError("result", type(result).__name__, "must be a result dict (result.to_dict())")
    result_kind = result.get("kind")
    kind = kind or result_kind
    if kind not in KINDS:
        raise InputError("kind", kind, f"must be one of {list(KINDS)}")
    unit = "items" if "how_many" in (kind, result_kind) else "periods"
    scenario = result.get("scenario") or {}
    if not isinstance(scenario, Mapping):
        raise InputError("result.scenario", scenario, "must be a dict (Scenario.to_dict())")
    runs = _as_int("result.runs", result.get("runs"), 1)
    if runs is None:
        raise InputError("result.runs", None, "is required (number of simulated runs)")
    period_days = _as_int("period_days", result.get("period_days") or scenario.get("period_days") or 7, 1)
    start = _as_date("start", result.get("start") or scenario.get("start"))
    deadline = _as_date("deadline", result.get("deadline") or scenario.get("deadline"))
    backlog_low, backlog_high = _backlog_range(scenario.get("backlog"))

    if unit == "periods":
        values, counts = _histogram(result, "histogram", "periods")
        max_periods = _as_int("max_periods", result.get("max_periods") or scenario.get("max_periods"), 1)
        if max_periods is not None:  # the engine's last bucket holds the runs not done
            keep = [i for i, v in enumerate(values) if v <= max_periods]
            values, counts = [values[i] for i in keep], [counts[i] for i in keep]
        not_done = runs - sum(counts)
        if not_done < 0:
            raise InputError("result.histogram", sum(counts), f"counts add up to more than runs ({runs})")
        stated = result.get("not_done")
        if stated is not None and _as_int("result.not_done", stated, 0) != not_done:
            raise InputError("result.not_done", stated, f"disagrees with runs - histogram ({not_done})")
        headline = result.get("percentiles") or {}
        horizon = None
    else:
        values, counts = _histogram(result, "items_histogram", "items")
        if sum(counts) != runs:
            raise InputError("result.items_histogram", sum(counts), f"counts must add up to runs ({runs})")
        not_done = 0
        headline = result.get("at_least") or {}
        horizon = _as_date("horizon_date", result.get("horizon_date") or result.get("end")) or deadline
    dates = result.get("dates") or {}
    window = data_window or result.get("data_window")
    d_from = d_to = None
    if window is not None:
        if isinstance(window, Mapping):
            data_periods = data_periods or window.get("periods")
            window = (window.get("from"), window.get("to"))
        if not isinstance(window, (list, tuple)) or len(window) != 2:
            raise InputError("data_window", window, "must be (first period start, last period start)")
        d_from, d_to = _as_date("data_window.from", window[0]), _as_date("data_window.to", window[1])
        if d_from and d_to and d_from > d_to:
            raise InputError("data_window", window, "needs from <= to")
    if data_periods is None and isinstance(scenario.get("throughput"), Sequence):
        data_periods = len(scenario["throughput"])
    stored_result = {k: v for k, v in result.items() if k not in ("histogram", "items_histogram", "scenario")}
    row = {
        "kind": kind, "unit": unit, "name": _text("name", name),
        "created_at": _utcnow(), "created_by": _text("created_by", created_by) or current_user(),
        "source": "flowray", "source_ref": None,
        "inputs": _dumps(scenario), "result": _dumps(stored_result),
        "seed": _as_int("result.seed", result.get("seed")),
        "runs": runs, "engine_version": _text("engine_version", result.get("engine_version")),
        "period_days": period_days, "start_date": start, "deadline": deadline,
        "horizon_date": horizon, "backlog_low": backlog_low, "backlog_high": backlog_high,
        "data_from": d_from, "data_to": d_to, "data_periods": _as_int("data_periods", data_periods, 0),
        "p_deadline": _as_float("probability_by_deadline", result.get("probability_by_deadline")),
        "not_done": not_done,
    }
    for level in LEVELS:
        row[f"p{level}"] = _as_float(f"percentiles.{level}", _level_key(headline, level))
        row[f"date_p{level}"] = _as_date(f"dates.{level}", _level_key(dates, level))
    return _PreparedForecast(row, values, counts)


class Store:
    """One flowray database file, safe to share between processes.

    `Store(path)` creates the file (mode 0600) and migrates its schema when needed;
    then each method opens a short-lived connection under the file lock.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT_S,
                 create: bool = True) -> None:
        self.path = Path(path).expanduser().absolute()
        if timeout <= 0:
            raise InputError("timeout", timeout, "must be > 0 seconds")
        self.timeout = float(timeout)
        self._lock = _SidecarLock(self.path)
        if not self.path.parent.is_dir():
            raise InputError("db", str(self.path), "its folder does not exist")
        if not self.path.exists() and not create:
            raise StoreError(f"no flowray database at {self.path}")
        self._ensure_schema()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connection machinery ----------------------------------------------------------
    def _run(self, work: Callable[[duckdb.DuckDBPyConnection], T], *, write: bool) -> T:
        """Run `work` in one transaction on a fresh connection, retrying transient lock errors."""
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                return self._attempt(work, write=write, deadline=deadline)
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

    def _attempt(self, work: Callable[[duckdb.DuckDBPyConnection], T], *, write: bool,
                 deadline: float) -> T:
        with self._lock.hold(exclusive=write, deadline=deadline):
            # Files DuckDB creates while we write (the database itself, its WAL) are
            # private. Writers are serialised by the lock, so the umask swap cannot nest.
            old_umask = os.umask(0o077) if write else None
            try:
                try:
                    con = duckdb.connect(str(self.path), read_only=not write, config=_CONNECTION_CONFIG)
                except duckdb.Error as exc:
                    if _is_transient(exc):
                        raise _Transient from exc
                    raise StoreError(f"cannot open database {self.path}: {exc}") from None
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
                    if _is_transient(exc):
                        raise _Transient from exc
                    raise StoreError(f"database {self.path}: {exc}") from None
                finally:
                    with contextlib.suppress(duckdb.Error):
                        con.close()  # after COMMIT the data is safe in the WAL either way
                return out
            finally:
                if old_umask is not None:
                    os.umask(old_umask)

    def _read(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return self._run(work, write=False)

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return self._run(work, write=True)

    # -- schema ----------------------------------------------------------------------------
    @staticmethod
    def _schema_version(con: duckdb.DuckDBPyConnection) -> int:
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        )
        if not con.fetchone()[0]:
            return 0
        con.execute("SELECT coalesce(max(version), 0) FROM schema_version")
        return int(con.fetchone()[0])

    def _ensure_schema(self) -> None:
        if self.path.exists():
            version = self._read(self._schema_version)
            if version == SCHEMA_VERSION:
                return
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema v{version}, newer than this flowray "
                    f"(v{SCHEMA_VERSION}); upgrade flowray to use it"
                )
        created = not self.path.exists()
        while self._write(self._migrate_step) < SCHEMA_VERSION:
            pass
        if created:
            os.chmod(self.path, 0o600)

    def _migrate_step(self, con: duckdb.DuckDBPyConnection) -> int:
        """Apply the next pending migration in this transaction; return the version reached.

        One transaction per migration: DuckDB cannot alter a table in the transaction
        that created the tables referencing it, and each step stays all-or-nothing.
        """
        version = self._schema_version(con)  # another process may have migrated meanwhile
        if version > SCHEMA_VERSION:
            raise StoreError(f"database {self.path} has schema v{version}, newer than v{SCHEMA_VERSION}")
        pending = [m for m in MIGRATIONS if m.version > version]
        if not pending:
            return version
        migration = pending[0]
        for statement in migration.statements:
            con.execute(statement)
        con.execute(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
            [migration.version, migration.description, _utcnow()],
        )
        if migration.version == 2 and version == 1:  # actuals recorded before scoring existed
            self._score_open(con, None)
        return migration.version

    def schema_version(self) -> int:
        """The schema version of the file (equal to SCHEMA_VERSION once opened)."""
        return self._read(self._schema_version)

    # -- users -------------------------------------------------------------------------------
    @staticmethod
    def _user_row(row: Sequence[Any]) -> User:
        return User(*row)

    def add_user(self, name: str, *, email: str | None = None, role: str = "member",
                 created_at: dt.datetime | None = None) -> User:
        """Register a person (name as they log in, e.g. their JupyterHub user)."""
        name = _text("name", name, required=True)
        email, role = _text("email", email), _text("role", role, required=True)
        stamp = _as_timestamp("created_at", created_at) or _utcnow()

        def work(con: duckdb.DuckDBPyConnection) -> User:
            con.execute("SELECT 1 FROM users WHERE name = ?", [name])
            if con.fetchone():
                raise InputError("user", name, "already exists")
            con.execute(
                "INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?) "
                "RETURNING user_id, name, email, role, created_at",
                [name, email, role, stamp],
            )
            return self._user_row(con.fetchone())

        return self._write(work)

    def get_user(self, name: str) -> User:
        def work(con: duckdb.DuckDBPyConnection) -> User:
            con.execute("SELECT user_id, name, email, role, created_at FROM users WHERE name = ?", [name])
            row = con.fetchone()
            if row is None:
                raise InputError("user", name, "no such user")
            return self._user_row(row)

        return self._read(work)

    def list_users(self) -> list[User]:
        def work(con: duckdb.DuckDBPyConnection) -> list[User]:
            con.execute("SELECT user_id, name, email, role, created_at FROM users ORDER BY user_id")
            return [self._user_row(r) for r in con.fetchall()]

        return self._read(work)

    @staticmethod
    def _ensure_user(con: duckdb.DuckDBPyConnection, name: str, *, email: str | None = None,
                     role: str = "member", created_at: dt.datetime | None = None) -> bool:
        con.execute("SELECT 1 FROM users WHERE name = ?", [name])
        if con.fetchone():
            return False
        con.execute(
            "INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?)",
            [name, email, role, created_at or _utcnow()],
        )
        return True

    # -- projects ----------------------------------------------------------------------------
    _SELECT_PROJECTS = (
        "SELECT project_id, name, owner, description, team_size, status, start_date, target_date, "
        "created_at FROM projects "
    )

    @staticmethod
    def _project_id(con: duckdb.DuckDBPyConnection, project: str) -> int:
        con.execute("SELECT project_id FROM projects WHERE name = ?", [project])
        row = con.fetchone()
        if row is None:
            con.execute("SELECT name FROM projects ORDER BY name LIMIT 20")
            known = [r[0] for r in con.fetchall()]
            raise InputError("project", project, f"no such project; known: {known}")
        return int(row[0])

    def add_project(self, name: str, *, owner: str | None = None, description: str | None = None,
                    team_size: int | None = None, status: str = "active",
                    start_date: dt.date | str | None = None,
                    target_date: dt.date | str | None = None,
                    created_at: dt.datetime | None = None) -> Project:
        """Create a project; its owner (default: the current user) is registered if new."""
        name = _text("name", name, required=True)
        owner = _text("owner", owner) or current_user()
        row = [
            name, owner, _text("description", description), _as_int("team_size", team_size, 1),
            _text("status", status, required=True), _as_date("start_date", start_date),
            _as_date("target_date", target_date),
            _as_timestamp("created_at", created_at) or _utcnow(),
        ]

        def work(con: duckdb.DuckDBPyConnection) -> Project:
            con.execute("SELECT 1 FROM projects WHERE name = ?", [name])
            if con.fetchone():
                raise InputError("project", name, "already exists")
            self._ensure_user(con, owner)
            con.execute(
                "INSERT INTO projects (name, owner, description, team_size, status, start_date, "
                "target_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING project_id",
                row,
            )
            pid = con.fetchone()[0]
            con.execute(self._SELECT_PROJECTS + "WHERE project_id = ?", [pid])
            return Project(*con.fetchone())

        return self._write(work)

    def get_project(self, name: str) -> Project:
        def work(con: duckdb.DuckDBPyConnection) -> Project:
            pid = self._project_id(con, name)
            con.execute(self._SELECT_PROJECTS + "WHERE project_id = ?", [pid])
            return Project(*con.fetchone())

        return self._read(work)

    def list_projects(self) -> list[Project]:
        def work(con: duckdb.DuckDBPyConnection) -> list[Project]:
            con.execute(self._SELECT_PROJECTS + "ORDER BY name")
            return [Project(*r) for r in con.fetchall()]

        return self._read(work)

    # -- throughput and work items -----------------------------------------------------------
    @staticmethod
    def _throughput_rows(periods: Iterable[Any], period_days: int) -> list[tuple[dt.date, int]]:
        rows: dict[dt.date, int] = {}
        for i, entry in enumerate(periods):
            if isinstance(entry, Mapping):
                start, items = entry.get("period_start"), entry.get("items")
            else:
                try:
                    start, items = entry[0], entry[1]
                except (TypeError, IndexError, KeyError):
                    raise InputError(f"throughput[{i}]", entry, "must be (period_start, items)") from None
            day = _as_date(f"throughput[{i}].period_start", start)
            count = _as_int(f"throughput[{i}].items", items, 0)
            if day is None or count is None:
                raise InputError(f"throughput[{i}]", entry, "needs a period start and an item count")
            if day in rows:
                raise InputError(f"throughput[{i}].period_start", day.isoformat(), "appears twice")
            rows[day] = count
        ordered = sorted(rows)
        for a, b in zip(ordered, ordered[1:], strict=False):
            if (b - a).days % period_days:
                raise InputError(
                    "throughput.period_start", b.isoformat(),
                    f"is not a whole number of {period_days}-day periods after {a.isoformat()}",
                )
        return [(d, rows[d]) for d in ordered]

    def set_throughput(self, project: str, periods: Iterable[Any], *, period_days: int = 7,
                       replace: bool = True) -> int:
        """Store throughput history: (period_start, items) pairs or {"period_start", "items"}.

        replace=True makes `periods` the whole history; replace=False merges (a period
        already stored takes the new count). Returns the number of periods written.
        """
        pdays = _as_int("period_days", period_days, 1)
        assert pdays is not None
        rows = self._throughput_rows(periods, pdays)

        def work(con: duckdb.DuckDBPyConnection) -> int:
            pid = self._project_id(con, project)
            if replace:
                con.execute("DELETE FROM throughput WHERE project_id = ?", [pid])
            else:
                con.execute("SELECT DISTINCT period_days FROM throughput WHERE project_id = ?", [pid])
                stored = [r[0] for r in con.fetchall()]
                if stored and stored != [pdays]:
                    raise InputError("period_days", pdays, f"the stored history uses {stored[0]}-day periods")
            self._insert_throughput(con, pid, rows, pdays)
            return len(rows)

        return self._write(work)

    def get_throughput(self, project: str) -> list[ThroughputPeriod]:
        """The project's history, oldest first."""

        def work(con: duckdb.DuckDBPyConnection) -> list[ThroughputPeriod]:
            pid = self._project_id(con, project)
            con.execute(
                "SELECT period_start, items, period_days FROM throughput WHERE project_id = ? "
                "ORDER BY period_start",
                [pid],
            )
            return [ThroughputPeriod(*r) for r in con.fetchall()]

        return self._read(work)

    def add_work_items(self, project: str, items: Iterable[Any]) -> int:
        """Insert or update work items (objects with item_id, done_on, started_on).

        The throughput is left as it is; `import_work_items` also re-derives it.
        """
        merged = self._work_item_rows(items)

        def work(con: duckdb.DuckDBPyConnection) -> int:
            self._upsert_work_items(con, self._project_id(con, project), merged)
            return len(merged)

        return self._write(work)

    def get_work_items(self, project: str) -> list[WorkItemRow]:
        def work(con: duckdb.DuckDBPyConnection) -> list[WorkItemRow]:
            pid = self._project_id(con, project)
            con.execute(
                "SELECT item_id, done_on, started_on FROM work_items WHERE project_id = ? "
                "ORDER BY done_on NULLS LAST, item_id",
                [pid],
            )
            return [WorkItemRow(*r) for r in con.fetchall()]

        return self._read(work)

    # -- the forecast ledger -------------------------------------------------------------------
    def save_forecast(self, project: str, result: Mapping[str, Any], *, kind: str | None = None,
                      created_by: str | None = None,
                      data_window: tuple[dt.date | str, dt.date | str] | None = None,
                      data_periods: int | None = None, name: str | None = None) -> int:
        """Append a forecast (an engine result's `to_dict()`) to the ledger; return its id.

        The ledger row and its full distribution are written in one transaction, so a
        crash leaves either the whole forecast or nothing. Ledger rows are never
        updated or deleted; scores go to their own tables.
        """
        prepared = _prepare_forecast(result, kind=kind, created_by=created_by,
                                     data_window=data_window, data_periods=data_periods, name=name)

        def work(con: duckdb.DuckDBPyConnection) -> int:
            row = dict(prepared.row, project_id=self._project_id(con, project))
            self._ensure_user(con, row["created_by"])
            forecast_id = _insert_ledger_row(con, row)
            _insert_distribution(con, forecast_id, prepared.values, prepared.counts)
            return forecast_id

        return self._write(work)

    def list_forecasts(self, project: str | None = None, *, kind: str | None = None) -> list[ForecastSummary]:
        """Ledger rows (oldest first), optionally of one project and/or kind."""

        def work(con: duckdb.DuckDBPyConnection) -> list[ForecastSummary]:
            pid = self._project_id(con, project) if project is not None else None
            con.execute(_LIST_FORECASTS, {"project_id": pid, "kind": kind})
            return [ForecastSummary(**_summary_args(r)) for r in con.fetchall()]

        return self._read(work)

    def get_forecast(self, forecast_id: int) -> ForecastRecord:
        """One ledger row with its inputs, result and score (if resolved)."""
        fid = _as_int("forecast_id", forecast_id, 1)

        def work(con: duckdb.DuckDBPyConnection) -> ForecastRecord:
            con.execute(_GET_FORECAST, {"forecast_id": fid})
            row = con.fetchone()
            if row is None:
                raise InputError("forecast_id", forecast_id, "no such forecast in the ledger")
            score = self._get_score(con, fid)
            return ForecastRecord(
                **_summary_args(row),
                inputs=json.loads(row[SUMMARY_WIDTH]) if row[SUMMARY_WIDTH] is not None else None,
                result=json.loads(row[SUMMARY_WIDTH + 1]) if row[SUMMARY_WIDTH + 1] is not None else None,
                score=score,
            )

        return self._read(work)

    def get_distribution(self, forecast_id: int) -> list[tuple[int, int]]:
        """(value, count) pairs of the forecast's distribution, ascending (empty if none).

        Values are completion periods (unit "periods") or items (unit "items"); runs not
        done within the horizon are not listed: they are the ledger's `not_done`.
        """
        fid = _as_int("forecast_id", forecast_id, 1)

        def work(con: duckdb.DuckDBPyConnection) -> list[tuple[int, int]]:
            con.execute(
                "SELECT value, count FROM forecast_distribution WHERE forecast_id = ? ORDER BY value",
                [fid],
            )
            return [(int(v), int(c)) for v, c in con.fetchall()]

        return self._read(work)

    # -- actuals and scoring -----------------------------------------------------------------------
    def add_actual(self, project: str | None, completed_on: dt.date | str, items_done: int | None,
                   *, forecast_id: int | None = None, partial: bool = False,
                   notes: str | None = None, recorded_by: str | None = None,
                   recorded_at: dt.datetime | None = None) -> ActualAdded:
        """Record what happened and score every open forecast it resolves (same transaction).

        Without `forecast_id` the actual belongs to the project and resolves each of its
        open forecasts it applies to (see docs/store.md); with it, only that forecast.
        `partial=True` means the work was not finished by `completed_on` (a cut-off).
        """
        day = _as_date("completed_on", completed_on)
        if day is None:
            raise InputError("completed_on", completed_on, "is required")
        items = _as_int("items_done", items_done, 0)
        fid = _as_int("forecast_id", forecast_id, 1)
        who = _text("recorded_by", recorded_by) or current_user()
        stamp = _as_timestamp("recorded_at", recorded_at) or _utcnow()
        note = _text("notes", notes)
        if project is None and fid is None:
            raise InputError("project", None, "give a project or a forecast id")

        def work(con: duckdb.DuckDBPyConnection) -> ActualAdded:
            pid = self._project_id(con, project) if project is not None else None
            if fid is not None:
                con.execute("SELECT project_id FROM forecasts WHERE forecast_id = ?", [fid])
                row = con.fetchone()
                if row is None:
                    raise InputError("forecast_id", fid, "no such forecast in the ledger")
                if pid is not None and row[0] != pid:
                    raise InputError("forecast_id", fid, f"belongs to another project than {project!r}")
                pid = int(row[0])
            con.execute(
                "INSERT INTO actuals (project_id, forecast_id, completed_on, items_done, partial, "
                "notes, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING actual_id",
                [pid, fid, day, items, bool(partial), note, stamp, who],
            )
            actual_id = int(con.fetchone()[0])
            scored = self._score_open(con, actual_id)
            return ActualAdded(self._get_actual(con, actual_id), scored)

        return self._write(work)

    @staticmethod
    def _get_actual(con: duckdb.DuckDBPyConnection, actual_id: int) -> Actual:
        con.execute(
            "SELECT a.actual_id, p.name, a.forecast_id, a.completed_on, a.items_done, a.partial, "
            "a.notes, a.recorded_at, a.recorded_by FROM actuals a JOIN projects p USING (project_id) "
            "WHERE a.actual_id = ?",
            [actual_id],
        )
        return Actual(*con.fetchone())

    def list_actuals(self, project: str | None = None) -> list[Actual]:
        def work(con: duckdb.DuckDBPyConnection) -> list[Actual]:
            pid = self._project_id(con, project) if project is not None else None
            con.execute(
                "SELECT a.actual_id, p.name, a.forecast_id, a.completed_on, a.items_done, a.partial, "
                "a.notes, a.recorded_at, a.recorded_by FROM actuals a JOIN projects p USING "
                "(project_id) WHERE ($pid IS NULL OR a.project_id = $pid) ORDER BY a.actual_id",
                {"pid": pid},
            )
            return [Actual(*r) for r in con.fetchall()]

        return self._read(work)

    def score_pending(self) -> list[int]:
        """Score every open forecast that a recorded actual resolves; return their ids."""
        return self._write(lambda con: self._score_open(con, None))

    def get_score(self, forecast_id: int) -> Score | None:
        fid = _as_int("forecast_id", forecast_id, 1)
        return self._read(lambda con: self._get_score(con, fid))

    @staticmethod
    def _get_score(con: duckdb.DuckDBPyConnection, forecast_id: int | None) -> Score | None:
        con.execute(
            "SELECT forecast_id, actual_id, scored_at, method, actual_value, pit, pit_low, pit_high, "
            "median, median_error, deadline_met, brier FROM forecast_scores WHERE forecast_id = ?",
            [forecast_id],
        )
        row = con.fetchone()
        if row is None:
            return None
        con.execute(
            "SELECT level, quantile, met, expected_met, coverage FROM forecast_score_levels "
            "WHERE forecast_id = ? ORDER BY level",
            [forecast_id],
        )
        levels = {int(r[0]): LevelScore(*r) for r in con.fetchall()}
        return Score(*row, levels=levels)

    def _score_open(self, con: duckdb.DuckDBPyConnection, actual_id: int | None) -> list[int]:
        """Score open forecasts against actuals (one actual, or all recorded ones).

        A forecast takes the earliest-recorded actual that resolves it. Rules:
        - the actual is linked to the forecast, or belongs to its project and was
          recorded after the forecast was made (no hindsight);
        - unit "periods": the actual is a completion (not partial) on or after the
          forecast's start and, unless linked, reports at least the forecast's (low)
          backlog in items done; the actual value is ceil(days / period_days);
        - unit "items": the actual was taken on the forecast's horizon date; the actual
          value is the items done.
        """
        con.execute(
            """
            SELECT f.forecast_id, a.actual_id, f.unit, f.period_days, f.start_date, f.deadline,
                   f.horizon_date, f.runs, f.not_done, f.p50, f.p70, f.p85, f.p95, f.p_deadline,
                   a.completed_on, a.items_done
            FROM forecasts f
            JOIN actuals a ON a.project_id = f.project_id
            LEFT JOIN forecast_scores s ON s.forecast_id = f.forecast_id
            WHERE s.forecast_id IS NULL
              AND ($actual_id IS NULL OR a.actual_id = $actual_id)
              AND f.kind <> 'backtest' AND f.start_date IS NOT NULL
              AND (a.forecast_id = f.forecast_id
                   OR (a.forecast_id IS NULL AND a.recorded_at >= f.created_at))
              AND ((f.unit = 'periods' AND NOT a.partial AND a.completed_on >= f.start_date
                    AND (a.forecast_id IS NOT NULL OR a.items_done IS NULL
                         OR f.backlog_low IS NULL OR a.items_done >= f.backlog_low))
                   OR (f.unit = 'items' AND a.completed_on = f.horizon_date
                       AND a.items_done IS NOT NULL))
            ORDER BY f.forecast_id, a.recorded_at, a.actual_id
            """,
            {"actual_id": actual_id},
        )
        chosen: dict[int, tuple[Any, ...]] = {}
        for row in con.fetchall():
            chosen.setdefault(row[0], row)
        if not chosen:
            return []
        con.execute(
            "SELECT forecast_id, list(value ORDER BY value), list(count ORDER BY value) "
            "FROM forecast_distribution WHERE list_contains($ids, forecast_id) GROUP BY forecast_id",
            {"ids": list(chosen)},
        )
        dists = {r[0]: (r[1], r[2]) for r in con.fetchall()}
        now = _utcnow()
        score_rows, level_rows = [], []
        for fid, row in chosen.items():
            (_, aid, unit, pdays, start, deadline, _horizon, runs, not_done, p50, p70, p85, p95,
             p_deadline, completed_on, items_done) = row
            actual = periods_between(start, completed_on, pdays) if unit == "periods" else int(items_done)
            pit = pit_low = pit_high = median = median_error = None
            if fid in dists and runs:
                dist = _Distribution(tuple(dists[fid][0]), tuple(dists[fid][1]), int(runs))
                pit, pit_low, pit_high, median, levels = _score_distribution(dist, unit, actual)
            else:  # no distribution (e.g. imported): hits against the stored headline only
                headline = dict(zip(LEVELS, (p50, p70, p85, p95), strict=True))
                levels = []
                for level, q in headline.items():
                    if q is None:
                        continue
                    met = actual <= q if unit == "periods" else actual >= q
                    levels.append(LevelScore(level, float(q), met, None, None))
                median = p50
            if median is not None:
                median_error = float(actual - median)
            deadline_met = brier = None
            if unit == "periods" and deadline is not None:
                deadline_met = completed_on <= deadline
                if p_deadline is not None:
                    brier = (p_deadline - (1.0 if deadline_met else 0.0)) ** 2
            score_rows.append([fid, aid, now, SCORING_METHOD, actual, pit, pit_low, pit_high,
                               None if median is None else float(median), median_error,
                               deadline_met, brier])
            level_rows.extend([fid, s.level, s.quantile, s.met, s.expected_met, s.coverage]
                              for s in levels)
        con.executemany(
            "INSERT INTO forecast_scores (forecast_id, actual_id, scored_at, method, actual_value, "
            "pit, pit_low, pit_high, median, median_error, deadline_met, brier) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            score_rows,
        )
        if level_rows:
            con.executemany(
                "INSERT INTO forecast_score_levels (forecast_id, level, quantile, met, expected_met, "
                "coverage) VALUES (?, ?, ?, ?, ?, ?)",
                level_rows,
            )
        return sorted(chosen)

    def calibration(self, project: str | None = None) -> list[CalibrationLevel]:
        """Per level 50/70/85/95: the share of resolved forecasts met, overall or for one project."""

        def work(con: duckdb.DuckDBPyConnection) -> list[CalibrationLevel]:
            pid = self._project_id(con, project) if project is not None else None
            con.execute(
                "SELECT level, n, met, met_share, n_distribution, expected_share, pit_coverage "
                "FROM calibration WHERE project_id IS NOT DISTINCT FROM $pid ORDER BY level",
                {"pid": pid},
            )
            found = {int(r[0]): r for r in con.fetchall()}
            out = []
            for level in LEVELS:
                r = found.get(level)
                if r is None:
                    out.append(CalibrationLevel(project, level, 0, 0, None, 0, None, None))
                else:
                    out.append(CalibrationLevel(project, level, int(r[1]), int(r[2]), r[3], int(r[4]),
                                                r[5], r[6]))
            return out

        return self._read(work)

    # -- imports -----------------------------------------------------------------------------------
    def import_work_items(self, project: str, items: Iterable[Any], *, period_days: int = 7,
                          create_project: bool = True) -> ItemsImported:
        """Store work items and replace the project's throughput with the one derived from
        all its stored items (zero periods filled), in one transaction.

        `items` are objects with item_id, done_on, started_on (importers.WorkItem).
        Open items (no done date) are kept as work in progress, never counted.
        """
        from flowray.core.throughput import derive_throughput

        rows = list(items)
        merged = self._work_item_rows(rows)
        pdays = _as_int("period_days", period_days, 1)
        name = _text("project", project, required=True)

        def work(con: duckdb.DuckDBPyConnection) -> ItemsImported:
            con.execute("SELECT project_id FROM projects WHERE name = ?", [name])
            found = con.fetchone()
            created = found is None
            if created:
                if not create_project:
                    self._project_id(con, name)  # raises with the known names
                owner = current_user()
                self._ensure_user(con, owner)
                con.execute(
                    "INSERT INTO projects (name, owner, created_at) VALUES (?, ?, ?) "
                    "RETURNING project_id",
                    [name, owner, _utcnow()],
                )
                found = con.fetchone()
            pid = int(found[0])
            self._upsert_work_items(con, pid, merged)
            con.execute("SELECT done_on FROM work_items WHERE project_id = ? AND done_on IS NOT NULL", [pid])
            weekly = derive_throughput([r[0] for r in con.fetchall()], period_days=pdays)
            con.execute("DELETE FROM throughput WHERE project_id = ?", [pid])
            self._insert_throughput(con, pid, weekly, pdays)
            done = sum(1 for started_done in merged.values() if started_done[1] is not None)
            return ItemsImported(name, created, len(merged), done, len(merged) - done, len(weekly))

        return self._write(work)

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
        return self._write(lambda con: _FlowForecasterImport(self, con, data).run())

    @staticmethod
    def _work_item_rows(items: Iterable[Any]) -> dict[str, tuple[dt.date | None, dt.date | None]]:
        merged: dict[str, tuple[dt.date | None, dt.date | None]] = {}
        for i, item in enumerate(items):
            item_id = getattr(item, "item_id", None)
            if item_id is None or str(item_id).strip() == "":
                raise InputError(f"items[{i}].item_id", item_id, "is required")
            merged[str(item_id).strip()] = (
                _as_date(f"items[{i}].started_on", getattr(item, "started_on", None)),
                _as_date(f"items[{i}].done_on", getattr(item, "done_on", None)),
            )
        return merged

    @staticmethod
    def _upsert_work_items(con: duckdb.DuckDBPyConnection, pid: int,
                           merged: Mapping[str, tuple[dt.date | None, dt.date | None]]) -> None:
        if merged:
            con.execute(
                "INSERT OR REPLACE INTO work_items (project_id, item_id, started_on, done_on) "
                "SELECT $pid, unnest($ids::VARCHAR[]), unnest($starts::DATE[]), "
                "unnest($dones::DATE[])",
                {"pid": pid, "ids": list(merged), "starts": [s for s, _ in merged.values()],
                 "dones": [d for _, d in merged.values()]},
            )

    @staticmethod
    def _insert_throughput(con: duckdb.DuckDBPyConnection, pid: int,
                           rows: Sequence[tuple[dt.date, int]], period_days: int) -> None:
        if rows:
            con.execute(
                "INSERT OR REPLACE INTO throughput (project_id, period_start, period_days, items) "
                "SELECT $pid, unnest($days::DATE[]), $pdays, unnest($items::INTEGER[])",
                {"pid": pid, "days": [d for d, _ in rows], "pdays": period_days,
                 "items": [int(n) for _, n in rows]},
            )

    # -- export ----------------------------------------------------------------------------------
    def read_table(self, table: str) -> Any:
        """A whole table (or view) as a pyarrow Table."""
        if table not in _EXPORT_QUERIES:
            raise InputError("table", table, f"must be one of {list(EXPORT_TABLES)}")
        query = _EXPORT_QUERIES[table]
        return self._read(lambda con: con.sql(query).to_arrow_table())

    def export_table(self, table: str, path: str | os.PathLike[str], *, format: str = "parquet") -> Path:
        """Write a table (or view) to Parquet or CSV; returns the path written."""
        if format not in ("parquet", "csv"):
            raise InputError("format", format, "must be 'parquet' or 'csv'")
        data = self.read_table(table)  # the lock is not held while writing the file
        out = Path(path)
        if format == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(data, out)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(data, out)
        return out


_LEGACY_KINDS = {"monte_carlo": "when", "deadline": "deadline", "ml_deadline": "ml"}
LEGACY_SOURCE = "flow_forecaster"


class _FlowForecasterImport:
    """One import of the old app's data, inside the caller's transaction."""

    def __init__(self, store: Store, con: duckdb.DuckDBPyConnection, data: Any) -> None:
        self.store, self.con, self.data = store, con, data
        self.counts = {"users": 0, "projects": 0, "forecasts": 0, "actuals": 0, "throughput_periods": 0}
        self.skipped: list[str] = []
        self.user_names: dict[int, str] = {}  # old user id -> flowray user name
        self.name_by_email: dict[str, str] = {}
        self.project_ids: dict[int, int] = {}  # old project id -> flowray project_id
        self.forecast_ids: dict[int, int] = {}  # old forecast id -> ledger id (new ones only)
        self.already: set[int] = set()  # old forecast ids imported by an earlier run

    def run(self) -> ImportSummary:
        for user in self.data.users:
            self._user(user)
        for project in self.data.projects:
            self._project(project)
        for forecast in self.data.forecasts:
            self._forecast(forecast)
        for actual in self.data.actuals:
            self._actual(actual)
        self._throughput()
        scored = self.store._score_open(self.con, None)
        return ImportSummary(**self.counts, scored_forecasts=len(scored), skipped=self.skipped)

    def _user(self, user: Any) -> None:
        name = (user.name or user.email or f"flow_forecaster user {user.id}").strip()
        email = (user.email or "").strip() or None
        self.con.execute("SELECT name FROM users WHERE name = ? OR (? IS NOT NULL AND email = ?)",
                         [name, email, email])
        row = self.con.fetchone()
        if row is None:
            self.con.execute(
                "INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?)",
                [name, email, user.role or "member", _as_timestamp("created_at", user.created_at)
                 or _utcnow()],
            )
            self.counts["users"] += 1
        else:
            name = row[0]
        self.user_names[user.id] = name
        if email:
            self.name_by_email[email.lower()] = name

    def _person(self, email_or_name: str | None) -> str | None:
        if not email_or_name:
            return None
        return self.name_by_email.get(email_or_name.strip().lower(), email_or_name.strip())

    def _project(self, project: Any) -> None:
        name = (project.name or f"flow_forecaster project {project.id}").strip()
        self.con.execute("SELECT project_id FROM projects WHERE name = ?", [name])
        row = self.con.fetchone()
        if row is not None:
            self.project_ids[project.id] = int(row[0])
            self.skipped.append(f"project {name!r} already exists; its forecasts are added to it")
            return
        owner = self._person(project.owner_email) or project.owner_name
        if owner:
            Store._ensure_user(self.con, owner)
        team = project.team_size if project.team_size and project.team_size > 0 else None
        self.con.execute(
            "INSERT INTO projects (name, owner, description, team_size, status, start_date, "
            "target_date, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING project_id",
            [name, owner, project.description, team, project.status or "active",
             project.start_date, project.target_date,
             _as_timestamp("created_at", project.created_at) or _utcnow()],
        )
        self.project_ids[project.id] = int(self.con.fetchone()[0])
        self.counts["projects"] += 1

    @staticmethod
    def _scenario(forecast: Any, period_days: int) -> dict[str, Any]:
        """The old inputs as a flowray Scenario.to_dict(), so the forecast can be re-run."""
        team = forecast.team
        out: dict[str, Any] = {
            "throughput": list(forecast.tp_samples),
            "period_days": period_days,
            "backlog": forecast.backlog if forecast.backlog is not None else 0,
            "split_rate": {"samples": list(forecast.split_rate_samples)} if forecast.split_rate_samples else None,
            "risks": [{"likelihood": r.likelihood, "low": r.low, "mode": r.mode, "high": r.high}
                      for r in forecast.risks],
            "focus": team.focus if team is not None and team.focus else 1.0,
            "lead_time_days": list(forecast.lt_samples) or None,
            "start": forecast.start_date.isoformat() if forecast.start_date else None,
            "deadline": forecast.deadline_date.isoformat() if forecast.deadline_date else None,
        }
        if team is not None and team.history_size:
            out["team"] = {"history_size": team.history_size, "min_contributors": team.min_contributors,
                           "max_contributors": team.max_contributors, "s_curve": team.s_curve}
        return out

    def _forecast(self, forecast: Any) -> None:
        where = f"forecast {forecast.id} ({forecast.name!r})"
        pid = self.project_ids.get(forecast.project_id)
        if pid is None:
            self.skipped.append(f"{where}: its project {forecast.project_id} is not in the file")
            return
        ref = f"forecast:{forecast.id}"
        created_at = _as_timestamp("created_at", forecast.created_at)
        self.con.execute(
            "SELECT forecast_id FROM forecasts WHERE project_id = ? AND source = ? AND source_ref = ? "
            "AND created_at IS NOT DISTINCT FROM ?",
            [pid, LEGACY_SOURCE, ref, created_at],
        )
        if self.con.fetchone() is not None:
            self.already.add(forecast.id)
            self.skipped.append(f"{where}: already imported")
            return
        kind = _LEGACY_KINDS.get(forecast.type or "")
        if kind is None:
            kind = "when"
            self.skipped.append(f"{where}: unknown type {forecast.type!r} stored as kind 'when'")
        if kind == "when" and forecast.deadline_date is not None:
            kind = "deadline"
        cadence = forecast.input_data.get("throughputCadenceDays") if forecast.input_data else None
        period_days = _as_int("throughputCadenceDays", cadence, 1) if cadence else 7
        percentiles = forecast.percentiles or {}
        created_by = (self._person(forecast.created_by)
                      or self.user_names.get(forecast.user_id or -1) or current_user())
        Store._ensure_user(self.con, created_by)
        row = {
            "project_id": pid, "kind": kind, "unit": "periods", "name": forecast.name,
            "created_at": created_at or _utcnow(), "created_by": created_by,
            "source": LEGACY_SOURCE, "source_ref": ref,
            "inputs": _dumps(self._scenario(forecast, period_days)),
            "result": _dumps({
                "imported_from": str(self.data.path), "legacy_type": forecast.type,
                "saved_via": forecast.saved_via, "p85_source": forecast.p85_source,
                "weeks_to_deadline": forecast.weeks_to_deadline,
                "can_meet_deadline": forecast.can_meet_deadline,
                "scope_completion_pct": forecast.scope_completion_pct,
                "percentile_stats": percentiles, "description": forecast.description,
                "input_data": forecast.input_data, "forecast_data": forecast.forecast_data,
            }),
            "seed": None, "runs": forecast.n_simulations, "engine_version": "flow-forecaster",
            "period_days": period_days, "start_date": forecast.start_date,
            "deadline": forecast.deadline_date, "horizon_date": None,
            "backlog_low": forecast.backlog, "backlog_high": forecast.backlog,
            "data_from": None, "data_to": None, "data_periods": len(forecast.tp_samples) or None,
            # The app's percentiles are linear interpolations of run durations in weeks.
            "p50": percentiles.get("p50"), "p70": None, "p85": forecast.projected_weeks_p85,
            "p95": percentiles.get("p95"),
            "date_p50": None, "date_p70": None, "date_p85": None, "date_p95": None,
            "p_deadline": None, "not_done": 0,
        }
        self.forecast_ids[forecast.id] = _insert_ledger_row(self.con, row)
        self.counts["forecasts"] += 1

    def _actual(self, actual: Any) -> None:
        where = f"actual {actual.id}"
        fid = self.forecast_ids.get(actual.forecast_id)
        if fid is None:
            reason = ("already imported with its forecast" if actual.forecast_id in self.already
                      else f"its forecast {actual.forecast_id} is not in the file")
            self.skipped.append(f"{where}: {reason}")
            return
        if actual.completion_date is None:
            self.skipped.append(f"{where}: no completion date")
            return
        self.con.execute("SELECT project_id FROM forecasts WHERE forecast_id = ?", [fid])
        pid = self.con.fetchone()[0]
        notes = actual.notes
        if actual.kind == "partial":
            extra = f"partial delivery ({actual.scope_delivered_pct}% of scope)"
            notes = f"{notes} [{extra}]" if notes else extra
        self.con.execute(
            "INSERT INTO actuals (project_id, forecast_id, completed_on, items_done, partial, notes, "
            "recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [pid, fid, actual.completion_date, actual.items_completed, actual.kind == "partial",
             notes, _as_timestamp("recorded_at", actual.recorded_at) or _utcnow(),
             self._person(actual.recorded_by) or current_user()],
        )
        self.counts["actuals"] += 1

    def _throughput(self) -> None:
        """Give each project without history the tpSamples of its imported forecasts.

        Each sample list is dated as the periods just before the forecast's start
        (how the app's users fill it). Windows of several forecasts are merged
        (a later forecast wins where they disagree), and the longest gap-free run
        of periods ending at the latest one is kept.
        """
        by_project: dict[int, list[Any]] = {}
        for forecast in self.data.forecasts:
            pid = self.project_ids.get(forecast.project_id)
            if forecast.id in self.forecast_ids and pid is not None:
                by_project.setdefault(pid, []).append(forecast)
        for pid, forecasts in by_project.items():
            self.con.execute("SELECT count(*) FROM throughput WHERE project_id = ?", [pid])
            if self.con.fetchone()[0]:
                continue
            dated: dict[dt.date, int] = {}
            period_days = 7
            for forecast in sorted(forecasts, key=lambda f: (f.start_date or dt.date.min, f.id)):
                if forecast.start_date is None or not forecast.tp_samples:
                    continue
                cadence = forecast.input_data.get("throughputCadenceDays") if forecast.input_data else None
                pdays = int(cadence) if cadence else 7
                if dated and pdays != period_days:
                    continue
                period_days = pdays
                n = len(forecast.tp_samples)
                for i, value in enumerate(forecast.tp_samples):
                    day = forecast.start_date - dt.timedelta(days=(n - i) * pdays)
                    if any((day - d).days % pdays for d in dated):
                        break  # not aligned with the periods already placed
                    dated[day] = int(round(value))
            if not dated:
                continue
            days = sorted(dated)
            run = [days[-1]]
            for day in reversed(days[:-1]):
                if (run[-1] - day).days != period_days:
                    break
                run.append(day)
            rows = [(d, dated[d]) for d in reversed(run)]
            Store._insert_throughput(self.con, pid, rows, period_days)
            self.counts["throughput_periods"] += len(rows)
