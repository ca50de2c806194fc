"""The upper bounds of every input: sizes, runs, horizons and dates.

Each bound is far beyond any real backlog, team or plan, and low enough that
the work and memory a forecast needs stay bounded (see docs/reliability.md).
An input beyond a bound is refused with an `InputError` that names the bound,
never simulated, so a typo (1e12 for 12) fails in milliseconds.
"""

from __future__ import annotations

import datetime as dt

MAX_RUNS = 1_000_000_000
"""Simulated futures in one forecast (the default is 100,000; 1e9, the flat-memory benchmark, takes minutes)."""

MAX_SEED = 2**63 - 1
"""Random seeds are stored as signed 64-bit integers in the ledger."""

MAX_ITEMS = 10_000_000
"""Items in a backlog, in a risk, or in total after risks and splits (no tracker holds more)."""

MAX_SPLIT_RATE = 100.0
"""Items one backlog item may split into."""

MAX_THROUGHPUT = 1_000_000
"""Items done in one period of history."""

MAX_HISTORY_PERIODS = 100_000
"""Periods of throughput history."""

MAX_PERIODS = 100_000
"""The horizon of one forecast, in periods (the default is 520)."""

MAX_PERIOD_DAYS = 366
"""Days per period: a week is 7; a period longer than a year is a typo."""

MAX_HORIZON_DAYS = 200 * 366
"""Days from the start to the end of the horizon (max_periods x period_days): 200 years."""

MAX_LEAD_TIME_DAYS = 36_600
"""An item's lead time, in days (100 years)."""

MAX_CONTRIBUTORS = 100_000
"""People in a team."""

EARLIEST_DATE = dt.date(1970, 1, 1)
"""No software throughput history starts before this."""

LATEST_DATE = dt.date(2200, 12, 31)
"""Start dates, deadlines and targets end here, so every forecast date stays a real calendar date."""
