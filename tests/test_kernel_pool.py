"""Pre-heated pages: which pages are pooled, and a pooled page is never older than the ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from flowray import pipeline
from flowray.runners import kernel_pool
from flowray.runners.kernel_pool import FreshPool, ledger_stamp, pool_config
from flowray.runners.voila import build_voila_argv, plan_dashboard_server


class FakePoolingManager:
    """Voila's pre-heating kernel manager as FreshPool uses it: `_pools`, fill, shutdown."""

    def __init__(self, notebooks: list[str]) -> None:
        self._pools: dict[str, list[Any]] = {}
        self.started = 0
        self.shut_down: list[str] = []
        for notebook in notebooks:
            self.fill_if_needed(delay=0, notebook_name=notebook)

    def fill_if_needed(self, delay: float | None = None, notebook_name: str | None = None) -> None:
        assert notebook_name is not None
        pool = self._pools.setdefault(notebook_name, [])
        while len(pool) < 1:
            self.started += 1
            future: asyncio.Future[dict[str, str]] = asyncio.get_event_loop().create_future()
            future.set_result({"kernel_id": f"kernel-{self.started}"})
            pool.append(future)

    async def shutdown_kernel(self, kernel_id: str) -> None:
        self.shut_down.append(kernel_id)

    def hand_out(self, notebook: str) -> str:
        """A page view takes the pooled kernel; Voila then refills."""
        kernel = self._pools[notebook].pop(0).result()["kernel_id"]
        self.fill_if_needed(notebook_name=notebook)
        return kernel


def test_only_the_pages_named_are_pooled():
    assert pool_config(["forecast.ipynb"]) == {
        "default": {"pool_size": 0},
        "forecast.ipynb": {"pool_size": 1},
    }


def test_a_pooled_page_is_replaced_when_the_ledger_or_the_date_changes():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        stamp = ["ledger v1", "day 1"]
        manager = FakePoolingManager(["forecast.ipynb"])
        pool = FreshPool(manager, lambda: tuple(stamp))

        loop.run_until_complete(pool.check())  # nothing changed: the pooled kernel stays
        assert manager.shut_down == [] and manager.started == 1

        stamp[0] = "ledger v2"  # a forecast was saved, a project added...
        loop.run_until_complete(pool.check())
        assert manager.shut_down == ["kernel-1"] and manager.started == 2
        loop.run_until_complete(pool.check())  # the replacement is fresh: no churn
        assert manager.started == 2

        assert manager.hand_out("forecast.ipynb") == "kernel-2"  # a page view takes it
        loop.run_until_complete(pool.check())
        assert manager.started == 3 and manager.shut_down == ["kernel-1"]

        stamp[1] = "day 2"  # midnight: "today" on the page moves
        loop.run_until_complete(pool.check())
        assert manager.shut_down == ["kernel-1", "kernel-3"] and pool.replaced == 2
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def test_reading_the_ledger_does_not_change_its_stamp_but_a_write_does(tmp_path):
    db = tmp_path / "ledger.duckdb"
    pipeline.seed_demo(db)
    before = ledger_stamp(db)
    projects = pipeline.list_projects(pipeline.Workspace(db), active_only=True)
    for project in projects:
        pipeline.project_history(project.name, pipeline.Workspace(db))
    assert ledger_stamp(db) == before
    pipeline.open_store(db).add_project("a new team")
    assert ledger_stamp(db) != before


def test_the_date_is_part_of_the_stamp(tmp_path):
    db = tmp_path / "missing.duckdb"
    day_one = ledger_stamp(db, today=lambda: dt.date(2026, 12, 8))
    assert day_one == ledger_stamp(db, today=lambda: dt.date(2026, 12, 8))
    assert day_one != ledger_stamp(db, today=lambda: dt.date(2026, 12, 9))


def test_the_forecast_page_is_preheated_by_default_and_can_be_turned_off(tmp_path: Path):
    for name in ("forecast.ipynb", "portfolio.ipynb"):
        (tmp_path / name).write_text("{}")
    server = plan_dashboard_server(tmp_path / "x.duckdb", tmp_path)
    assert server.preheated_pages == kernel_pool.DEFAULT_PREHEATED_PAGES == ("forecast.ipynb",)
    assert "--VoilaConfiguration.preheat_kernel=True" in build_voila_argv(server)
    off = plan_dashboard_server(tmp_path / "x.duckdb", tmp_path, preheated_pages=())
    assert off.preheated_pages == ()
    assert not any("preheat" in arg for arg in build_voila_argv(off))
    (tmp_path / "forecast.ipynb").unlink()  # a folder without that page pools nothing
    assert plan_dashboard_server(tmp_path / "x.duckdb", tmp_path).preheated_pages == ()
