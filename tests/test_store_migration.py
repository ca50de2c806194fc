"""A database written at schema v1 (raw SQL, as the first release left it) migrates without loss."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from flowray.exceptions import StoreError
from flowray.importers import WorkItem
from flowray.store import SCHEMA_VERSION, Store

# The v1 schema exactly as released; never import it from flowray.store (which may change).
V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL);
CREATE SEQUENCE user_id_seq START 1;
CREATE TABLE users (user_id BIGINT PRIMARY KEY DEFAULT nextval('user_id_seq'),
    name VARCHAR NOT NULL UNIQUE, email VARCHAR, role VARCHAR NOT NULL DEFAULT 'member',
    created_at TIMESTAMP NOT NULL);
CREATE SEQUENCE project_id_seq START 1;
CREATE TABLE projects (project_id BIGINT PRIMARY KEY DEFAULT nextval('project_id_seq'),
    name VARCHAR NOT NULL UNIQUE, owner VARCHAR, description VARCHAR, team_size INTEGER,
    status VARCHAR NOT NULL DEFAULT 'active', start_date DATE, target_date DATE,
    created_at TIMESTAMP NOT NULL);
CREATE TABLE throughput (project_id BIGINT NOT NULL REFERENCES projects (project_id),
    period_start DATE NOT NULL, period_days INTEGER NOT NULL DEFAULT 7,
    items INTEGER NOT NULL CHECK (items >= 0), PRIMARY KEY (project_id, period_start));
CREATE SEQUENCE forecast_id_seq START 1;
CREATE TABLE forecasts (forecast_id BIGINT PRIMARY KEY DEFAULT nextval('forecast_id_seq'),
    project_id BIGINT NOT NULL REFERENCES projects (project_id), kind VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL, created_by VARCHAR NOT NULL, inputs JSON, result JSON,
    seed BIGINT, runs BIGINT, engine_version VARCHAR, period_days INTEGER NOT NULL DEFAULT 7,
    start_date DATE, deadline DATE, data_from DATE, data_to DATE,
    p50 DOUBLE, p70 DOUBLE, p85 DOUBLE, p95 DOUBLE,
    date_p50 DATE, date_p70 DATE, date_p85 DATE, date_p95 DATE,
    p_deadline DOUBLE, not_done BIGINT NOT NULL DEFAULT 0);
CREATE TABLE forecast_distribution (forecast_id BIGINT NOT NULL REFERENCES forecasts (forecast_id),
    value INTEGER NOT NULL, count BIGINT NOT NULL CHECK (count > 0),
    PRIMARY KEY (forecast_id, value));
CREATE SEQUENCE actual_id_seq START 1;
CREATE TABLE actuals (actual_id BIGINT PRIMARY KEY DEFAULT nextval('actual_id_seq'),
    project_id BIGINT NOT NULL REFERENCES projects (project_id),
    forecast_id BIGINT REFERENCES forecasts (forecast_id), completed_on DATE NOT NULL,
    items_done INTEGER, notes VARCHAR, recorded_at TIMESTAMP NOT NULL, recorded_by VARCHAR NOT NULL);
"""

V1_ROWS = [
    ("INSERT INTO schema_version VALUES (1, 'ledger', '2025-01-01 09:00:00')", []),
    (
        "INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?)",
        ["ana", "ana@example.com", "admin", "2025-01-01 09:00:00"],
    ),
    (
        "INSERT INTO projects (name, owner, description, team_size, created_at) VALUES (?, ?, ?, ?, ?)",
        ["Apollo", "ana", "moon shot", 4, "2025-01-01 09:00:00"],
    ),
    (
        "INSERT INTO throughput VALUES (1, '2025-01-06', 7, 3), (1, '2025-01-13', 7, 0), "
        "(1, '2025-01-20', 7, 5)",
        [],
    ),
    # a "when" forecast with a range backlog and a distribution (1 run of 10 not done)
    (
        "INSERT INTO forecasts (project_id, kind, created_at, created_by, inputs, result, seed, runs, "
        "engine_version, start_date, data_from, data_to, p50, p70, p85, p95, date_p50, not_done) "
        "VALUES (1, 'when', '2025-02-01 10:00:00', 'ana', ?, ?, 42, 10, '0.0.9', '2025-02-03', "
        "'2025-01-06', '2025-01-20', 4, 5, 5, NULL, '2025-03-03', 1)",
        [
            json.dumps(
                {
                    "throughput": [3, 0, 5],
                    "backlog": {"low": 10, "high": 14},
                    "period_days": 7,
                    "start": "2025-02-03",
                }
            ),
            json.dumps({"percentiles": {"50": 4, "70": 5, "85": 5, "95": None}}),
        ],
    ),
    ("INSERT INTO forecast_distribution VALUES (1, 3, 2), (1, 4, 3), (1, 5, 4)", []),
    # a 'how_many' forecast: v1 kept its horizon in the deadline column
    (
        "INSERT INTO forecasts (project_id, kind, created_at, created_by, inputs, seed, runs, "
        "start_date, deadline, p50, p85) VALUES (1, 'how_many', '2025-02-01 11:00:00', 'ana', ?, 7, 4, "
        "'2025-02-03', '2025-03-03', 6, 5)",
        [json.dumps({"throughput": [3, 0, 5], "backlog": 0, "start": "2025-02-03"})],
    ),
    ("INSERT INTO forecast_distribution VALUES (2, 5, 1), (2, 6, 2), (2, 8, 1)", []),
    # the project finished on day 29 (5 periods) with 12 items, recorded in v1 (never scored)
    (
        "INSERT INTO actuals (project_id, completed_on, items_done, notes, recorded_at, recorded_by) "
        "VALUES (1, '2025-03-04', 12, 'done', '2025-03-05 08:00:00', 'ana')",
        [],
    ),
]


@pytest.fixture
def v1_db(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for statement in V1_SCHEMA.split(";"):
        if statement.strip():
            con.execute(statement)
    for sql, params in V1_ROWS:
        con.execute(sql, params)
    con.close()
    return path


def test_v1_database_migrates_without_loss(v1_db):
    store = Store(v1_db)
    assert store.schema_version() == SCHEMA_VERSION
    assert [(u.name, u.email, u.role) for u in store.list_users()] == [
        ("ana", "ana@example.com", "admin")
    ]
    project = store.get_project("Apollo")
    assert (project.owner, project.description, project.team_size, project.status) == (
        "ana",
        "moon shot",
        4,
        "active",
    )
    assert [(t.period_start, t.items) for t in store.get_throughput("Apollo")] == [
        (dt.date(2025, 1, 6), 3),
        (dt.date(2025, 1, 13), 0),
        (dt.date(2025, 1, 20), 5),
    ]

    when, many = store.list_forecasts()
    assert (when.kind, when.unit, when.source, when.seed, when.runs) == (
        "when",
        "periods",
        "flowray",
        42,
        10,
    )
    assert (when.backlog_low, when.backlog_high) == (10, 14)  # filled from the v1 inputs
    assert when.percentiles == {50: 4.0, 70: 5.0, 85: 5.0, 95: None}
    assert when.dates[50] == dt.date(2025, 3, 3)
    assert (when.data_from, when.data_to) == (dt.date(2025, 1, 6), dt.date(2025, 1, 20))
    record = store.get_forecast(when.forecast_id)
    assert record.inputs["backlog"] == {"low": 10, "high": 14}
    assert record.result == {"percentiles": {"50": 4, "70": 5, "85": 5, "95": None}}
    assert store.get_distribution(when.forecast_id) == [(3, 2), (4, 3), (5, 4)]
    assert (many.kind, many.unit, many.horizon_date) == ("how_many", "items", dt.date(2025, 3, 3))
    assert (many.backlog_low, many.backlog_high) == (0, 0)
    assert store.get_distribution(many.forecast_id) == [(5, 1), (6, 2), (8, 1)]

    # the v1 actual is kept, and scoring (new in v2) resolved the forecast it completes
    (actual,) = store.list_actuals()
    assert (actual.completed_on, actual.items_done, actual.notes, actual.partial) == (
        dt.date(2025, 3, 4),
        12,
        "done",
        False,
    )
    score = store.get_score(when.forecast_id)
    assert score is not None and score.actual_value == 5  # ceil(29 / 7)
    assert score.pit == pytest.approx(0.7)  # F(4) = .5, F(5) = .9 of 10 runs
    assert store.get_score(many.forecast_id) is None  # no count taken on its horizon date

    # the new tables work, and ids continue after the v1 rows
    store.add_work_items("Apollo", [WorkItem("A-1", dt.date(2025, 1, 7))])
    assert [w.item_id for w in store.get_work_items("Apollo")] == ["A-1"]
    assert store.add_project("Hermes").project_id == 2


def test_migration_is_atomic_per_step_and_runs_once(v1_db):
    Store(v1_db)
    Store(v1_db)  # a second open finds the current version and changes nothing
    con = duckdb.connect(str(v1_db), read_only=True)
    try:
        versions = con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        scores = con.execute("SELECT count(*) FROM forecast_scores").fetchone()[0]
    finally:
        con.close()
    assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))
    assert scores == 1


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "future.duckdb"
    Store(path)
    con = duckdb.connect(str(path))
    con.execute(
        "INSERT INTO schema_version VALUES (?, 'from the future', now())", [SCHEMA_VERSION + 1]
    )
    con.close()
    with pytest.raises(StoreError, match=f"schema v{SCHEMA_VERSION + 1}, newer than this flowray"):
        Store(path)
