"""`flowray dashboard` as a process: serves pages without CDN links, stops cleanly on signals.

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


def fetch(url: str, timeout: float = 240) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.status == 200
        return response.read().decode()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="kernel processes are found via /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_server_serves_offline_pages_and_stops_with_its_kernels(tmp_path, sig):
    server = start_voila_server(tmp_path)
    try:
        listing = fetch(server.base_url)
        page = fetch(server.url("_smoke.ipynb"))  # returns once every cell has run
        contents = json.loads(fetch(f"{server.base_url}voila/api/contents"))  # the list's data
        assert "_smoke.ipynb" in {item["name"] for item in contents["content"]}
        assert "jupyter-config-data" in page
        for html in (listing, page):
            assert not EXTERNAL_RESOURCE.search(html), EXTERNAL_RESOURCE.search(html)

        kernels = server.kernel_processes()
        assert len(kernels) == 1, kernels
        (kernel_pid,) = kernels.values()

        server.process.send_signal(sig)
        assert server.process.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while alive(kernel_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(kernel_pid), "the dashboard kernel outlived the server"
        log = server.log_text()
        assert f"flowray dashboards: {server.base_url}" in log
        assert "Kernel shutdown" in log
        assert log.rstrip().endswith("flowray dashboards: stopped")
    finally:
        server.stop(signal.SIGKILL)
