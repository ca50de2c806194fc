"""Read delivery history that other tools wrote: tracker CSV exports, throughput files, the old app's DB.

- `work_items`: Jira Cloud exports (all fields / current fields), Azure DevOps
  query exports, generic `id,...,done` sheets and the plain `item_id,done_date`
  files of the throughput data set (`read_work_items`);
- `throughput_files`: weekly `week_start,throughput` files
  (`read_throughput_csv`), or any of the above for the CLI's
  `--throughput-file` (`read_throughput_file`);
- `features`: a portfolio's features from an export with a parent or epic
  column (`read_features`, `portfolio_definition`);
- `flow_forecaster`: the SQLite database of the old Flow Forecaster web app
  (`read_flow_forecaster`);
- `dates`: the date reader they share.

Nothing is dropped silently: rejected rows and every guess the reader made are
in the report. Stdlib only (csv, sqlite3): `flowray.store` writes the results.
"""

from flowray.importers.dates import DateParseError, parse_date
from flowray.importers.flow_forecaster import (
    FlowForecasterData,
    LegacyActual,
    LegacyForecast,
    LegacyProject,
    LegacyRisk,
    LegacyTeam,
    LegacyUser,
    read_flow_forecaster,
)
from flowray.importers.throughput_files import (
    ThroughputHistory,
    read_throughput_csv,
    read_throughput_file,
)
from flowray.importers.work_items import ImportReport, RejectedRow, WorkItem, read_work_items

__all__ = [
    "DateParseError",
    "FlowForecasterData",
    "ImportReport",
    "LegacyActual",
    "LegacyForecast",
    "LegacyProject",
    "LegacyRisk",
    "LegacyTeam",
    "LegacyUser",
    "RejectedRow",
    "ThroughputHistory",
    "WorkItem",
    "parse_date",
    "read_flow_forecaster",
    "read_throughput_csv",
    "read_throughput_file",
    "read_work_items",
]
