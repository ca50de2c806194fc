"""Start and stop `flowray dashboard` for tests, and see its kernels.

Used by tests/browser/conftest.py and by the server lifecycle tests. Each
server runs in its own session with a private TMPDIR: Voila keeps its kernel
connection files there, so every kernel process of that server (and only of
that server) can be found by its command line and killed if anything leaks.
A server without FLOWRAY_RAY_ADDRESS starts one local Ray in its own process
(`flowray dashboard` shares it with every page); its Ray processes are found
through the process tree, and killed at the end too if the server left them.

Every request needs the server's access token: the harness reads it from the
URL the server prints (as a person would), and `url`/`address` carry it; a
browser that opened one of them holds the login cookie for the rest.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Seconds. Voila imports a lot, and a server that starts its own Ray waits for it:
# 10-20 s normally, but on a saturated shared machine Ray's start-up times out
# after 30 s and is retried (up to 6 attempts in all, see flowray.cli.app_cmds).
STARTUP_TIMEOUT = 420.0
_KERNEL_FILE = re.compile(r"kernel-([0-9a-f-]{36})\.json")
_URL_LINE = re.compile(r"^flowray dashboards: (http://\S+/)\?token=(\S+)$", re.MULTILINE)
_RAY_LINE = re.compile(r"^\s*ray\s+(\S+) \(one cluster shared by every page\)", re.MULTILINE)
RAY_HEAD_PROCESSES = ("gcs_server", "raylet")


def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live (non-zombie) process."""
    table: dict[int, tuple[int, str]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(") ", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):  # the process ended while we looked
            continue
        if stat[0] != "Z":
            table[int(proc.name)] = (int(stat[1]), cmdline)
    return table


def descendants(pid: int, table: dict[int, tuple[int, str]] | None = None) -> dict[int, str]:
    """Every live process below `pid` in the process tree: pid -> command line."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for child, (parent, _cmd) in table.items():
        children.setdefault(parent, []).append(child)
    found: dict[int, str] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        if child not in found:
            found[child] = table[child][1]
            todo.extend(children.get(child, []))
    return found


def ray_head_processes(pid: int, table: dict[int, tuple[int, str]] | None = None) -> dict[int, str]:
    """The GCS and raylet processes of a Ray started by `pid` or by a process below it."""
    return {
        child: cmd
        for child, cmd in descendants(pid, table).items()
        if any(f"/{name} " in f"{cmd.split(' ', 1)[0]} " for name in RAY_HEAD_PROCESSES)
    }


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
    _ray_pids: dict[int, str] = field(default_factory=dict)

    @property
    def token(self) -> str:
        """The access token, from the URL the server printed (its base must be `base_url`)."""
        match = _URL_LINE.search(self.log_text())
        if match is None:
            raise RuntimeError(f"the server printed no URL with a token:\n{self.log_text()}")
        assert match.group(1) == self.base_url, (match.group(1), self.base_url)
        return match.group(2)

    def address(self, path: str = "") -> str:
        """`base_url` + `path` with the token, e.g. `address("voila/api/contents")`."""
        return f"{self.base_url}{path}?token={self.token}"

    def url(self, dashboard: str) -> str:
        """Page URL of a notebook in the dashboards directory, e.g. `forecast.ipynb`, with the token."""
        return self.address(f"voila/render/{dashboard}")

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

    def ray_address(self, timeout: float = STARTUP_TIMEOUT) -> str | None:
        """The Ray cluster every page of this server uses, as printed once it is up (the server
        serves first and starts its Ray alongside); None when it printed none in `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            match = _RAY_LINE.search(self.log_text())
            if match:
                return match.group(1)
            if time.monotonic() > deadline or self.process.poll() is not None:
                return None
            time.sleep(0.2)

    def ray_processes(self) -> dict[int, str]:
        """GCS and raylet processes of the Ray this server started (none when it joined one)."""
        found = ray_head_processes(self.process.pid)
        self._ray_pids.update(found)
        return found

    def kernel_ray_processes(self) -> dict[int, str]:
        """GCS and raylet processes started by the kernels themselves (a kernel's private Ray)."""
        table = process_table()
        found: dict[int, str] = {}
        for pid in self.kernel_processes().values():
            found.update(ray_head_processes(pid, table))
        return found

    def kernel_model(self, kernel_id: str) -> dict | None:
        """Voila's view of a kernel (connections, execution_state), or None once it is gone."""
        request = urllib.request.Request(
            f"{self.base_url}api/kernels/{kernel_id}",
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
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
            if _URL_LINE.search(self.log_text()):
                try:
                    with urllib.request.urlopen(self.address(), timeout=5) as response:
                        if response.status == 200 and response.url == self.address():
                            return  # the list itself, not the login form
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
            time.sleep(0.5)
        raise TimeoutError(f"flowray dashboard not ready after {timeout} s:\n{self.log_text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90.0) -> int:
        """Signal the server, wait for it, then kill any kernel or Ray process it left behind."""
        if not self.stopped:
            self.stopped = True
            if self.process.poll() is None:
                self.ray_processes()  # remember them: once the server is gone they are orphans
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            leftovers = list(self.kernel_processes().values())
            table = process_table()
            leftovers += [
                pid for pid, cmd in self._ray_pids.items() if table.get(pid, (0, ""))[1] == cmd
            ]
            for pid in leftovers:
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
    env: Mapping[str, str] | None = None,
    wait: bool = True,
) -> VoilaServer:
    """Run `flowray dashboard` on a free port; returns once the dashboard list answers.

    `env` adds variables to the server's environment, e.g. FLOWRAY_RAY_ADDRESS
    to join a running Ray instead of starting one.
    """
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
        "--log-level",
        "INFO",  # the tests read kernel starts, culls and stops from the log
    ]
    if dashboards_dir is not None:
        args += ["--dashboards", str(dashboards_dir)]
    if cull_idle_timeout is not None:
        args += ["--cull-idle-timeout", str(cull_idle_timeout)]
    if cull_interval is not None:
        args += ["--cull-interval", str(cull_interval)]
    args += list(extra_args)
    env = {
        # Ray puts its sockets under RAY_TMPDIR (else TMPDIR): keep them out of the long,
        # private TMPDIR below, whose paths would exceed the 107-byte socket path limit.
        "RAY_TMPDIR": tempfile.gettempdir(),
        **os.environ,
        **(env or {}),
        "TMPDIR": str(tmpdir),
        "PYTHONUNBUFFERED": "1",
    }
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
