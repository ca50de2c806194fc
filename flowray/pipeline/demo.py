"""The demo database: real demo series, scored past forecasts, a live project per series, and
a stored portfolio of the demo projects ("Release plan") with one saved forecast.

The series are real, but the demo is built relative to the day it is seeded:
each history is re-dated so that its last week is last week, and targets, past
forecasts and actuals move with it. A demo seeded on an earlier day is out of
date; `demo_status` says so and `reset_demo` rebuilds it, keeping the old file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowray.core.engine import Question
from flowray.core.forecast import run_local
from flowray.core.scenario import Scenario
from flowray.data import last_full_week, load_demo_series
from flowray.exceptions import InputError
from flowray.pipeline.ledger import save_result
from flowray.pipeline.workspace import Where, workspace_of

DEMO_PROJECTS = (
    # (demo series, project name, team size, scope as weeks of recent mean throughput, weeks to target)
    ("pytest-dev/pytest", "Pytest Core", 5, 20, 18),
    ("fastapi/fastapi", "FastAPI Platform", 4, 16, 20),
    ("Homebrew/brew", "Homebrew Formulae", 8, 16, 14),
    ("mockito/mockito", "Mockito Release", 3, 24, 22),
)
DEMO_RUNS = 20_000
DEMO_PORTFOLIO = "Release plan"
"""The demo's stored portfolio: the demo projects as teams, eight features, a target ten weeks out."""


def demo_portfolio_definition(start: dt.date) -> dict[str, Any]:
    """The demo portfolio as its TOML file would hold it: known sizes, ranges, unknown sizes
    (drawn from past feature sizes) and one feature shared by two teams; at the level the cut
    line falls inside the list."""
    return {
        "start": start.isoformat(),
        "target": (start + dt.timedelta(weeks=10)).isoformat(),
        "period_days": 7,
        "level": 85.0,
        "feature_sizes": [10, 20, 35, 60, 120],
        "teams": [
            {"name": "pytest", "project": "Pytest Core"},
            {"name": "fastapi", "project": "FastAPI Platform"},
            {"name": "brew", "project": "Homebrew Formulae", "feature_wip": 2},
            {"name": "mockito", "project": "Mockito Release"},
        ],
        "features": [
            {"name": "Plugin API cleanup", "size": 30, "teams": ["pytest"]},
            {"name": "Async client", "size": [40, 60], "teams": ["fastapi"]},
            {"name": "Formula audit", "size": 150, "teams": ["brew"]},
            {"name": "Shared test runner", "size": {"pytest": 20, "fastapi": 30}},
            {"name": "Inline mocks by default", "size": [3, 6], "teams": ["mockito"]},
            {"name": "Bottle cache", "teams": ["brew"]},
            {"name": "Docs overhaul", "teams": ["fastapi"]},
            {"name": "Assertion rewrite v2", "size": 40, "teams": ["pytest"]},
        ],
    }


DEMO_DESCRIPTION_PREFIX = "Demo: "


def _completion_week(items: Sequence[int], start: int, backlog: int) -> int | None:
    """Index of the week in which the cumulative items from `start` reach `backlog`."""
    done = 0
    for index in range(start, len(items)):
        done += items[index]
        if done >= backlog:
            return index
    return None


def seed_demo(where: Where, *, seed: int = 2026, today: dt.date | None = None) -> dict[str, Any]:
    """Fill an empty database with the bundled demo series: projects, history, forecasts, actuals.

    Every series is re-dated so that its last week is the week before `today`'s
    (default: the real today). Past forecasts are made at past origins from the history before them,
    and scored against the completion actually observed afterwards; the live
    forecasts of each project are re-made every four weeks of its run, so the
    portfolio shows how they moved.
    """
    workspace = workspace_of(where)
    store = workspace.store
    if store.list_projects():
        return {"seeded": False, "projects": len(store.list_projects())}
    made = 0
    today = today or dt.date.today()
    for series, name, team_size, scope_weeks, target_weeks in DEMO_PROJECTS:
        weeks = load_demo_series(series, as_of=today)
        dates = [d for d, _ in weeks]
        items = [int(v) for _, v in weeks]
        n = len(items)
        run_start = n - 8  # the project started eight weeks before the data ends
        recent_mean = sum(items[run_start - 26 : run_start]) / 26
        backlog = max(10, round(recent_mean * scope_weeks))
        start_date = dates[run_start]
        target = start_date + dt.timedelta(weeks=target_weeks)
        store.add_project(
            name,
            description=f"{DEMO_DESCRIPTION_PREFIX}weekly merged pull requests of {series} "
            "(real data, re-dated to end last week)",
            team_size=team_size,
            start_date=start_date,
            target_date=target,
        )
        store.set_throughput(name, [(d, v) for d, v in zip(dates, items, strict=True)])
        # two past forecasts at real origins, scored against what happened next
        for origin in (n - 40, n - 26):
            history = items[origin - 52 : origin]
            observed = sum(items[origin : origin + 12])
            done_week = _completion_week(items, origin, observed)
            # observed is what the next 12 weeks did, so their cumulative count reaches it
            assert done_week is not None
            scenario = Scenario(throughput=history, backlog=observed, start=dates[origin])
            result = run_local(scenario, Question("when"), DEMO_RUNS, seed + origin)
            fid = save_result(
                name,
                result,
                workspace,
                name="Backtest origin (demo)",
                data_window=(dates[origin - 52], dates[origin - 1]),
                data_periods=52,
            )
            completed_on = dates[done_week] + dt.timedelta(days=6)
            store.add_actual(
                name, completed_on, observed, forecast_id=fid, notes="observed in the series"
            )
            made += 1
        # the live project, re-forecast every four weeks
        for as_of in (run_start, run_start + 4, n):
            remaining = backlog - sum(items[run_start:as_of])
            start = dates[as_of] if as_of < n else dates[-1] + dt.timedelta(days=7)
            scenario = Scenario(
                throughput=items[as_of - 52 : as_of],
                backlog=max(0, remaining),
                split_rate=(1.0, 1.2),
                start=start,
                deadline=target,
            )
            result = run_local(scenario, Question("when"), DEMO_RUNS, seed + as_of)
            live = save_result(
                name,
                result,
                workspace,
                name=f"{name} as of {start.isoformat()}",
                data_window=(dates[as_of - 52], dates[as_of - 1]),
                data_periods=52,
            )
            store.set_plan(name, live, how="api")  # the live forecast is the project's plan
            made += 1
    _seed_portfolio(workspace, seed)
    return {"seeded": True, "projects": len(DEMO_PROJECTS), "forecasts": made, "portfolios": 1}


def _seed_portfolio(workspace: Any, seed: int) -> None:
    """The stored demo portfolio and one saved forecast of it, starting the week after the data."""
    from flowray.importers.portfolio_file import parse_portfolio
    from flowray.jobs.portfolio import submit_portfolio
    from flowray.pipeline.portfolio import save_portfolio_forecast

    store = workspace.store
    last = store.get_throughput(DEMO_PROJECTS[0][1])[-1]
    start = last.period_start + dt.timedelta(days=last.period_days)
    portfolio = parse_portfolio(
        demo_portfolio_definition(start), history=lambda p: store.get_throughput(p)
    )
    result = submit_portfolio(workspace.engine, portfolio, DEMO_RUNS, seed).result()
    save_portfolio_forecast(
        DEMO_PORTFOLIO,
        portfolio,
        result,
        workspace,
        forecast_name=f"{DEMO_PORTFOLIO} as of {start.isoformat()}",
    )


@dataclass(frozen=True)
class DemoStatus:
    """What a demo database file holds, as `flowray demo` needs to know it."""

    state: str  # "missing", "empty", "current", "out of date", or "not a demo"
    last_week: dt.date | None = None  # the last week of the demo history, when there is one

    @property
    def needs_seeding(self) -> bool:
        return self.state in ("missing", "empty")


def demo_status(path: Path, *, today: dt.date | None = None) -> DemoStatus:
    """Is the file at `path` a current demo, an out-of-date one, or somebody's real ledger?

    Reads without creating anything: a missing file is "missing".
    """
    if not path.exists():
        return DemoStatus("missing")
    from flowray.store import Store

    with Store(path, create=False).reading() as ledger:
        projects = ledger.list_projects()
        demo_names = {name for _, name, *_ in DEMO_PROJECTS}
        if not projects:
            return DemoStatus("empty")
        if any(
            p.name not in demo_names
            or not (p.description or "").startswith(DEMO_DESCRIPTION_PREFIX)
            for p in projects
        ):
            return DemoStatus("not a demo")
        history = ledger.get_throughput(projects[0].name)
    last_week = history[-1].period_start if history else None
    expected = last_full_week(today or dt.date.today())
    if last_week is None or last_week < expected:
        return DemoStatus("out of date", last_week)
    return DemoStatus("current", last_week)


def reset_demo(path: Path, *, today: dt.date | None = None, seed: int = 2026) -> dict[str, Any]:
    """Rebuild the demo at `path` as of `today`; the old file is kept beside it, renamed.

    Only a demo database is ever reset: a file holding other projects is refused,
    so a mistyped `--db` cannot replace a real ledger.
    """
    status = demo_status(path, today=today)
    if status.state == "not a demo":
        raise InputError(
            "db",
            str(path),
            "holds projects that are not the demo's; flowray only resets a demo database",
        )
    kept: Path | None = None
    if path.exists():
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        kept = path.with_name(f"{path.stem}.before-reset-{stamp}{path.suffix}")
        path.replace(kept)
    fresh = path.with_name(f"{path.name}.seeding")  # renamed when complete: never half-seeded
    fresh.unlink(missing_ok=True)
    summary = seed_demo(fresh, seed=seed, today=today)
    fresh.replace(path)
    for sidecar in (".lock", ".gate"):
        path.with_name(fresh.name + sidecar).unlink(missing_ok=True)
    summary["kept"] = None if kept is None else str(kept)
    return summary
