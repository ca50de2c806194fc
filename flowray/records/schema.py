"""The database schema and its migrations. A migration is never edited once released: add a new one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowray.exceptions import StoreError
from flowray.records.base import Connection, utcnow
from flowray.records.scores import score_open

SCHEMA_VERSION = 6

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

# History revisions: before a project's throughput is replaced, its rows are copied here.
# Append-only like the ledger: the API never updates or deletes a revision.
_V3_HISTORY_REVISIONS = (
    """CREATE TABLE throughput_revisions (
        project_id BIGINT NOT NULL REFERENCES projects (project_id),
        revision INTEGER NOT NULL CHECK (revision >= 1),
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        period_days INTEGER NOT NULL,
        periods INTEGER NOT NULL,
        items BIGINT NOT NULL,
        first_period DATE,
        last_period DATE,
        PRIMARY KEY (project_id, revision))""",
    """CREATE TABLE throughput_revision_periods (
        project_id BIGINT NOT NULL,
        revision INTEGER NOT NULL,
        period_start DATE NOT NULL,
        items INTEGER NOT NULL CHECK (items >= 0),
        PRIMARY KEY (project_id, revision, period_start),
        FOREIGN KEY (project_id, revision) REFERENCES throughput_revisions (project_id, revision))""",
)


# Plans: which saved forecast is a project's plan (what the portfolio, the batch and its
# alerts follow), set on purpose. Append-only like the ledger: the plan in force is a
# project's latest row, and every earlier row says which plan was followed until then.
# A ledger from before plans existed gets one row per project: its latest "when" or
# "deadline" forecast made by flowray (the one the batch and the portfolio followed),
# recorded as set when and by whom that forecast was saved, `how` = 'migration'.
_V4_PLANS = (
    "CREATE SEQUENCE plan_id_seq START 1",
    """CREATE TABLE forecast_plans (
        plan_id BIGINT PRIMARY KEY DEFAULT nextval('plan_id_seq'),
        project_id BIGINT NOT NULL REFERENCES projects (project_id),
        forecast_id BIGINT NOT NULL REFERENCES forecasts (forecast_id),
        set_at TIMESTAMP NOT NULL,
        set_by VARCHAR NOT NULL,
        how VARCHAR NOT NULL)""",
    """INSERT INTO forecast_plans (project_id, forecast_id, set_at, set_by, how)
       SELECT f.project_id, f.forecast_id, f.created_at, f.created_by, 'migration'
       FROM forecasts f
       JOIN (SELECT project_id, max(forecast_id) AS forecast_id FROM forecasts
             WHERE kind IN ('when', 'deadline') AND coalesce(source, 'flowray') = 'flowray'
               AND backlog_low IS NOT NULL
             GROUP BY project_id) latest USING (project_id, forecast_id)
       ORDER BY f.forecast_id""",
)


# Portfolios: a stored definition (the mapping the TOML file holds) kept as append-only
# revisions, so a forecast keeps the definition it was made from; features marked done; and
# portfolio forecasts, immutable like the ledger: one row per forecast, per feature its
# answers and its completion-period histogram, and a score per feature once it is done.
_V5_PORTFOLIOS = (
    "CREATE SEQUENCE portfolio_id_seq START 1",
    """CREATE TABLE portfolios (
        portfolio_id BIGINT PRIMARY KEY DEFAULT nextval('portfolio_id_seq'),
        name VARCHAR NOT NULL UNIQUE,
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL)""",
    """CREATE TABLE portfolio_definitions (
        portfolio_id BIGINT NOT NULL REFERENCES portfolios (portfolio_id),
        revision INTEGER NOT NULL CHECK (revision >= 1),
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        start_date DATE NOT NULL,
        target DATE,
        period_days INTEGER NOT NULL,
        level DOUBLE NOT NULL,
        features INTEGER NOT NULL,
        definition JSON NOT NULL,
        PRIMARY KEY (portfolio_id, revision))""",
    """CREATE TABLE portfolio_features_done (
        portfolio_id BIGINT NOT NULL REFERENCES portfolios (portfolio_id),
        feature VARCHAR NOT NULL,
        done_on DATE NOT NULL,
        recorded_at TIMESTAMP NOT NULL,
        recorded_by VARCHAR NOT NULL,
        PRIMARY KEY (portfolio_id, feature))""",
    "CREATE SEQUENCE portfolio_forecast_id_seq START 1",
    """CREATE TABLE portfolio_forecasts (
        portfolio_forecast_id BIGINT PRIMARY KEY DEFAULT nextval('portfolio_forecast_id_seq'),
        portfolio_id BIGINT NOT NULL REFERENCES portfolios (portfolio_id),
        revision INTEGER NOT NULL,
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        name VARCHAR,
        seed BIGINT NOT NULL,
        runs BIGINT NOT NULL,
        runs_asked BIGINT NOT NULL,
        sampler VARCHAR NOT NULL,
        method VARCHAR NOT NULL,
        start_date DATE NOT NULL,
        target DATE,
        period_days INTEGER NOT NULL,
        level DOUBLE NOT NULL,
        max_periods INTEGER NOT NULL,
        cut_line INTEGER,
        inputs JSON NOT NULL,
        result JSON NOT NULL,
        engine_version VARCHAR,
        FOREIGN KEY (portfolio_id, revision)
            REFERENCES portfolio_definitions (portfolio_id, revision))""",
    """CREATE TABLE portfolio_forecast_features (
        portfolio_forecast_id BIGINT NOT NULL
            REFERENCES portfolio_forecasts (portfolio_forecast_id),
        position INTEGER NOT NULL CHECK (position >= 1),
        feature VARCHAR NOT NULL,
        cannot_forecast BOOLEAN NOT NULL,
        not_done BIGINT NOT NULL CHECK (not_done >= 0),
        p_target DOUBLE,
        all_done_by_target DOUBLE,
        PRIMARY KEY (portfolio_forecast_id, position))""",
    """CREATE TABLE portfolio_forecast_distribution (
        portfolio_forecast_id BIGINT NOT NULL
            REFERENCES portfolio_forecasts (portfolio_forecast_id),
        position INTEGER NOT NULL,
        value INTEGER NOT NULL,
        count BIGINT NOT NULL CHECK (count > 0),
        PRIMARY KEY (portfolio_forecast_id, position, value))""",
    """CREATE TABLE portfolio_feature_scores (
        portfolio_forecast_id BIGINT NOT NULL
            REFERENCES portfolio_forecasts (portfolio_forecast_id),
        position INTEGER NOT NULL,
        feature VARCHAR NOT NULL,
        done_on DATE NOT NULL,
        scored_at TIMESTAMP NOT NULL,
        method VARCHAR NOT NULL,
        actual_value INTEGER NOT NULL,
        pit DOUBLE, pit_low DOUBLE, pit_high DOUBLE,
        crps DOUBLE,
        median DOUBLE,
        target_met BOOLEAN, brier DOUBLE,
        PRIMARY KEY (portfolio_forecast_id, position))""",
    """CREATE TABLE portfolio_feature_score_levels (
        portfolio_forecast_id BIGINT NOT NULL
            REFERENCES portfolio_forecasts (portfolio_forecast_id),
        position INTEGER NOT NULL,
        level INTEGER NOT NULL,
        quantile DOUBLE,
        met BOOLEAN NOT NULL,
        expected_met DOUBLE,
        coverage DOUBLE,
        PRIMARY KEY (portfolio_forecast_id, position, level))""",
)


# Tracker sources: where a project's work items are read from (a GitHub repository, a Jira
# query), with the settings to read them again (never a secret: tokens stay in the
# environment), the team's workflow overrides, and how far the last sync got. Work items
# gain what a tracker says about them; rows imported from CSV keep these columns NULL.
_V6_SOURCES = (
    "CREATE SEQUENCE source_id_seq START 1",
    """CREATE TABLE sources (
        source_id BIGINT PRIMARY KEY DEFAULT nextval('source_id_seq'),
        project_id BIGINT NOT NULL REFERENCES projects (project_id),
        kind VARCHAR NOT NULL,
        settings JSON NOT NULL,
        workflow JSON NOT NULL,
        created_at TIMESTAMP NOT NULL,
        created_by VARCHAR NOT NULL,
        last_synced_at TIMESTAMP,
        last_cursor VARCHAR,
        UNIQUE (project_id, kind))""",
    "ALTER TABLE work_items ADD COLUMN title VARCHAR",
    "ALTER TABLE work_items ADD COLUMN item_type VARCHAR",
    "ALTER TABLE work_items ADD COLUMN status VARCHAR",
    "ALTER TABLE work_items ADD COLUMN parent_key VARCHAR",
    "ALTER TABLE work_items ADD COLUMN labels JSON",
    "ALTER TABLE work_items ADD COLUMN created_at TIMESTAMP",
    "ALTER TABLE work_items ADD COLUMN updated_at TIMESTAMP",
    "ALTER TABLE work_items ADD COLUMN source VARCHAR",
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "ledger: users, projects, throughput, forecasts, distribution, actuals", _V1_LEDGER
    ),
    Migration(
        2, "work items, forecast provenance and units, partial actuals, scoring", _V2_SCORING
    ),
    Migration(3, "history revisions: replaced throughput is kept", _V3_HISTORY_REVISIONS),
    Migration(4, "plans: which forecast is a project's plan, set on purpose", _V4_PLANS),
    Migration(
        5, "portfolios: definitions, features done, portfolio forecasts, scores", _V5_PORTFOLIOS
    ),
    Migration(6, "tracker sources and what trackers say about work items", _V6_SOURCES),
)
assert MIGRATIONS[-1].version == SCHEMA_VERSION


def read_schema_version(con: Connection) -> int:
    con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    )
    if not con.fetchone()[0]:
        return 0
    con.execute("SELECT coalesce(max(version), 0) FROM schema_version")
    return int(con.fetchone()[0])


def migrate_step(con: Connection, path: Any) -> int:
    """Apply the next pending migration in this transaction; return the version reached.

    One transaction per migration: DuckDB cannot alter a table in the transaction
    that created the tables referencing it, and each step stays all-or-nothing.
    """
    version = read_schema_version(con)  # another process may have migrated meanwhile
    if version > SCHEMA_VERSION:
        raise StoreError(f"database {path} has schema v{version}, newer than v{SCHEMA_VERSION}")
    pending = [m for m in MIGRATIONS if m.version > version]
    if not pending:
        return version
    migration = pending[0]
    for statement in migration.statements:
        con.execute(statement)
    con.execute(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
        [migration.version, migration.description, utcnow()],
    )
    if migration.version == 2 and version == 1:  # actuals recorded before scoring existed
        score_open(con, None)
    return migration.version
