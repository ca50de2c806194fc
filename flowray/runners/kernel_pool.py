"""Pre-heated pages: a kernel that has already run the page, kept ready, and never stale.

Voila starts a kernel per page view and runs the notebook before the page
shows (imports, reading the ledger, building the widgets): several seconds.
With Voila's pre-heated kernels (`VoilaConfiguration.preheat_kernel`) a page
is rendered ahead of time in a pooled kernel and handed out at once; the pool
refills itself after `FILL_DELAY_S`.

A page rendered ahead of time shows the ledger as it was then. So the pool is
kept fresh: every `CHECK_INTERVAL_S` the server compares the ledger file's
stamp (size and modification time of the database and its write-ahead log)
and today's date with those the pooled page was rendered under, and replaces
a pooled kernel that no longer matches. A pre-heated page therefore never
predates the ledger's last change or today's date. Ledger reads do not change
the stamp (`tests/test_serve.py` checks it), so the pool does not churn.

Each pooled page costs one kernel's memory (200-400 MB), so only the pages
named in `preheated_pages` are pooled: by default the forecast page, the one
a new user opens first.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

DEFAULT_PREHEATED_PAGES = ("forecast.ipynb",)
#: Seconds before a used pooled kernel is replaced: long enough that the refill does not
#: compete with the first Run of the person who just opened the page.
FILL_DELAY_S = 10.0
#: Seconds between freshness checks of the pooled pages.
CHECK_INTERVAL_S = 2.0

log = logging.getLogger(__name__)

Stamp = tuple[Any, ...]


def ledger_stamp(db_path: Path, today: Callable[[], dt.date] = dt.date.today) -> Stamp:
    """What a rendered page depends on: the ledger's files as they are now, and the date."""
    parts: list[Any] = [today().isoformat()]
    for path in (db_path, db_path.with_name(db_path.name + ".wal")):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            parts.append(None)
        else:
            parts.append((info.st_size, info.st_mtime_ns))
    return tuple(parts)


def pool_config(pages: Iterable[str]) -> dict[str, dict[str, int]]:
    """Voila's `kernel_pools_config`: one pooled kernel for each page named, none for the others."""
    return {"default": {"pool_size": 0}, **{page: {"pool_size": 1} for page in pages}}


class FreshPool:
    """Keeps Voila's pooled kernels no older than the ledger and the date they were rendered under.

    `kernel_manager` is Voila's pre-heating kernel manager (its `_pools` maps a
    notebook to a list of asyncio tasks, each resolving to a dict with the
    pooled `kernel_id`). Every task gets the stamp current when it was created.
    """

    def __init__(self, kernel_manager: Any, stamp: Callable[[], Stamp]) -> None:
        self.kernel_manager = kernel_manager
        self.stamp = stamp
        self.stamps: dict[Any, Stamp] = {}
        self.replaced = 0  # pooled kernels replaced because they went stale (tests, diagnostics)
        initial = stamp()
        for task in self._tasks():
            self.stamps[task] = initial
        original_fill = kernel_manager.fill_if_needed

        def fill_if_needed(*args: Any, **kwargs: Any) -> None:
            current = self.stamp()
            original_fill(*args, **kwargs)
            for task in self._tasks():
                self.stamps.setdefault(task, current)

        kernel_manager.fill_if_needed = fill_if_needed

    def _tasks(self) -> list[Any]:
        return [task for pool in self.kernel_manager._pools.values() for task in pool]

    async def check(self) -> None:
        """Replace every finished pooled kernel rendered under another stamp than now."""
        current = self.stamp()
        for notebook, pool in list(self.kernel_manager._pools.items()):
            for task in list(pool):
                if not task.done() or self.stamps.get(task) == current:
                    continue
                pool.remove(task)
                self.stamps.pop(task, None)
                try:
                    kernel_id = task.result()["kernel_id"]
                    await self.kernel_manager.shutdown_kernel(kernel_id)
                except Exception as exc:  # a kernel that failed to start: just refill
                    log.warning("replacing a pooled kernel of %s: %s", notebook, exc)
                self.replaced += 1
                self.kernel_manager.fill_if_needed(delay=0, notebook_name=notebook)
        for task in list(self.stamps):  # tasks handed to a page view are no longer ours
            if task not in self._tasks():
                del self.stamps[task]
