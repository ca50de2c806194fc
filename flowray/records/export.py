"""Whole tables for export: fixed queries, never formatted (the table name picks one from this list)."""

from __future__ import annotations

# Exports read whole tables; the queries are fixed strings, never formatted.
EXPORT_QUERIES = {
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
EXPORT_TABLES = tuple(EXPORT_QUERIES)


def export_query(table: str) -> str:
    """The fixed query of an exportable table or view, or an InputError naming the choices."""
    from flowray.exceptions import InputError

    if table not in EXPORT_QUERIES:
        raise InputError("table", table, f"must be one of {list(EXPORT_TABLES)}")
    return EXPORT_QUERIES[table]
