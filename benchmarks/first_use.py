"""First use, as a new user meets it: `flowray demo` to a served page, a rendered page, the first number.

Measures, on this machine, with the real command and a real browser:

- `serve_s`: from starting `flowray demo --no-browser` to the forecast page
  answering 200 (with its token), for a fresh demo (seeding included) and for
  one already seeded;
- `render_s`: from opening the forecast page in Chromium to its Run button on
  screen (Voila has run every cell);
- `first_partial_s`: from the click on Run (after the page was left alone for
  `--read-seconds`, as a person reads it) to the first "likely by" answer;
- `idle_memory_mb`: the proportional memory (PSS) of every process of the
  command (Voila, kernels, Ray) with no page open, measured after the pages were
  closed and their kernels culled, and again before any page was opened;
- `log`: every line the command printed, and those a user need not act on.

Targets (BENCHMARKS.md): serve < 15 s seeded, render < 3 s, first partial
< 2 s, idle memory < 1.5 GB, no line in the log a user need not act on.
Writes benchmarks/results/first_use.json. Needs Debian's chromium
(scripts/install_chromium.sh) and Playwright (the dev extra).

    .venv/bin/python benchmarks/first_use.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "first_use.json"
URL_LINE = re.compile(r"(http://127\.0\.0\.1:\d+/)\?token=(\S+)")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Lines a user has nothing to act on (the noise this benchmark counts).
NOISE = (
    re.compile(r"Notebook .* is not trusted"),
    re.compile(r"running over TCP without encryption", re.IGNORECASE),
    re.compile(r"Kernel started:|Kernel shutdown:|Starting buffering|Culling kernel"),
    re.compile(r"Token authentication is enabled for this Ray cluster"),
    re.compile(r"WARNING|Warning:"),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Demo:
    """`flowray demo --no-browser` in its own process group, its output collected line by line."""

    def __init__(self, db: Path, port: int, extra: list[str]) -> None:
        self.started = time.perf_counter()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("FLOWRAY_RAY_ADDRESS", None)
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/flowray"),
                "demo",
                "--no-browser",
                "--db",
                str(db),
                "--port",
                str(port),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=env,
        )
        self.lines: list[str] = []
        self.url: str | None = None
        self.token: str | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            found = URL_LINE.search(line)
            if found and self.url is None:
                self.url, self.token = found.group(1), found.group(2)

    def page_url(self, page: str) -> str:
        return f"{self.url}voila/render/{page}?token={self.token}"

    def wait_served(self, page: str, timeout: float = 300.0) -> float:
        """Seconds from the start until `page` answers 200 with the token."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("flowray demo exited:\n" + "\n".join(self.lines[-30:]))
            if self.url:
                try:
                    with urllib.request.urlopen(self.page_url(page), timeout=120) as answer:
                        if answer.status == 200:
                            answer.read()
                            return time.perf_counter() - self.started
                except OSError:
                    pass
            time.sleep(0.2)
        raise TimeoutError(f"{page} was not served within {timeout} s")

    def memory_mb(self) -> float:
        """PSS of the command's whole process tree, in MB (shared pages counted once)."""
        total = 0
        root = psutil.Process(self.process.pid)
        for proc in [root, *root.children(recursive=True)]:
            try:
                total += proc.memory_full_info().pss
            except psutil.Error:
                continue
        return total / 2**20

    def processes(self) -> int:
        return 1 + len(psutil.Process(self.process.pid).children(recursive=True))

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)


def browse(demo: Demo, read_seconds: float) -> dict[str, float]:
    """Open the forecast page, read it for a while, Run; the seconds each step took."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        opened = time.perf_counter()
        page.goto(f"{demo.url}voila/render/forecast.ipynb?token={demo.token}")
        run = page.get_by_role("button", name="Run forecast")
        run.wait_for(timeout=120_000)
        rendered = time.perf_counter() - opened
        page.get_by_label("Project", exact=True).select_option(index=1)
        page.get_by_label("Items left", exact=True).fill("120")
        page.get_by_label("Items left", exact=True).press("Tab")
        page.wait_for_timeout(read_seconds * 1000)
        clicked = time.perf_counter()
        run.click()
        page.wait_for_function(
            "() => /\\d+% likely by \\d/.test(document.body.innerText)", timeout=180_000
        )
        first = time.perf_counter() - clicked
        page.wait_for_function("() => /Done: /.test(document.body.innerText)", timeout=600_000)
        done = time.perf_counter() - clicked
        page.close()
        browser.close()
    return {"render_s": rendered, "first_partial_s": first, "done_s": done}


def one_start(
    db: Path, extra: list[str], *, browse_too: bool, read_seconds: float
) -> dict[str, Any]:
    demo = Demo(db, free_port(), extra)
    out: dict[str, Any] = {}
    try:
        out["serve_s"] = round(demo.wait_served("forecast.ipynb"), 2)
        time.sleep(5)
        out["memory_no_page_yet_mb"] = round(demo.memory_mb(), 1)
        out["processes_no_page_yet"] = demo.processes()
        if browse_too:
            out.update({k: round(v, 2) for k, v in browse(demo, read_seconds).items()})
            time.sleep(float(os.environ.get("FIRST_USE_CULL_WAIT", "75")))  # kernels culled
            out["memory_pages_closed_mb"] = round(demo.memory_mb(), 1)
            out["processes_pages_closed"] = demo.processes()
        return out
    finally:
        demo.stop()
        out_lines = [line for line in demo.lines if line.strip()]
        noise = [line for line in out_lines if any(p.search(line) for p in NOISE)]
        out["log_lines"] = len(out_lines)
        out["log_noise_lines"] = len(noise)
        out["log_noise_examples"] = sorted({re.sub(r"\d+", "N", n)[:140] for n in noise})[:12]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--read-seconds", type=float, default=5.0)
    parser.add_argument("--extra", default="", help="more options for flowray demo")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    extra = args.extra.split()
    with tempfile.TemporaryDirectory(prefix="first-use-") as folder:
        db = Path(folder) / "flowray-demo.duckdb"
        fresh = one_start(db, extra, browse_too=False, read_seconds=args.read_seconds)
        seeded = one_start(db, extra, browse_too=True, read_seconds=args.read_seconds)
    result = {
        "benchmark": "first_use",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "fresh_demo": fresh,
        "seeded_demo": seeded,
        "targets": {
            "serve_s_seeded": 15,
            "render_s": 3,
            "first_partial_s": 2,
            "idle_memory_mb": 1536,
            "log_noise_lines": 0,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
