"""Portfolio files (TOML): every key read as documented, stored histories, and named errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from flowray.core.portfolio import Blackout, Estimate
from flowray.exceptions import InputError
from flowray.importers.portfolio_file import HistoryPeriod, read_portfolio_file

EXAMPLE = """
start = "2026-01-05"
target = "2026-03-30"
period_days = 7
level = 80
feature_sizes = [8, 13, 20, 34]
blackouts = [["2026-12-24", "2027-01-01"]]

[[teams]]
name = "web"
project = "web"
feature_wip = 2
blackouts = [["2026-02-16", "2026-02-20"]]

[[teams]]
name = "api"
estimate = {low = 2, likely = 4, high = 7}

[[teams]]
name = "ops"
throughput = [3, 5, 0, 4]

[[features]]
name = "Login"
size = 12
done = 3
teams = ["web"]

[[features]]
name = "Search"
size = {web = 8, api = [2, 6]}

[[features]]
name = "Payments"
teams = ["api", "ops"]

[[features]]
name = "Reports"
size = [10, 20]
teams = ["ops"]
"""

WEB_HISTORY = [
    HistoryPeriod(dt.date(2025, 12, 1) + dt.timedelta(weeks=i), items, 7)
    for i, items in enumerate([4, 6, 0, 5])
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "portfolio.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_documented_key_is_read(tmp_path: Path) -> None:
    asked: list[str] = []

    def history(name: str) -> list[HistoryPeriod]:
        asked.append(name)
        return WEB_HISTORY

    p = read_portfolio_file(write(tmp_path, EXAMPLE), history=history)
    assert asked == ["web"]
    assert (p.start, p.target, p.period_days, p.level) == (
        dt.date(2026, 1, 5),
        dt.date(2026, 3, 30),
        7,
        80.0,
    )
    assert p.feature_sizes == (8, 13, 20, 34)
    assert p.blackouts == (Blackout(dt.date(2026, 12, 24), dt.date(2027, 1, 1)),)
    web, api, ops = p.teams
    assert web.throughput == (4, 6, 0, 5) and web.feature_wip == 2
    assert web.history_starts == tuple(h.period_start for h in WEB_HISTORY)
    assert web.blackouts == (Blackout(dt.date(2026, 2, 16), dt.date(2026, 2, 20)),)
    assert api.estimate == Estimate(2, 7, 4) and api.throughput is None
    assert ops.throughput == (3, 5, 0, 4)
    login, search, payments, reports = p.features
    assert (login.size, login.done, login.teams) == (12, 3, ("web",))
    assert search.size == {"web": 8, "api": (2, 6)} and search.teams == ("web", "api")
    assert payments.size is None and payments.teams == ("api", "ops")
    assert reports.size == (10, 20)


def test_command_line_values_override_the_file(tmp_path: Path) -> None:
    p = read_portfolio_file(
        write(tmp_path, EXAMPLE),
        history=lambda name: WEB_HISTORY,
        target=dt.date(2026, 4, 27),
        level=None,
    )
    assert p.target == dt.date(2026, 4, 27) and p.level == 80.0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (('teams = ["web"]', 'teams = ["mobile"]'), "features[Login].teams"),
        (('size = 12\ndone = 3\nteams = ["web"]', "size = 12"), "features[Login].teams"),
        (("size = 12", "size = -4"), "features[Login].size"),
        (("size = [10, 20]", "size = [20, 10]"), "features[Reports].size"),
        (("feature_wip = 2", "feature_wip = 0"), "teams[web].feature_wip"),
        (
            (
                'blackouts = [["2026-02-16", "2026-02-20"]]',
                'blackouts = [["2026-02-20", "2026-02-16"]]',
            ),
            "teams[web].blackouts[0]",
        ),
        (('target = "2026-03-30"', 'target = "2025-03-30"'), "target"),
        (('start = "2026-01-05"', 'start = "2026-13-05"'), "start"),
        (("level = 80", "level = 0"), "level"),
        (("likely = 4", "likely = 8"), "teams[api].estimate.likely"),
        (('name = "ops"\n', 'name = "ops"\nspeed = 3\n'), "teams[ops].speed"),
        (
            ('[[features]]\nname = "Login"', '[[features]]\nname = "Login"\nowner = "x"'),
            "features[Login].owner",
        ),
        (("period_days = 7", "period_days = 7\nseed = 3"), "file.seed"),
        (("throughput = [3, 5, 0, 4]", 'throughput = [3, "x", 0, 4]'), "teams[ops].throughput[1]"),
        (
            ("throughput = [3, 5, 0, 4]", "throughput = [3, 5]\nestimate = {low = 1, high = 2}"),
            "teams[ops].estimate",
        ),
    ],
)
def test_bad_keys_are_refused_by_name(tmp_path: Path, change: tuple[str, str], field: str) -> None:
    old, new = change
    assert old in EXAMPLE
    with pytest.raises(InputError) as caught:
        read_portfolio_file(
            write(tmp_path, EXAMPLE.replace(old, new, 1)), history=lambda n: WEB_HISTORY
        )
    assert caught.value.field == field


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not valid TOML") as caught:
        read_portfolio_file(write(tmp_path, "start = 2026-01-05\n[[teams]\nname = web"))
    assert caught.value.field == "file"
    with pytest.raises(InputError) as missing:
        read_portfolio_file(tmp_path / "nothing.toml")
    assert missing.value.field == "file"


def test_a_stored_project_needs_a_ledger_and_matching_periods(tmp_path: Path) -> None:
    path = write(tmp_path, EXAMPLE)
    with pytest.raises(InputError, match="--db") as no_ledger:
        read_portfolio_file(path)
    assert no_ledger.value.field == "teams[web].project"
    fortnights = [HistoryPeriod(h.period_start, h.items, 14) for h in WEB_HISTORY]
    with pytest.raises(InputError, match="14-day") as other_periods:
        read_portfolio_file(path, history=lambda name: fortnights)
    assert other_periods.value.field == "teams[web].project"
    with pytest.raises(InputError, match="no stored") as empty:
        read_portfolio_file(path, history=lambda name: [])
    assert empty.value.field == "teams[web].project"
