"""`flowray dashboard` as a process: one shared Ray, offline pages, a clean stop on signals.

No browser needed: pages are fetched over HTTP, which is enough to start a
dashboard kernel (Voila runs the notebook while it streams the page).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from voila_harness import start_voila_server

# src="https://..." / href="//cdn..." in served HTML: a resource from outside the server.
EXTERNAL_RESOURCE = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)
PAGE = "portfolio.ipynb"  # reads the ledger only: the cheapest real dashboard

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="processes are found via /proc")


def fetch(url: str, timeout: float = 240) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200
        assert response.url == url, f"redirected to {response.url} (the login form?)"
        return response.read().decode()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def wait_dead(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive after waiting up to `timeout` seconds for all of them to end."""
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]


def serve_a_page(server) -> int:
    """Fetch the list and a dashboard (its kernel starts); both offline. Returns the kernel's pid."""
    before = set(server.kernel_processes().values())
    listing = fetch(server.address())
    page = fetch(server.url(PAGE))  # returns once every cell has run
    contents = json.loads(fetch(server.address("voila/api/contents")))  # the list's data
    assert {"forecast.ipynb", "portfolio.ipynb", "cluster.ipynb"} <= {
        i["name"] for i in contents["content"]
    }
    assert "jupyter-config-data" in page
    for html in (listing, page):
        assert not EXTERNAL_RESOURCE.search(html), EXTERNAL_RESOURCE.search(html)
    (kernel_pid,) = set(server.kernel_processes().values()) - before
    assert server.kernel_ray_processes() == {}
    return kernel_pid


def stop_and_check(server, sig: int) -> str:
    """Send `sig`; the server exits 0 and no kernel outlives it. Returns the server's log."""
    kernels = list(server.kernel_processes().values())
    assert kernels
    server.process.send_signal(sig)
    assert server.process.wait(timeout=120) == 0
    assert wait_dead(kernels, 10) == [], "a dashboard kernel outlived the server"
    log = server.log_text()
    assert f"flowray dashboards: {server.base_url}?token=" in log
    assert log.count(server.token) == 1  # only in the printed URL, never in the request log
    assert "Kernel shutdown" in log
    assert "flowray dashboards: stopped" in log
    return log


def test_server_joining_a_cluster_leaves_it_running_on_sigint(
    tmp_path, dashboard_db_path, voila_server, shared_ray_env
):
    shared = voila_server.ray_processes()
    server = start_voila_server(tmp_path, db_path=dashboard_db_path, env=shared_ray_env)
    try:
        assert server.ray_processes() == {}
        address = shared_ray_env["FLOWRAY_RAY_ADDRESS"]
        assert f"pages join the Ray cluster at {address}" in server.log_text()
        serve_a_page(server)
        log = stop_and_check(server, signal.SIGINT)
        assert "stopping Ray" not in log  # not its cluster to stop
        assert log.rstrip().endswith("flowray dashboards: stopped")
        assert all(alive(pid) for pid in shared), "the shared cluster was stopped"
    finally:
        server.stop(signal.SIGKILL)


def test_session_server_started_one_ray_and_stops_it_on_sigterm(voila_server):
    """Stops the session's server: conftest runs the test_session_server_* tests last.

    (Checking this on the session's server saves starting one more Ray: 10-20 s
    on an idle machine, minutes on a saturated one.)
    """
    ray = voila_server.ray_processes()  # more than one pair when a start-up attempt timed out
    assert {Path(cmd.split(" ", 1)[0]).name for cmd in ray.values()} == {"gcs_server", "raylet"}
    assert voila_server.ray_address()
    serve_a_page(voila_server)
    log = stop_and_check(voila_server, signal.SIGTERM)
    assert "flowray dashboards: stopping Ray" in log.split("flowray dashboards: stopped", 1)[1]
    assert wait_dead(list(ray), 60) == [], "Ray outlived the dashboard server"
