"""The backtest panel's inputs: a bad number is named beside its field, Run stays off, old scores go.

The run here uses the serial engine (the same job as on Ray, in this process),
so no cluster is needed.
"""

from __future__ import annotations

import html

import pytest
from widget_helpers import press_and_wait

from flowray import pipeline
from flowray.widgets import backtest_app
from flowray.widgets.backtest import BacktestPanel
from flowray.widgets.base import field_label

BAD_VALUES = ("-5", "abc", "nan", "1e12")


@pytest.mark.parametrize("name", ["horizon", "step", "runs", "seed"])
def test_a_bad_number_is_named_beside_its_field_and_keeps_run_off(name, tmp_path):
    panel = backtest_app(db_path=tmp_path / "none.duckdb")
    box = getattr(panel, name)
    good = box.value
    label = field_label(box.field)
    assert not panel.run_button.disabled
    for bad in BAD_VALUES:
        if name == "seed" and bad == "1e12":
            continue  # 10**12 is a valid repeatable-run number (up to 2**63 - 1)
        box.value = bad
        message = html.unescape(box.message.value)
        assert f"Please check {label}: must be" in message and f"(you entered {bad})" in message
        assert panel.run_button.disabled and label in panel.problems_text.value
        panel.run_button.click()
        assert f"Please check {label}" in html.unescape(panel.status.value)
        assert panel.job is None and not panel.busy
    box.value = good
    assert not panel.run_button.disabled and panel.problems_text.value == ""


def test_the_seed_is_called_a_repeatable_run_number(tmp_path):
    panel = backtest_app(db_path=tmp_path / "none.duckdb")
    assert panel.seed.description == "Repeatable-run number" and "seed" in panel.seed.tooltip


def test_changing_an_input_takes_the_old_scores_off_the_page(tmp_path, monkeypatch):
    monkeypatch.setattr(
        BacktestPanel,
        "_submit",
        staticmethod(
            lambda series, options: pipeline.submit_backtest(series, **options, engine="serial")
        ),
    )
    panel = backtest_app(db_path=tmp_path / "none.duckdb")
    panel.series.value = (("demo", "mockito/mockito"),)
    panel.calibrated.value = False
    panel.runs.value, panel.step.value = 100, 8
    press_and_wait(panel, panel.run_button)
    assert panel.result is not None, panel.status.value
    assert "85% answer was met" in panel.headline.value and panel.coverage.value

    panel.step.value = "9"

    assert panel.result is None and panel.reports == {}
    assert "Inputs changed" in panel.headline.value
    assert panel.coverage.value == "" and panel.per_series.value == ""
    assert panel.pit.widget.layout.display == "none"
