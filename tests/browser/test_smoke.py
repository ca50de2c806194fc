"""The Voila stack in a real browser, on the temporary dashboards/_smoke.ipynb.

Proves what the real dashboards rely on: widgets render, a Python callback
updates a label and a plotly FigureWidget live, asyncio tasks push updates,
FLOWRAY_DB reaches the kernel, nothing is fetched from outside 127.0.0.1, and
kernels of closed pages are stopped (by Voila's unload beacon, else culled).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

SMOKE = "_smoke.ipynb"
PLOT = ".js-plotly-plot"

pytestmark = pytest.mark.browser


def plot_bars(page: Any) -> list[float]:
    """The y values plotly.js currently draws (read from the graph div, not from Python)."""
    return page.evaluate(f"Array.from(document.querySelector('{PLOT}').data[0].y)")


def kernel_id_of(page: Any) -> str:
    """The id of the kernel Voila started for this page view."""
    return page.evaluate(
        "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def kernel_gone(server: Any, kernel_id: str) -> bool:
    """Both the process has exited and Voila has forgotten the kernel (in that order)."""
    return kernel_id not in server.kernel_processes() and server.kernel_model(kernel_id) is None


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.5)


def test_smoke_dashboard_updates_label_and_chart(open_dashboard, screenshot, voila_server):
    page = open_dashboard(SMOKE, selector=PLOT)

    assert f"Database: {voila_server.db_path.resolve()}" in page.inner_text("body")
    assert plot_bars(page) == [3, 5, 4]
    # plotly marks the div before it draws; interact once the first drawing is done.
    page.locator(f"{PLOT} .bars .point").nth(2).wait_for(timeout=60_000)

    page.get_by_role("button", name="Add a week").click()
    page.get_by_text("Weeks: 4").wait_for(timeout=30_000)  # Python's figure has 4 bars
    page.wait_for_function(
        f"document.querySelector('{PLOT}').data[0].y.length === 4", timeout=30_000
    )
    assert page.locator(f"{PLOT} .bars .point").count() == 4  # drawn, not just in the data

    page.get_by_role("button", name="Run 5 steps").click()
    page.get_by_text("Steps done: 5").wait_for(timeout=30_000)
    page.wait_for_function(f"document.querySelector('{PLOT}').data[0].y[3] === 5", timeout=30_000)
    assert plot_bars(page) == [3, 5, 4, 5]

    shot = screenshot("after-clicks")
    assert png_size(shot) == (1280, 800)


def test_dashboard_fetches_nothing_from_outside_and_leaving_stops_its_kernel(
    open_dashboard, page_log, voila_server
):
    page = open_dashboard(SMOKE, selector=PLOT)
    kernel_id = kernel_id_of(page)
    assert kernel_id in voila_server.kernel_processes()
    page.get_by_role("button", name="Add a week").click()
    page.get_by_text("Weeks: 4").wait_for(timeout=30_000)

    # Leaving fires beforeunload, whose beacon asks Voila to stop the kernel.
    page.goto(voila_server.base_url)  # the dashboard list: its requests count too
    page.get_by_text(SMOKE).wait_for(timeout=60_000)

    server = urlsplit(voila_server.base_url).netloc
    assert any(SMOKE in url for url in page_log.requests)
    assert any(url.startswith("ws://") for url in page_log.requests), "no kernel websocket seen"
    outside = sorted(
        {
            url
            for url in page_log.requests
            if urlsplit(url).scheme not in ("blob", "data") and urlsplit(url).netloc != server
        }
    )
    assert outside == [], f"requests to other hosts: {outside}"

    wait_until(
        lambda: kernel_gone(voila_server, kernel_id),
        timeout=30,
        what=f"kernel {kernel_id} to stop after leaving the page",
    )
    assert f"({kernel_id}) with 0 connections due to" not in voila_server.log_text()  # not culled


def test_kernel_of_a_vanished_page_is_culled(open_dashboard, voila_server_factory):
    # Short, but longer than the gaps with no kernel activity and no browser connected
    # while a page loads (kernel start-up; page JavaScript loading after the cells ran)
    # on a loaded machine: a shorter timeout culls the kernel before the page connects.
    cull_after, interval = 20, 2
    server = voila_server_factory(cull_idle_timeout=cull_after, cull_interval=interval)
    page = open_dashboard(SMOKE, server=server, selector=PLOT)
    kernel_id = kernel_id_of(page)
    assert kernel_id in server.kernel_processes()

    # While the page is open its kernel stays, however long it is idle.
    time.sleep(cull_after + 3 * interval)
    model = server.kernel_model(kernel_id)
    assert model is not None and model["connections"] >= 1
    assert kernel_id in server.kernel_processes()

    # Closing without beforeunload is a crashed tab or a lost laptop: no beacon.
    page.close(run_before_unload=False)

    wait_until(
        lambda: kernel_gone(server, kernel_id),
        timeout=cull_after + 30,
        what=f"kernel {kernel_id} to be culled",
    )
    assert f"({kernel_id}) with 0 connections due to" in server.log_text()
