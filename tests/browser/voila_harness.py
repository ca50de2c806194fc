"""Start and stop `flowray dashboard` for tests, and see its kernels.

Used by tests/browser/conftest.py and by the server lifecycle tests. Each
server runs in its own session with a private TMPDIR: Voila keeps its kernel
connection files there, so every kernel process of that server (and only of
that server) can be found by its command line and killed if anything leaks.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 120.0  # seconds; the machine is shared and Voila imports a lot
_KERNEL_FILE = re.compile(r"kernel-([0-9a-f-]{36})\.json")


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class VoilaServer:
    """A running `flowray dashboard` process and what a test needs to reach it."""

    process: subprocess.Popen[bytes]
    base_url: str
    db_path: Path
    dashboards_dir: Path
    workdir: Path
    tmpdir: Path
    log_path: Path
    stopped: bool = field(default=False)

    def url(self, dashboard: str) -> str:
        """Page URL of a notebook in the dashboards directory, e.g. `_smoke.ipynb`."""
        return f"{self.base_url}voila/render/{dashboard}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kernel_processes(self) -> dict[str, int]:
        """Kernel id -> pid of every live kernel process this server started."""
        found: dict[str, int] = {}
        marker = str(self.tmpdir)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                state = (proc / "stat").read_text().split(") ", 1)[1][:1]
            except OSError:  # the process ended while we looked
                continue
            if marker in cmdline and "ipykernel" in cmdline and state != "Z":
                match = _KERNEL_FILE.search(cmdline)
                if match:
                    found[match.group(1)] = int(proc.name)
        return found

    def kernel_model(self, kernel_id: str) -> dict | None:
        """Voila's view of a kernel (connections, execution_state), or None once it is gone."""
        try:
            with urllib.request.urlopen(f"{self.base_url}api/kernels/{kernel_id}", timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def wait_until_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"flowray dashboard exited with {self.process.returncode}:\n{self.log_text()}"
                )
            try:
                with urllib.request.urlopen(self.base_url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"flowray dashboard not ready after {timeout} s:\n{self.log_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        """Signal the server, wait for it, then kill any kernel it left behind."""
        if not self.stopped:
            self.stopped = True
            if self.process.poll() is None:
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            for pid in self.kernel_processes().values():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return int(self.process.returncode)


def flowray_command() -> list[str]:
    """The installed `flowray` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("flowray")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from flowray.cli import main; sys.exit(main())"]


def start_voila_server(
    workdir: Path,
    *,
    dashboards_dir: Path | None = None,
    db_path: Path | None = None,
    cull_idle_timeout: int | None = None,
    cull_interval: int | None = None,
    extra_args: tuple[str, ...] = (),
    wait: bool = True,
) -> VoilaServer:
    """Run `flowray dashboard` on a free port; returns once the dashboard list answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix="tmp-", dir=workdir))
    db = db_path or workdir / "flowray.duckdb"
    port = free_port()
    args = [
        *flowray_command(),
        "dashboard",
        "--no-browser",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        str(db),
    ]
    if dashboards_dir is not None:
        args += ["--dashboards", str(dashboards_dir)]
    if cull_idle_timeout is not None:
        args += ["--cull-idle-timeout", str(cull_idle_timeout)]
    if cull_interval is not None:
        args += ["--cull-interval", str(cull_interval)]
    args += list(extra_args)
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"}
    log_path = workdir / f"voila-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # our signals only; the test decides what it sends
        )
    server = VoilaServer(
        process=process,
        base_url=f"http://127.0.0.1:{port}/",
        db_path=db,
        dashboards_dir=dashboards_dir or REPO_ROOT / "dashboards",
        workdir=workdir,
        tmpdir=tmpdir,
        log_path=log_path,
    )
    if wait:
        try:
            server.wait_until_ready()
        except BaseException:
            server.stop(signal.SIGKILL)
            raise
    return server
