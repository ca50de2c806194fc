"""What the store holds, by topic, as SQL and typed records (no duckdb here).

- `schema`: tables, views and their migrations;
- `projects`: users, projects, throughput history, work items;
- `ledger`: the immutable forecast ledger and its distributions;
- `scores`: actuals, scores, calibration;
- `legacy`: the old Flow Forecaster app's data written into the ledger;
- `export`: whole tables for export.

Each function checks its inputs and returns the work (a function of a
`base.Connection`) that `flowray.store.Store` runs in one transaction.
"""
