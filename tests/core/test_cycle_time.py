"""Cycle time, percentiles, ageing and the forecast of one item in progress, against closed forms."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowray.core.cycle_time import (
    MIN_CONDITIONAL,
    analyse_cycle_time,
    band_of,
    cycle_days,
    cycle_percentiles,
    forecast_item,
    percentile_ranges,
)
from flowray.exceptions import InputError

TODAY = dt.date(2027, 3, 1)


class Item(NamedTuple):
    item_id: str
    started_on: dt.date | None
    done_on: dt.date | None


def finished(item_id: str, days: int, done: dt.date = TODAY) -> Item:
    """An item done on `done` whose cycle time is `days` (done - started + 1)."""
    return Item(item_id, done - dt.timedelta(days=days - 1), done)


def test_cycle_time_counts_both_ends():
    assert cycle_days(dt.date(2027, 1, 4), dt.date(2027, 1, 4)) == 1
    assert cycle_days("2027-01-04", "2027-01-10") == 7


def test_done_before_started_is_refused_by_name():
    with pytest.raises(InputError) as caught:
        cycle_days("2027-01-10", "2027-01-04", item_id="ABC-7")
    assert caught.value.field == "ABC-7 done_on"
    assert caught.value.value == "2027-01-04"
    assert "before started_on (2027-01-10)" in str(caught.value)


def test_items_of_1_to_20_days_give_the_inverted_cdf_percentiles():
    # smallest d with d/20 >= p: ceil(20 p)
    assert cycle_percentiles(list(range(1, 21))) == {50: 10, 70: 14, 85: 17, 95: 19}
    assert cycle_percentiles([5]) == {50: 5, 70: 5, 85: 5, 95: 5}


def test_percentile_ranges_are_the_order_statistic_interval():
    # n = 20, p = 0.5: 0.5 -+ 1.96 sqrt(0.25 / 20) = 0.281 .. 0.719, i.e. the 6th and 15th items
    assert percentile_ranges(list(range(1, 21)))[50] == (6, 15)
    assert percentile_ranges(list(range(1, 21)))[95] == (18, 20)
    assert percentile_ranges([]) == {}


def test_no_cycle_times_is_a_named_error():
    with pytest.raises(InputError, match="cycle times"):
        cycle_percentiles([])


def test_no_finished_item_is_a_named_error():
    items = [Item("A-1", TODAY - dt.timedelta(days=3), None), Item("A-2", None, TODAY)]
    with pytest.raises(InputError) as caught:
        analyse_cycle_time(items, TODAY)
    assert caught.value.field == "items"
    assert "none was finished" in caught.value.rule


def test_bad_today_is_named():
    with pytest.raises(InputError, match="today"):
        analyse_cycle_time([finished("A", 3)], "next week")


def test_band_is_the_highest_percentile_passed():
    percentiles = {50: 10, 70: 14, 85: 17, 95: 19}
    assert band_of(10, percentiles) is None  # on the median line, not past it
    assert band_of(11, percentiles) == 50
    assert band_of(18, percentiles) == 85
    assert band_of(40, percentiles) == 95


def test_ageing_of_items_in_progress():
    items = [finished(f"F-{d}", d) for d in range(1, 21)]
    items += [
        Item("OPEN-OLD", TODAY - dt.timedelta(days=17), None),  # age 18
        Item("OPEN-NEW", TODAY, None),  # age 1
    ]
    report = analyse_cycle_time(items, TODAY)
    assert [a.item_id for a in report.in_progress] == ["OPEN-OLD", "OPEN-NEW"]  # oldest first
    old, new = report.in_progress
    assert (old.age, old.band, old.older_than) == (18, 85, 17 / 20)
    assert old.band_words() == "older than 85% of finished items"
    assert (old.band_label(), new.band_label()) == ("past 85%", "below 50%")
    assert (new.age, new.band, new.older_than) == (1, None, 0.0)


def test_conditional_forecast_from_known_data():
    # finished items of 1..20 days; an item of age 11 rests on the 10 that took 11..20 days
    started = TODAY - dt.timedelta(days=10)
    forecast = forecast_item(11, started, list(range(1, 21)))
    assert forecast.rests_on == 10
    # inverted CDF over 11..20: smallest d with (d - 10)/10 >= p
    assert forecast.cycle_days == {50: 15, 70: 17, 85: 19, 95: 20}
    assert forecast.date(85) == started + dt.timedelta(days=18)
    low, high = forecast.date_range(85)
    assert low <= forecast.date(85) <= high
    assert forecast.reliable and forecast.warning is None
    assert "85% likely done by" in forecast.headline()


def test_too_few_older_items_says_so_instead_of_a_date():
    forecast = forecast_item(12, TODAY - dt.timedelta(days=11), list(range(1, 21)))
    assert forecast.rests_on == 9 < MIN_CONDITIONAL
    assert forecast.dates == {} and forecast.date(85) is None
    assert forecast.warning is not None and "cannot be said reliably" in forecast.warning
    assert "only 9 finished items took 12 days or more" in forecast.warning


def test_reopened_and_undated_items_are_left_out_by_name():
    items = [finished(f"F-{d}", d) for d in range(1, 11)]
    items += [
        Item("REOPENED", TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=5)),
        Item("NO-START", None, TODAY),
        Item("BACKLOG", None, None),
        Item("LATER", TODAY + dt.timedelta(days=3), None),
    ]
    report = analyse_cycle_time(items, TODAY)
    assert len(report.finished) == 10
    assert report.left_out_counts() == {
        "done_before_start": 1,
        "no_start_date": 1,
        "not_started": 1,
        "starts_later": 1,
    }
    assert {o.item_id for o in report.left_out} == {"REOPENED", "NO-START", "BACKLOG", "LATER"}
    assert any("2 done items left out" in w for w in report.warnings)


def test_the_report_is_read_as_of_today():
    """An item done after the day of the report was still in progress on that day."""
    started = TODAY - dt.timedelta(days=4)
    items = [finished(f"F-{d}", d) for d in range(1, 11)]
    items.append(Item("LATE", started, TODAY + dt.timedelta(days=2)))
    report = analyse_cycle_time(items, TODAY)
    assert [(a.item_id, a.age) for a in report.in_progress] == [("LATE", 5)]
    assert report.percentiles == cycle_percentiles(list(range(1, 11)))


def test_few_finished_items_warn_that_percentiles_are_rough():
    report = analyse_cycle_time([finished("A", 3), finished("B", 5)], TODAY)
    assert report.percentiles[85] == 5
    assert any("only 2 finished items" in w for w in report.warnings)


def test_scatter_is_one_point_per_finished_item_by_done_date():
    items = [finished("B", 4, TODAY), finished("A", 2, TODAY - dt.timedelta(days=3))]
    scatter = analyse_cycle_time(items, TODAY).scatter()
    assert scatter == {
        "done_on": [TODAY - dt.timedelta(days=3), TODAY],
        "cycle_days": [2, 4],
        "item_id": ["A", "B"],
    }


cycle_lists = st.lists(st.integers(1, 120), min_size=1, max_size=80)


@settings(max_examples=200, deadline=None)
@given(days=cycle_lists, start_offset=st.integers(0, 200), more=st.integers(0, 60))
def test_conditional_85_never_precedes_today_and_never_falls_as_the_item_ages(
    days, start_offset, more
):
    started = TODAY - dt.timedelta(days=start_offset)
    age = start_offset + 1  # today - started + 1
    now = forecast_item(age, started, days, minimum=1)
    later = forecast_item(age + more, started, days, minimum=1)  # the same item, `more` days on
    for forecast, today in ((now, TODAY), (later, TODAY + dt.timedelta(days=more))):
        if forecast.reliable:
            assert forecast.date(85) >= today
            assert forecast.date(50) <= forecast.date(85) <= forecast.date(95)
    if now.reliable and later.reliable:
        assert later.date(85) >= now.date(85)
    assert later.rests_on <= now.rests_on


@settings(max_examples=200, deadline=None)
@given(days=cycle_lists, level=st.sampled_from([50, 70, 85, 95]))
def test_percentile_holds_literally(days, level):
    value = cycle_percentiles(days, [level])[level]
    assert sum(d <= value for d in days) >= level / 100 * len(days)
    assert sum(d <= value - 1 for d in days) < level / 100 * len(days)
    low, high = percentile_ranges(days, [level])[level]
    assert low <= value <= high
