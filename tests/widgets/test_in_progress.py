"""The forecast page's folded "Items in progress": shown for a project with dated items, not for pasted throughput."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pytest
from widget_helpers import PROJECT

from flowray.importers import WorkItem
from flowray.store import Store
from flowray.widgets import forecast_app
from flowray.widgets.charts.cycle_time import AGE_COLOURS
from flowray.widgets.in_progress import SECTION_TITLE

TODAY = dt.date(2027, 3, 1)
ITEMS_PROJECT = "Team A"


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


@pytest.fixture
def items_db(project_db: Path) -> Path:
    """The widget tests' project (no work items) and one whose finished items took 1..20 days."""
    items = [WorkItem(f"F-{d}", day(-d), day(-2 * d + 1)) for d in range(1, 21)]
    items += [WorkItem("OPEN-OLD", None, day(-17)), WorkItem("OPEN-NEW", None, day(-2))]
    Store(project_db).import_work_items(ITEMS_PROJECT, items, today=TODAY)
    return project_db


def shown_text(value: str) -> str:
    return html.unescape(value)


def test_a_project_with_dated_items_gets_the_folded_section(items_db: Path):
    panel = forecast_app(db_path=items_db, today=TODAY)
    panel.project.value = ITEMS_PROJECT
    section = panel.in_progress
    assert section.visible and section.widget.selected_index is None  # there, folded
    assert section.widget.get_title(0) == (
        f"{SECTION_TITLE}: 2, 1 older than 85% of finished items"
    )  # the one line a stakeholder reads without unfolding
    headline = shown_text(section.headline.value)
    assert "Half of the finished items took 10 days or less, and 85% took 17 days" in headline
    assert "1 of the 2 items in progress is already older than 85% of finished items: OPEN-OLD" in (
        headline
    )
    table = shown_text(section.table.value)
    assert table.index("OPEN-OLD") < table.index("OPEN-NEW")
    assert "too few finished items this old to say (3)" in table
    assert "(from 18 items)" in table
    scatter = section.scatter.shown()
    assert sorted(scatter["data"][0]["y"]) == list(range(1, 21))
    assert [s["y0"] for s in scatter["layout"]["shapes"]] == [10, 14, 17, 19]
    ageing = section.ageing.shown()
    assert ageing["data"][0]["x"] == ["OPEN-OLD", "OPEN-NEW"]
    assert ageing["data"][0]["y"] == [18, 3]
    # red past the 85th percentile, green below the median
    assert ageing["data"][0]["marker"]["color"] == [AGE_COLOURS[85], AGE_COLOURS[None]]


def test_pasted_throughput_shows_nothing(items_db: Path):
    panel = forecast_app(db_path=items_db, today=TODAY)
    panel.project.value = ITEMS_PROJECT
    assert panel.in_progress.visible
    panel.source.value = "paste"
    assert not panel.in_progress.visible and panel.in_progress.report is None
    panel.source.value = "project"
    assert panel.in_progress.visible and panel.in_progress.report is not None


def test_a_project_without_work_items_shows_nothing(items_db: Path):
    panel = forecast_app(db_path=items_db, today=TODAY)
    panel.project.value = ITEMS_PROJECT
    assert panel.in_progress.visible
    panel.project.value = PROJECT  # its history was entered as throughput
    assert not panel.in_progress.visible and panel.in_progress.report is None
    assert panel.last_error is None  # the forecast itself is not held back


def test_items_without_start_dates_say_how_to_add_them(items_db: Path):
    Store(items_db).add_work_items(PROJECT, [WorkItem("DONE-1", day(-3))])
    panel = forecast_app(db_path=items_db, today=TODAY)
    panel.project.value = PROJECT
    section = panel.in_progress
    assert section.visible and section.report is None
    assert section.widget.get_title(0) == f"{SECTION_TITLE}: no cycle times yet"
    words = shown_text(section.headline.value)
    assert f"No cycle times for {PROJECT} yet" in words and "flowray import items" in words
    assert section.chart_box.layout.display == "none"
    assert panel.last_error is None


def test_reload_reads_items_imported_since_the_page_opened(items_db: Path):
    panel = forecast_app(db_path=items_db, today=TODAY)
    panel.project.value = ITEMS_PROJECT
    assert len(panel.in_progress.report.in_progress) == 2
    Store(items_db).add_work_items(ITEMS_PROJECT, [WorkItem("OPEN-3", None, day(-1))])
    panel.reload_button.click()
    assert [a.item_id for a in panel.in_progress.report.in_progress][-1] == "OPEN-3"
