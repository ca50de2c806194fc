"""Fixtures of the headless widget tests: small databases and a way to drive the asyncio poll.

Panels run their background work as asyncio tasks of the running loop (the
kernel's, in Jupyter and Voila). A test does the same: it presses a button
inside a coroutine run by `asyncio.run`, then awaits the panel's task.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib, which puts no test directory on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from widget_helpers import PROJECT, START  # noqa: E402

from flowray.data import load_demo_series  # noqa: E402


@pytest.fixture
def project_db(tmp_path: Path) -> Path:
    """A database with one active project: 52 weeks of real throughput, team of 3, a target date."""
    from flowray.store import Store

    path = tmp_path / "widgets.duckdb"
    store = Store(path)
    weeks = load_demo_series("pytest-dev/pytest")[-52:]
    store.add_project(
        PROJECT, team_size=3, start_date=START, target_date=START + dt.timedelta(weeks=20)
    )
    store.set_throughput(PROJECT, weeks)
    return path


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory, demo_template: Path) -> Path:
    """The demo ledger of `flowray demo`: four projects, scored past forecasts, live forecasts.

    A copy of the session's one seeded template (tests/conftest.py), shared by the panel tests.
    """
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    shutil.copyfile(demo_template, path)
    return path
