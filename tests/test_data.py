"""The demo data shipped in flowray/data: present, well-formed, consistent with its README."""

from __future__ import annotations

import datetime as dt

import pytest

from flowray.core.throughput import derive_throughput
from flowray.data import demo_path, demo_series_names, load_demo_series
from flowray.exceptions import InputError
from flowray.importers import read_throughput_csv, read_work_items


def test_demo_series_are_104_consecutive_iso_weeks() -> None:
    names = demo_series_names()
    assert 3 <= len(names) <= 4
    for name in names:
        series = load_demo_series(name)
        assert len(series) == 104
        starts = [start for start, _ in series]
        assert all(start.weekday() == 0 for start in starts)
        assert all(b - a == dt.timedelta(days=7) for a, b in zip(starts, starts[1:], strict=False))
        values = [n for _, n in series]
        assert all(isinstance(n, int) and n >= 0 for n in values) and sum(values) > 0
        # the importer reads the same file to the same numbers
        assert read_throughput_csv(demo_path(name)) == [(d, float(n)) for d, n in series]


def test_demo_names_accept_file_stems_and_reject_unknown() -> None:
    name = demo_series_names()[0]
    assert load_demo_series(name) == load_demo_series(name.replace("/", "__"))
    with pytest.raises(InputError) as caught:
        load_demo_series("nobody/nothing")
    assert caught.value.field == "name"
    with pytest.raises(InputError) as caught:
        demo_path(name, kind="daily")
    assert caught.value.field == "kind"


def test_demo_items_reproduce_their_weekly_series() -> None:
    with_items = []
    for name in demo_series_names():
        try:
            path = demo_path(name, kind="items")
        except InputError:
            continue
        with_items.append(name)
        report = read_work_items(path)
        assert report.rejected == [] and report.open_items == []
        series = load_demo_series(name)
        weekly = derive_throughput(report.items, start=series[0][0], end=series[-1][0])
        assert weekly == series
    assert with_items, "at least one demo series ships its items"


def test_demo_readme_names_every_file() -> None:
    readme = (demo_path(demo_series_names()[0]).parent.parent / "README.md").read_text("utf-8")
    for name in demo_series_names():
        assert f"weekly/{name.replace('/', '__')}.csv" in readme
