"""Cycle time and work in progress of a stored project: its work items read from the ledger.

    report = cycle_time_report("Mockito", "flowray-demo.duckdb")
    report.percentiles[85]                      # 85% of finished items took this many days or less
    report.in_progress[0].forecast.headline()   # "85% likely done by ..." for the oldest item

No simulation: every number is read from the finished items themselves
(`core.cycle_time`), so each says how many items it rests on.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

from flowray.core.cycle_time import (
    LEFT_OUT_REASONS,
    AgeingItem,
    CycleTimeAnalysis,
    analyse_cycle_time,
)
from flowray.core.validation import parse_date, text
from flowray.exceptions import InputError
from flowray.pipeline.workspace import Where, workspace_of


@dataclass(frozen=True)
class CycleTimeReport:
    """One project's cycle-time percentiles, scatter and items in progress, as of `today`."""

    project: str
    analysis: CycleTimeAnalysis
    items_stored: int

    @property
    def today(self) -> dt.date:
        return self.analysis.today

    @property
    def percentiles(self) -> dict[int, int]:
        return self.analysis.percentiles

    @property
    def finished(self) -> int:
        """How many finished items every percentile rests on."""
        return len(self.analysis.finished)

    @property
    def in_progress(self) -> tuple[AgeingItem, ...]:
        return self.analysis.in_progress

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.analysis.warnings

    def scatter(self) -> dict[str, list[Any]]:
        return self.analysis.scatter()

    def left_out_lines(self) -> list[str]:
        """'2 items: done, but without a start date: ...' for each reason items were left out."""
        counts = self.analysis.left_out_counts()
        return [
            f"{n} item{'s' if n != 1 else ''}: {LEFT_OUT_REASONS[code]}"
            for code, n in sorted(counts.items())
        ]

    def to_dict(self) -> dict[str, Any]:
        data = {"project": self.project, "items_stored": self.items_stored}
        data.update(self.analysis.to_dict())
        return data


def cycle_time_report(
    project: str, db_path: Where = None, today: dt.date | str | None = None
) -> CycleTimeReport:
    """The cycle-time report of a stored project's work items, as of `today` (default: today).

    Raises InputError naming the ledger when there is none at `db_path`, the
    project when it is unknown or holds no work items, and the items when none
    of them is finished with both dates (there is nothing to compare with).
    """
    name = text("project", project, required=True)
    day = parse_date("today", today) or dt.date.today()
    workspace = workspace_of(db_path)
    if db_path is None or isinstance(db_path, (str, os.PathLike)):
        from flowray.store import require_ledger

        require_ledger(workspace.db_path)  # a read: a mistyped path must not create a ledger
    items = workspace.store.get_work_items(name)
    if not items:
        raise InputError(
            "project",
            name,
            "holds no work items: import them with started and done dates "
            "(flowray import items EXPORT.csv --project NAME)",
        )
    return CycleTimeReport(name, analyse_cycle_time(items, day), len(items))


__all__ = ["CycleTimeReport", "cycle_time_report"]
