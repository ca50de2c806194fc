"""The demo database: real demo series, scored past forecasts, a live project per series."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from flowray.core.engine import Question
from flowray.core.forecast import run_local
from flowray.core.scenario import Scenario
from flowray.data import load_demo_series
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


def _completion_week(items: Sequence[int], start: int, backlog: int) -> int | None:
    """Index of the week in which the cumulative items from `start` reach `backlog`."""
    done = 0
    for index in range(start, len(items)):
        done += items[index]
        if done >= backlog:
            return index
    return None


def seed_demo(where: Where, *, seed: int = 2026) -> dict[str, Any]:
    """Fill an empty database with the bundled demo series: projects, history, forecasts, actuals.

    Past forecasts are made at real past origins from the history before them,
    and scored against the completion actually observed afterwards; the live
    forecasts of each project are re-made every four weeks of its run, so the
    portfolio shows how they moved.
    """
    workspace = workspace_of(where)
    store = workspace.store
    if store.list_projects():
        return {"seeded": False, "projects": len(store.list_projects())}
    made = 0
    for series, name, team_size, scope_weeks, target_weeks in DEMO_PROJECTS:
        weeks = load_demo_series(series)
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
            description=f"Demo: weekly merged pull requests of {series} (real data)",
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
            save_result(
                name,
                result,
                workspace,
                name=f"{name} as of {start.isoformat()}",
                data_window=(dates[as_of - 52], dates[as_of - 1]),
                data_periods=52,
            )
            made += 1
    return {"seeded": True, "projects": len(DEMO_PROJECTS), "forecasts": made}
