"""Browser test fixtures: Debian's chromium, driven by Playwright, against `flowray dashboard`.

Playwright cannot download its own browsers on a closed network, so tests use
the system chromium through `executable_path` (scripts/install_chromium.sh
installs it; it is tried once per session when chromium is missing). Without
chromium every browser test is skipped with the reason.

Typical use::

    @pytest.mark.browser
    def test_forecast(open_dashboard, screenshot):
        page = open_dashboard("forecast.ipynb")   # waits until the widgets render
        page.get_by_role("button", name="Run forecast").click()
        ...
        screenshot("after-run")                   # artifacts/screenshots/<test>-after-run.png

Fixtures: `chromium_path`, `browser` (session), `voila_server` (session: one
`flowray dashboard` on a copy of the demo ledger, with the one local Ray it
starts and shares with every page), `shared_ray_env` (variables that make
another server join that Ray instead of starting its own),
`voila_server_factory` (session; start servers with other options),
`page_log` + `page` (function; 1280x800, every request recorded),
`open_dashboard`, `screenshot`. A failing test that used `page` leaves
artifacts/screenshots/FAILED-<test>.png behind.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# The suite runs with --import-mode=importlib, which puts no test directory on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from voila_harness import REPO_ROOT, VoilaServer, start_voila_server  # noqa: E402

# Without the background-networking flags Chromium keeps opening connections
# that the closed network refuses; --disable-quic keeps it on plain TCP.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install_chromium.sh"
SKIP_BROWSER_VARIABLE = "FLOWRAY_SKIP_BROWSER"  # set to 1: skip the browser tests, install nothing
DASHBOARD_TIMEOUT_MS = 240_000  # kernel start + imports on a busy 2-core machine

_CALL_REPORT = pytest.StashKey[pytest.TestReport]()

# True once Voila has shown every cell and the widgets have replaced their placeholders.
_WIDGETS_READY_JS = """
(selector) => {
  if (document.getElementById('loading')) return false;  // Voila still running cells
  const cells = document.getElementById('rendered_cells');
  if (!cells || cells.style.display === 'none') return false;
  if (/Loading widget|Executing \\d+ of \\d+/.test(document.body.innerText)) return false;
  return document.querySelector(selector) !== null;
}
"""


def find_chromium() -> str | None:
    """Path of a chromium binary: $CHROMIUM_PATH, /usr/bin/chromium, or on PATH."""
    import os

    for candidate in (
        os.environ.get("CHROMIUM_PATH"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests that stop the session's server (test_session_server_*) after every other
    browser test, and before the rest of the suite, which then runs without that server."""
    here = Path(__file__).resolve().parent
    browser = [i for i, item in enumerate(items) if here in Path(str(item.path)).parents]
    if not browser:
        return
    last = browser[-1]
    stoppers = [items[i] for i in browser if items[i].name.startswith("test_session_server_")]
    rest = [item for item in items[: last + 1] if item not in stoppers]
    items[:] = rest + stoppers + items[last + 1 :]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Chromium's path; installs it once with apt when possible, else skips with the reason."""
    if os.environ.get(SKIP_BROWSER_VARIABLE) == "1":
        pytest.skip(f"{SKIP_BROWSER_VARIABLE}=1: browser tests not run, chromium not installed")
    path = find_chromium()
    if path is None and INSTALL_SCRIPT.exists():
        result = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900
        )
        path = find_chromium()
        if path is None:
            pytest.skip(
                "chromium is not installed and could not be installed: "
                + " ".join((result.stdout + result.stderr).split())[-400:]
            )
    if path is None:
        pytest.skip("chromium is not installed; run scripts/install_chromium.sh (root + apt)")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    """One headless Chromium for the session (Playwright gives it a fresh temp profile)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed (uv sync --extra dev)"
    )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def voila_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., VoilaServer]]:
    """Start extra servers (e.g. short cull timeouts); all are stopped at session end.

    Keyword arguments are those of `voila_harness.start_voila_server`
    (dashboards_dir, db_path, cull_idle_timeout, cull_interval, extra_args, env).
    """
    servers: list[VoilaServer] = []

    def start(**options: Any) -> VoilaServer:
        server = start_voila_server(tmp_path_factory.mktemp("voila"), **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def dashboard_db_path(tmp_path_factory: pytest.TempPathFactory, demo_template: Path) -> Path:
    """FLOWRAY_DB of `voila_server`: a private copy of the demo ledger (pages save into it)."""
    template = demo_template  # the session's one seeded demo ledger (tests/conftest.py)
    path = tmp_path_factory.mktemp("ledger") / "flowray.duckdb"
    shutil.copyfile(template, path)
    return path


@pytest.fixture(scope="session")
def voila_server(
    voila_server_factory: Callable[..., VoilaServer], dashboard_db_path: Path
) -> VoilaServer:
    """`flowray dashboard` on a free port, on the demo ledger, shared by the session.

    It starts one local Ray in its own process (unless FLOWRAY_RAY_ADDRESS is
    set) and every page's kernel joins it.
    """
    started = time.monotonic()
    server = voila_server_factory(db_path=dashboard_db_path)
    print(f"voila_server ready in {time.monotonic() - started:.0f} s (Ray {server.ray_address()})")
    return server


@pytest.fixture(scope="session")
def shared_ray_env(voila_server: VoilaServer) -> dict[str, str]:
    """Environment that makes another `flowray dashboard` join `voila_server`'s Ray."""
    address = voila_server.ray_address()
    assert address, f"the server printed no Ray address:\n{voila_server.log_text()}"
    return {"FLOWRAY_RAY_ADDRESS": address}


@dataclass
class PageLog:
    """What the page did: every request and websocket URL, console and uncaught errors."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Any, page_log: PageLog, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh 1280x800 browser context and page; recorded into `page_log`."""
    context = browser.new_context(viewport=VIEWPORT)
    context.on("request", lambda req: page_log.requests.append(req.url))
    new_page = context.new_page()
    new_page.on(
        "console",
        lambda msg: page_log.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    new_page.on("pageerror", lambda exc: page_log.page_errors.append(str(exc)))
    new_page.on("websocket", lambda ws: page_log.requests.append(ws.url))
    yield new_page
    report = request.node.stash.get(_CALL_REPORT, None)
    if report is not None and report.failed and not new_page.is_closed():
        try:
            save_screenshot(new_page, f"FAILED-{request.node.name}")
        except Exception:  # a failed screenshot must not hide the real failure
            pass
    context.close()


def wait_for_widgets(
    page: Any, selector: str = ".jupyter-widgets", timeout_ms: int = DASHBOARD_TIMEOUT_MS
) -> None:
    """Wait until Voila has run every cell and the widgets (not placeholders) are on screen.

    Fails at once with the page text when a cell raised: Voila then shows a
    short error instead of the dashboard, and waiting would only time out.
    """
    step_ms = 500
    waited_ms = 0
    while not page.evaluate(_WIDGETS_READY_JS, selector):
        text = page.evaluate("document.body ? document.body.innerText : ''")
        if re.search(r"There was an error when executing cell|Traceback \(most recent", text):
            raise AssertionError(f"the dashboard failed to run:\n{text[:2000]}")
        if waited_ms >= timeout_ms:
            raise AssertionError(
                f"widgets ({selector}) did not render within {timeout_ms / 1000:.0f} s; "
                f"the page shows:\n{text[:2000]}"
            )
        page.wait_for_timeout(step_ms)
        waited_ms += step_ms


@pytest.fixture
def open_dashboard(page: Any, voila_server: VoilaServer) -> Callable[..., Any]:
    """`open_dashboard("x.ipynb", server=None, selector=...)` -> the page, widgets rendered.

    `server=None` is `voila_server`; pass another server to use it instead.
    """

    def open_(
        dashboard: str,
        *,
        server: VoilaServer | None = None,
        selector: str = ".jupyter-widgets",
        timeout_ms: int = DASHBOARD_TIMEOUT_MS,
    ) -> Any:
        target = server or voila_server
        page.goto(target.url(dashboard), timeout=timeout_ms)
        wait_for_widgets(page, selector=selector, timeout_ms=timeout_ms)
        return page

    return open_


def save_screenshot(page: Any, name: str, full_page: bool = False) -> Path:
    """Write artifacts/screenshots/<name>.png (the directory is git-ignored)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = SCREENSHOT_DIR / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def screenshot(page: Any, request: pytest.FixtureRequest) -> Callable[..., Path]:
    """`screenshot("label")` saves the page as artifacts/screenshots/<test>-<label>.png."""

    def take(label: str = "", full_page: bool = False) -> Path:
        name = request.node.name + (f"-{label}" if label else "")
        return save_screenshot(page, name, full_page=full_page)

    return take


RUN_TIMEOUT_MS = 300_000  # a run of the pages' default size, on a loaded 2-core machine


def long_date(day: dt.date) -> str:
    """'9 February 2026', as the pages write dates (written out here, not imported)."""
    return f"{day.day} {day:%B %Y}"


def body_text(page: Any) -> str:
    return page.evaluate("document.body.innerText")


def wait_for_text(page: Any, pattern: str, timeout_ms: int = RUN_TIMEOUT_MS) -> re.Match[str]:
    """Wait until the page text matches `pattern`; fail early, with the page text, on a traceback."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        text = body_text(page)
        match = re.search(pattern, text)
        if match:
            return match
        assert "Traceback" not in text, f"a traceback on the page:\n{text[:3000]}"
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{pattern!r} did not appear within {timeout_ms / 1000:.0f} s:\n{text[:3000]}"
            )
        page.wait_for_timeout(250)
