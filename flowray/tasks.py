"""The Ray engine: connecting to Ray, and jobs whose tasks run as Ray remote tasks.

This is the only module that imports ray, and it never connects at import:
`connect()` (or `ensure_connected()`, which every job submission calls) starts
a private local Ray (`address="local"`, so a stranger's cluster is never joined
by accident) or joins the cluster named by the caller or by
FLOWRAY_RAY_ADDRESS / RAY_ADDRESS. The connection lives in one `Cluster`
object, CLUSTER. A local Ray listens on 127.0.0.1 only, keeps its files in a
folder only this user can open, and exports no metrics and no usage stats;
`ray_listeners()` and `exposed_listeners()` show which ports of the connected
cluster other machines can reach (docs/cluster.md).

`RAY` is the Ray engine of the job interface (flowray.jobs): `RAY.submit()`
(or `submit_job()`) takes `ChunkTask`s, an order-independent `merge` and a
`finalize`, and returns a `RayJob` handle at once. A daemon thread (the pump)
keeps a bounded window of each job's tasks in flight and folds finished
results into a running merge, so driver memory stays flat however many runs a
job has, and the handle reads progress and partial results without blocking.
What a job is made of (forecast chunks, backtests, sweeps) is defined in
flowray.jobs and the pipeline, once for both engines.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import socket
import stat
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowray.config import load_settings
from flowray.exceptions import FlowrayError, InputError, JobCancelled, JobError
from flowray.jobs.state import (
    CANCEL_WAIT_S,
    DEFAULT_MAX_RETRIES,
    ChunkTask,
    JobState,
    JobTimeout,
    Progress,
    check_submission,
    identity,
)
from flowray.jobs.status import ClusterInfo, ClusterStatus, HealthCheck

log = logging.getLogger(__name__)

TASK_PREFIX = "flowray."
"""Every remote task flowray starts is named `flowray.<kind>.<job id>` (or `flowray.health`)."""

CANCEL_GRACE_S = 0.5
"""Running tasks get this long to stop when interrupted, before their workers are killed."""

_PUMP_WAIT_S = 0.1


# -- connection ---------------------------------------------------------------


@dataclass
class Cluster:
    """This process's one Ray connection: what it joined and the handles it made there.

    Every function of this module reads and changes the one instance, CLUSTER,
    under its lock, so nothing about the connection lives in module globals.
    """

    info: ClusterInfo | None = None
    state_api_address: str | None = None  # where Ray's state API answers (task counts)
    cpus_read_at: float = 0.0  # monotonic time the cluster's CPUs were last read
    cpus: float = 0.0
    runner: Any = None  # the remote function that runs every ChunkTask (made on first use)
    probe: Any = None  # the health check's remote function
    lock: threading.RLock = field(default_factory=threading.RLock)


CLUSTER = Cluster()


def _ray() -> Any:
    """Import ray on first use (importing flowray must stay cheap and never touch Ray)."""
    import ray

    return ray


def _prepare_token_auth(token: str | None, token_path: str | os.PathLike[str] | None) -> None:
    """Make Ray's own token loader see the cluster token before joining a cluster.

    Ray 2.60 reads the token itself, from (in order) RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token, and only when RAY_AUTH_MODE=token.
    An explicit `token` / `token_path` is handed to Ray through those variables;
    token mode is switched on unless the caller set RAY_AUTH_MODE explicitly
    (e.g. `disabled` for an old cluster).
    """
    if token is not None:
        os.environ["RAY_AUTH_TOKEN"] = token.strip()
        os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
    elif token_path is not None:
        os.environ["RAY_AUTH_TOKEN_PATH"] = os.fspath(token_path)
        os.environ.pop("RAY_AUTH_TOKEN", None)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:  # refresh Ray's cached config and token (they are read once per process)
        # Private names: present in ray._raylet at run time, absent from its type stubs.
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except Exception:  # pragma: no cover - private API moved; Ray then reads env at init
        log.debug("could not refresh Ray's auth config", exc_info=True)


def _protect_default_token_file() -> bool:
    """Make Ray's default token file (~/.ray/auth_token) readable by its owner only.

    Ray 2.60 creates it readable by everyone on the machine, and anyone who
    reads it can run code on the cluster. Returns True when it changed the mode.
    """
    path = Path.home() / ".ray" / "auth_token"
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            path.chmod(0o600)
            log.info("made %s readable by its owner only (it was %o)", path, mode & 0o777)
            return True
    except OSError:  # missing, or not ours: nothing to tighten
        pass
    return False


def _auth_mode_name() -> str:
    try:
        # Private names: present in ray._raylet at run time, absent from its type stubs.
        from ray._raylet import (  # type: ignore[attr-defined]
            AuthenticationMode,
            get_authentication_mode,
        )

        return "token" if get_authentication_mode() == AuthenticationMode.TOKEN else "disabled"
    except Exception:  # pragma: no cover - private API moved
        return "unknown"


def _read_cluster_info(
    started_locally: bool, client_mode: bool, address: str, dashboard: str | None
) -> ClusterInfo:
    ray = _ray()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    resources = ray.cluster_resources()
    if dashboard and not dashboard.startswith("http"):
        dashboard = f"http://{dashboard}"
    return ClusterInfo(
        address=address,
        started_locally=started_locally,
        client_mode=client_mode,
        nodes=len(nodes),
        cpus=float(resources.get("CPU", 0.0)),
        dashboard_url=dashboard or None,
        ray_version=ray.__version__,
        auth_mode=_auth_mode_name(),
    )


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_bytes: int | None = None,
    dashboard: bool | None = None,
    token: str | None = None,
    token_path: str | os.PathLike[str] | None = None,
    dashboard_url: str | None = None,
) -> ClusterInfo:
    """Start a private local Ray, or join a cluster; explicit, never at import.

    address: None reads FLOWRAY_RAY_ADDRESS / RAY_ADDRESS (via flowray.config)
      and falls back to "local"; "local" starts a new private Ray on this
      machine; anything else ("host:6379", "ray://127.0.0.1:10001") joins that
      cluster with token authentication (see docs/cluster.md).
    num_cpus, object_store_bytes, dashboard: for a local Ray only. The
      dashboard (and with it Ray's state API, used for task counts) starts only
      when asked, bound to 127.0.0.1.
    token, token_path: the cluster's auth token, if not already in
      RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token.
    dashboard_url: with Ray Client (ray://), where the port-forwarded
      dashboard answers (default http://<client host>:8265); task counts in
      `cluster_status()` come from it.
    """
    ray = _ray()
    settings = load_settings()
    for name in RAY_NOTICE_LOGGERS:  # warnings nobody has to act on, starting or joining
        logging.getLogger(name).addFilter(_drop_ray_notices)  # (a logger keeps one copy)
    if address is None and settings.ray_address is None and settings.ray_address_file:
        address = wait_for_published_address(settings.ray_address_file)
    target = address if address is not None else (settings.ray_address or "local")
    target = target.strip()
    if not target:
        raise InputError("address", address, "give 'local' or a cluster address such as host:6379")
    with CLUSTER.lock:
        if ray.is_initialized():
            if CLUSTER.info is None:  # someone called ray.init() directly: adopt that connection
                ctx = ray.get_runtime_context()
                CLUSTER.info = _read_cluster_info(False, _is_client_mode(), ctx.gcs_address, None)
                CLUSTER.state_api_address = ctx.gcs_address
            same = target == CLUSTER.info.address or (
                target == "local" and CLUSTER.info.started_locally
            )
            if address is not None and not same:
                raise InputError(
                    "address",
                    target,
                    f"already connected to {CLUSTER.info.address}; call flowray.tasks.shutdown() first",
                )
            return CLUSTER.info
        if target == "local":
            store = object_store_bytes or settings.ray_object_store_bytes
            with_dashboard = settings.ray_dashboard if dashboard is None else bool(dashboard)
            context = _start_local_ray(
                num_cpus=num_cpus if num_cpus is not None else settings.ray_num_cpus,
                object_store_memory=int(store),
                include_dashboard=with_dashboard,
            )
            gcs = ray.get_runtime_context().gcs_address
            CLUSTER.info = _read_cluster_info(True, False, gcs, context.dashboard_url)
            CLUSTER.state_api_address = gcs
        else:
            _prepare_token_auth(token, token_path)
            client = target.startswith("ray://")
            # A loopback address (a local Ray that another process started, e.g. for the
            # dashboard kernels) must stay loopback: Ray would swap in the machine's address.
            on_this_machine = not client and is_loopback(target.rsplit(":", 1)[0].strip("[]"))
            with _loopback_node() if on_this_machine else contextlib.nullcontext():
                context = ray.init(
                    address=target,
                    namespace="flowray",
                    log_to_driver=False,
                    configure_logging=False,
                )
            if client:
                # Ray Client: the state API is reached through the forwarded dashboard port.
                host = target[len("ray://") :].rsplit(":", 1)[0]
                CLUSTER.state_api_address = dashboard_url or f"http://{host}:8265"
                CLUSTER.info = _read_cluster_info(False, True, target, CLUSTER.state_api_address)
            else:
                gcs = ray.get_runtime_context().gcs_address
                CLUSTER.state_api_address = gcs
                CLUSTER.info = _read_cluster_info(False, False, gcs, context.dashboard_url)
        _protect_default_token_file()  # Ray may just have created it, readable by all
        return CLUSTER.info


PUBLISHED_ADDRESS_WAIT_S = 300.0
"""How long a kernel waits for its dashboard server's Ray (Ray's own start retries take minutes
on a saturated machine)."""


def publish_address(path: Path, info: ClusterInfo) -> None:
    """Write where this process's Ray answers, for kernels told FLOWRAY_RAY_ADDRESS_FILE=path.

    Written whole (a temporary file renamed into place, mode 0600), so a reader
    never sees half an address.
    """
    data = {"address": info.address, "auth_mode": info.auth_mode}
    partial = path.with_name(path.name + ".part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(data, handle)
    os.replace(partial, path)


def publish_failure(path: Path, reason: str) -> None:
    """Tell the waiting kernels that the shared Ray did not start (they then say so, not hang)."""
    partial = path.with_name(path.name + ".part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"error": reason}, handle)
    os.replace(partial, path)


def wait_for_published_address(path: Path, timeout: float = PUBLISHED_ADDRESS_WAIT_S) -> str:
    """The address a dashboard server published at `path`, waiting while its Ray starts."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise FlowrayError(
                f"the dashboards' shared Ray did not start within {timeout:.0f} s; "
                "restart `flowray dashboard` or set FLOWRAY_RAY_ADDRESS"
            )
        time.sleep(0.1)
    data = json.loads(path.read_text())
    if "error" in data:
        raise FlowrayError(f"the dashboards' shared Ray did not start: {data['error']}")
    return str(data["address"])


LOCAL_START_ATTEMPTS = 5

LOOPBACK = "127.0.0.1"
"""Where every service of a local Ray listens: Ray binds loopback only for exactly this address."""

UNIX_SOCKET_PATH_MAX_BYTES = 107
"""Longest unix socket path Linux accepts (108 bytes with the terminating zero); Ray checks the same."""

_SOCKET_TAIL_BYTES = len("/session_2026-01-01_00-00-00_000000_4194304/sockets/plasma_store.99")
"""What Ray appends to its temp dir for its longest socket path (7-digit pid, numbered duplicate)."""


def _check_private_dir(path: Path) -> None:
    """Refuse a folder that is not this user's own plain folder; make it owner-only if it is wider.

    A symlink or another user's folder at the expected place could hand Ray's
    sockets and logs to someone else, so those are refused. Our own folder
    opened to the group or the world (by hand, or by an old umask) is closed
    again and said so in the log.
    """
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise FlowrayError(
            f"{path} is not a plain folder; refusing to keep the local Ray's files there "
            "(remove it, or point TMPDIR elsewhere)"
        )
    if info.st_uid != os.getuid():
        raise FlowrayError(
            f"{path} belongs to another user (uid {info.st_uid}); refusing to keep the local "
            "Ray's files there (remove it, or point TMPDIR elsewhere)"
        )
    if info.st_mode & 0o077:
        path.chmod(0o700)
        log.warning(
            "made %s readable by its owner only (it was %o)", path, stat.S_IMODE(info.st_mode)
        )


def local_ray_temp_dir() -> Path:
    """Ray's temp dir for a local Ray: `<system temp>/flowray-<uid>/ray`, inside an owner-only folder.

    Ray keeps its sockets, logs and session files under its temp dir and makes
    every folder there readable and writable by all users (0777). Inside a
    folder only this user can open (0700), nobody else reaches them. The path
    stays short because Ray's unix sockets live under it: the system temp dir
    (TMPDIR) is used when the socket paths fit, /tmp otherwise.
    """
    bases = [Path(tempfile.gettempdir()), Path("/tmp")]
    for base in bases:
        root = base / f"flowray-{os.getuid()}"
        temp_dir = root / "ray"
        if len(os.fsencode(temp_dir)) + _SOCKET_TAIL_BYTES <= UNIX_SOCKET_PATH_MAX_BYTES:
            with contextlib.suppress(FileExistsError):
                root.mkdir(mode=0o700)
            _check_private_dir(root)
            return temp_dir
    raise FlowrayError(
        f"the temp dir {bases[0]} is too long for Ray's unix sockets "
        f"({UNIX_SOCKET_PATH_MAX_BYTES} bytes at most); set TMPDIR to a short folder"
    )


def _close_to_others(*paths: str) -> None:
    """Take back the group and world access Ray gives its own folders (the parent is closed anyway)."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)


@contextlib.contextmanager
def _loopback_node() -> Iterator[None]:
    """Let Ray keep 127.0.0.1 as 127.0.0.1 while a local Ray starts, or while joining one.

    Ray binds its GCS, raylet, object manager, workers, agents and metrics
    servers to loopback when the node's address is 127.0.0.1, but ray.init
    replaces 127.0.0.1 (as a node address, and in a cluster address to join)
    by the machine's address unless its multi-node switch
    (ray._private.ray_constants.ENABLE_RAY_CLUSTER, off by default on macOS
    and Windows) is off. The switch is off only during that ray.init, so
    joining a cluster elsewhere later works as before.
    """
    try:
        from ray._private import ray_constants
    except ImportError:  # pragma: no cover - private module moved: cluster_status warns
        yield
        return
    before = getattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before


def _local_ray_options() -> dict[str, Any]:
    """ray.init options that keep a local Ray on this machine and this user, and quiet.

    Loopback addresses for every service, an owner-only temp dir, no metrics
    export (Ray's Prometheus endpoint and the metrics agent's collection: the
    product reads none of them). Usage stats are switched off through the
    environment, which every Ray process inherits.
    """
    return {
        "_node_ip_address": LOOPBACK,
        "dashboard_host": LOOPBACK,
        "_temp_dir": os.fspath(local_ray_temp_dir()),
        "_system_config": {"enable_metrics_collection": False},
    }


RAY_NOTICES = (
    # token auth is on, as docs/cluster.md says once for good (the "disabled" warning stays)
    "Token authentication is enabled",
    # a page joins Ray from its warm-up thread; the kernel's main thread handles the signals
    "SIGTERM handler is not set because current thread is not the main thread",
)
RAY_NOTICE_LOGGERS = (
    "ray._private.authentication.authentication_token_setup",
    "ray._private.worker",
)


def _drop_ray_notices(record: logging.LogRecord) -> bool:
    """A logging filter: False (drop) for one of RAY_NOTICES, True for every other line."""
    message = record.getMessage()
    return not any(notice in message for notice in RAY_NOTICES)


def _start_local_ray(**options: Any) -> Any:
    """ray.init a private local Ray; on a loaded machine, clean up and try again.

    Ray gives its raylet a fixed 30 s to register; a busy shared machine can
    miss that. The failed attempt's processes (GCS, dashboard, raylet...) are
    not stopped by Ray itself, so they are stopped here before the next try.
    """
    ray = _ray()
    local_ray_temp_dir()  # an unsafe temp dir is refused before anything starts
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # inherited by every process Ray starts
    for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
        local = _local_ray_options()  # fresh each time: ray.init adds to its _system_config
        try:
            with _loopback_node():
                context = ray.init(
                    address="local",
                    namespace="flowray",
                    log_to_driver=False,
                    configure_logging=False,
                    **local,
                    **options,
                )
        except Exception as exc:
            ray.shutdown()
            stopped = _stop_orphaned_ray_children()
            if attempt == LOCAL_START_ATTEMPTS or "timed out during startup" not in str(exc):
                raise FlowrayError(f"could not start a local Ray: {exc}") from exc
            log.warning(
                "local Ray did not start in time (%s); stopped %d leftover processes, trying again",
                exc,
                stopped,
            )
            continue
        node = ray._private.worker.global_worker.node
        _close_to_others(node.get_temp_dir_path(), node.get_session_dir_path())
        if node.node_ip_address != LOOPBACK:
            log.warning(
                "the local Ray listens on %s, not only on %s: `flowray cluster status` names its ports",
                node.node_ip_address,
                LOOPBACK,
            )
        return context
    raise AssertionError("unreachable")  # pragma: no cover


def _stop_orphaned_ray_children() -> int:
    """Stop the Ray processes this process started and that no connection owns any more.

    Only called while not connected, so every Ray child of this process is a
    leftover of a failed start. Children are found by parentage (never by
    name across the machine) and recognised by Ray's install path.
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ray[default]
        return 0
    marker = os.sep + os.path.join("site-packages", "ray") + os.sep
    found: dict[int, Any] = {}
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.pid not in found and any(marker in part for part in child.cmdline()):
                found[child.pid] = child
                # renamed helpers (dashboard modules, workers) are known by their parent
                found.update({p.pid: p for p in child.children(recursive=True)})
    ours = list(found.values())
    for child in ours:
        with contextlib.suppress(psutil.Error):
            child.terminate()
    _, alive = psutil.wait_procs(ours, timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(alive, timeout=5)
    return len(ours)


def _is_client_mode() -> bool:
    try:
        from ray.util.client import ray as client_ray

        return bool(client_ray.is_connected())
    except Exception:  # pragma: no cover
        return False


def is_connected() -> bool:
    """True when this process holds a Ray connection (flowray's or anyone's)."""
    if "ray" not in sys.modules:
        return False
    return bool(_ray().is_initialized())


def ensure_connected() -> ClusterInfo:
    """Connect with the settings' defaults unless already connected (idempotent)."""
    with CLUSTER.lock:
        if CLUSTER.info is not None and is_connected():
            return CLUSTER.info
        return connect()


def cluster_info() -> ClusterInfo | None:
    """The current connection, or None."""
    return CLUSTER.info if is_connected() else None


def shutdown() -> None:
    """Cancel this driver's running jobs, stop the pump, and disconnect (stops a local Ray)."""
    with CLUSTER.lock:
        _pump.stop()
        if is_connected():
            _ray().shutdown()
        CLUSTER.info = None
        CLUSTER.state_api_address = None


def _cluster_cpus() -> float:
    """Cluster CPUs, re-read at most every 5 s (sizes the in-flight window)."""
    now = time.monotonic()
    if now - CLUSTER.cpus_read_at > 5.0 or CLUSTER.cpus <= 0:
        try:
            CLUSTER.cpus = float(_ray().cluster_resources().get("CPU", 1.0))
        except Exception:
            CLUSTER.cpus = max(CLUSTER.cpus, 1.0)
        CLUSTER.cpus_read_at = now
    return max(CLUSTER.cpus, 1.0)


def share(value: Any) -> Any:
    """Put a large read-only value into the object store once; pass the result in task args.

    Top-level task arguments that are shared values reach the task resolved,
    so a big table travels to each node once instead of once per task.
    """
    ensure_connected()
    return _ray().put(value)


# -- the generic job ----------------------------------------------------------


def _remote_runner() -> Any:
    """The one remote function: runs a ChunkTask's fn on a worker (defined on first use)."""
    if CLUSTER.runner is None:
        CLUSTER.runner = _ray().remote(_run_chunk_task)
    return CLUSTER.runner


def _run_chunk_task(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def _describe_error(exc: BaseException) -> tuple[str, BaseException]:
    """The failing chunk's own message (unwrapped from Ray's task error) and its cause."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}", cause
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {first}", exc


class RayJob:
    """A job whose tasks run on Ray (the jobs.Job interface). Thread-safe; every method returns promptly but `result`."""

    def __init__(
        self,
        kind: str,
        tasks: Sequence[ChunkTask],
        merge: Callable[[list[Any]], Any],
        finalize: Callable[[Any], Any],
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_in_flight: int | None = None,
        keep: Sequence[Any] = (),
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.kind = kind
        self.task_name = f"{TASK_PREFIX}{kind}.{self.id}"
        self._tasks = list(tasks)
        self._n_tasks = len(self._tasks)
        self._merge = merge
        self._finalize = finalize
        self._max_retries = int(max_retries)
        self._window = max_in_flight
        self._keep = list(keep)  # shared object refs the tasks need; released when finished
        self._lock = threading.RLock()
        self._finished = threading.Event()
        self._state = JobState.PENDING
        self._next = 0
        self._submitted = 0
        self._inflight: dict[Any, int] = {}
        self._acc: Any = None
        self._chunks_done = 0
        self._runs_done = 0
        self._tasks_done = 0
        self._chunks_total = sum(t.chunks for t in self._tasks)
        self._runs_total = sum(t.runs for t in self._tasks)
        self._error: str | None = None
        self._cause: BaseException | None = None
        self._result: Any = None
        self._has_result = False
        self._started = time.monotonic()
        self._ended: float | None = None

    # -- public ------------------------------------------------------------
    @property
    def state(self) -> JobState:
        self._poll()
        return self._state

    @property
    def error(self) -> str | None:
        """The failing chunk's message when FAILED."""
        return self._error

    def done(self) -> bool:
        return self.state.finished

    def progress(self) -> Progress:
        """Chunks and runs done so far; never blocks (ray.wait with timeout 0)."""
        self._poll()
        with self._lock:
            end = self._ended if self._ended is not None else time.monotonic()
            return Progress(
                state=self._state,
                chunks_done=self._chunks_done,
                chunks_total=self._chunks_total,
                runs_done=self._runs_done,
                runs_total=self._runs_total,
                tasks_done=self._tasks_done,
                tasks_total=self._n_tasks,
                tasks_submitted=self._submitted,
                elapsed_s=end - self._started,
            )

    def partial(self) -> Any:
        """The finalized merge of the chunks finished so far, or None before the first one."""
        self._poll()
        with self._lock:
            if self._state is JobState.DONE:
                return self._final()
            acc = self._acc
        return None if acc is None else self._finalize(acc)

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the final result: identical to the local engine's for the same inputs.

        Raises JobError (FAILED, with the chunk's message), JobCancelled, or
        JobTimeout when `timeout` seconds pass first (the job keeps running).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise JobTimeout(
                    f"job {self.id} ({self.kind}): not finished after {timeout} s; "
                    f"{self.progress().fraction:.0%} done"
                )
            self._finished.wait(_PUMP_WAIT_S if left is None else min(left, _PUMP_WAIT_S))
            self._poll()
        with self._lock:
            if self._state is JobState.FAILED:
                raise JobError(self._error or f"job {self.id} failed") from self._cause
            if self._state is JobState.CANCELLED:
                raise JobCancelled(f"job {self.id} ({self.kind}) was cancelled")
            return self._final()

    def cancel(self, wait: float = CANCEL_WAIT_S) -> bool:
        """Stop every outstanding task; the state is CANCELLED on return.

        Queued tasks are dropped. Running ones are first interrupted (their
        worker survives, warm), and any still running after CANCEL_GRACE_S are
        force-killed, so none is left after `wait` seconds: the call waits
        that long at most for Ray to confirm. Returns False when the job had
        already finished.
        """
        with self._lock:
            if self._state.finished:
                return False
            refs = list(self._inflight)
            self._next = len(self._tasks)  # submit nothing more
            self._set_finished(JobState.CANCELLED)
        _cancel_refs(refs, wait)
        with self._lock:
            self._inflight.clear()
        return True

    def __repr__(self) -> str:
        p = self.progress()
        return f"<RayJob {self.id} {self.kind} {p.state.value} {p.fraction:.0%}>"

    # -- driven by submit() and the pump ------------------------------------
    def _final(self) -> Any:
        if not self._has_result:
            self._result = self._finalize(self._acc)
            self._has_result = True
        return self._result

    def _set_finished(self, state: JobState) -> None:
        self._state = state
        self._ended = time.monotonic()
        self._keep.clear()  # release shared objects (the tasks' args refer to them too)
        self._next = self._n_tasks
        self._tasks = []
        self._finished.set()

    def _window_size(self) -> int:
        if self._window is not None:
            return max(1, int(self._window))
        return max(2, int(2 * _cluster_cpus()))

    def _fill(self) -> None:
        """Submit tasks until the in-flight window is full (caller holds the lock)."""
        if self._state.finished:
            return
        runner = _remote_runner()
        window = self._window_size()
        while self._next < len(self._tasks) and len(self._inflight) < window:
            index = self._next
            task = self._tasks[index]
            ref = runner.options(
                name=self.task_name,
                max_retries=self._max_retries,
                retry_exceptions=False,
                num_cpus=1,
            ).remote(task.fn, *task.args)
            self._inflight[ref] = index
            self._next += 1
            self._submitted += 1

    def _refs(self) -> list[Any]:
        with self._lock:
            return list(self._inflight)

    def _poll(self) -> None:
        """Collect finished tasks without blocking, merge them, refill the window."""
        if self._finished.is_set():
            return
        ray = _ray()
        with self._lock:
            if self._state.finished or not self._inflight and self._next >= len(self._tasks):
                return
            refs = list(self._inflight)
            ready: list[Any] = []
            if refs:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            parts = []
            for ref in ready:
                index = self._inflight.pop(ref)
                try:
                    parts.append(ray.get(ref))
                except Exception as exc:  # the task raised, or died beyond its retries
                    self._fail(index, exc)
                    return
                task = self._tasks[index]
                self._chunks_done += task.chunks
                self._runs_done += task.runs
                self._tasks_done += 1
            if parts:
                self._acc = self._merge(parts if self._acc is None else [self._acc, *parts])
                if self._state is JobState.PENDING:
                    self._state = JobState.RUNNING
            if not self._inflight and self._next >= len(self._tasks):
                self._set_finished(JobState.DONE)
                return
            self._fill()

    def _fail(self, index: int, exc: BaseException) -> None:
        """Mark FAILED with the chunk's message and stop the other tasks (lock held)."""
        message, cause = _describe_error(exc)
        task = self._tasks[index]
        where = task.label or f"task {index}"
        self._error = f"{self.kind} job {self.id}: {where} failed: {message}"
        self._cause = cause
        refs = list(self._inflight)
        self._inflight.clear()
        self._next = len(self._tasks)
        self._set_finished(JobState.FAILED)
        _cancel_refs(refs, wait=None)  # interrupt the siblings; never block the pump


def _cancel_refs(refs: Sequence[Any], wait: float | None) -> None:
    """Cancel tasks: interrupt first, force-kill what is still running after the grace period.

    wait=None only interrupts (no waiting); wait=0 force-kills at once.
    Interrupting keeps the worker process (and its compiled kernel) alive;
    a chunk in compiled code notices at the next chunk boundary, which is why
    the force-kill follows for long chunks.
    """
    if not refs:
        return
    ray = _ray()

    def send(targets: Sequence[Any], force: bool) -> None:
        for ref in targets:
            try:
                ray.cancel(ref, force=force, recursive=True)
            except Exception:  # already finished or lost: nothing left to stop
                log.debug("cancel of %s ignored", ref, exc_info=True)

    if wait is not None and wait <= 0:
        send(refs, force=True)
        return
    send(refs, force=False)
    if wait is None:
        return
    started = time.monotonic()
    try:
        _, running = ray.wait(
            list(refs), num_returns=len(refs), timeout=min(CANCEL_GRACE_S, wait), fetch_local=False
        )
        if running:
            send(running, force=True)
            left = max(0.0, wait - (time.monotonic() - started))
            ray.wait(running, num_returns=len(running), timeout=left, fetch_local=False)
    except Exception:
        log.debug("waiting for cancelled tasks failed", exc_info=True)


class _Pump:
    """One daemon thread that drives every active job of this driver.

    It blocks in ray.wait on all in-flight tasks (0.1 s at most), then lets
    each job collect, merge and refill. Jobs therefore advance whether or not
    anyone polls them, and the window keeps driver memory flat.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, RayJob] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.finished_tasks = 0

    def add(self, job: RayJob) -> None:
        with self._lock:
            self._jobs[job.id] = job
            self._stopping = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="flowray-pump", daemon=True)
                self._thread.start()
        self._wake.set()

    def active(self) -> list[RayJob]:
        with self._lock:
            return list(self._jobs.values())

    def stop(self) -> None:
        for job in self.active():
            job.cancel(wait=0)
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        with self._lock:
            self._jobs.clear()
            self._thread = None

    def _run(self) -> None:
        ray = _ray()
        while True:
            with self._lock:
                if self._stopping:
                    return
                jobs = list(self._jobs.values())
            if not jobs:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            refs = [ref for job in jobs for ref in job._refs()]
            try:
                if refs:
                    ray.wait(refs, num_returns=1, timeout=_PUMP_WAIT_S, fetch_local=True)
                else:
                    time.sleep(0.01)
            except Exception:  # a ref vanished under a concurrent cancel; poll anyway
                log.debug("pump wait failed", exc_info=True)
                time.sleep(0.01)
            for job in jobs:
                try:
                    job._poll()
                except Exception as exc:  # never let one job stop the pump
                    with job._lock:
                        if not job._state.finished:
                            job._error = f"{job.kind} job {job.id}: driver error: {exc}"
                            job._cause = exc
                            job._set_finished(JobState.FAILED)
                if job._finished.is_set():
                    with self._lock:
                        if self._jobs.pop(job.id, None) is not None:
                            self.finished_tasks += job._tasks_done


_pump = _Pump()


class RayEngine:
    """The job interface's Ray engine: tasks run as Ray remote tasks (connecting when needed)."""

    name = "ray"

    def share(self, value: Any) -> Any:
        return share(value)

    def submit(
        self,
        kind: str,
        tasks: Sequence[ChunkTask],
        merge: Callable[[list[Any]], Any],
        finalize: Callable[[Any], Any] = identity,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_in_flight: int | None = None,
        keep: Sequence[Any] = (),
    ) -> RayJob:
        """Run `tasks` remotely and return their handle at once.

        merge: folds a list of task results into one; it must not depend on the
          order (results arrive as tasks finish). finalize: turns a merge into the
          job's result, for `partial()` and `result()`. max_in_flight: tasks queued
          at once (default twice the cluster's CPUs). keep: shared object refs
          (from `share`) to hold until the job ends.
        """
        check_submission(kind, tasks, max_retries)
        ensure_connected()
        job = RayJob(
            kind,
            tasks,
            merge,
            finalize,
            max_retries=max_retries,
            max_in_flight=max_in_flight,
            keep=keep,
        )
        with job._lock:
            job._fill()
        _pump.add(job)
        return job

    def __repr__(self) -> str:
        return "RayEngine()"


RAY = RayEngine()
"""The one Ray engine (its connection is CLUSTER)."""

submit_job = RAY.submit
"""`RAY.submit`, by its old name."""


def active_jobs() -> list[RayJob]:
    """This driver's jobs that have not finished."""
    return _pump.active()


# -- health and status -----------------------------------------------------------


def _health_probe() -> dict[str, Any]:
    """Runs on a worker: who and where am I?"""
    import ray

    import flowray

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "ray_version": ray.__version__,
        "flowray_version": getattr(flowray, "__version__", "unknown"),
        "timestamp": time.time(),
    }


def health_check(timeout: float = 60.0, node_id: str | None = None) -> HealthCheck:
    """Run one tiny remote task (on `node_id` if given) and time the round trip."""
    import flowray

    ensure_connected()
    ray = _ray()
    options: dict[str, Any] = {"name": f"{TASK_PREFIX}health", "num_cpus": 0, "max_retries": 0}
    if node_id is not None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
    if CLUSTER.probe is None:
        CLUSTER.probe = ray.remote(_health_probe)
    probe = CLUSTER.probe.options(**options)
    started = time.perf_counter()
    ref = probe.remote()
    try:
        answer = ray.get(ref, timeout=timeout)
    except Exception as exc:
        ray.cancel(ref, force=True)
        message, cause = _describe_error(exc)
        raise JobError(f"health check failed: {message}") from cause
    latency_ms = (time.perf_counter() - started) * 1000.0
    return HealthCheck(
        latency_ms=round(latency_ms, 3),
        driver_ray_version=ray.__version__,
        driver_flowray_version=getattr(flowray, "__version__", "unknown"),
        **answer,
    )


def health_check_nodes(timeout: float = 60.0) -> list[HealthCheck]:
    """One probe per alive node, so a node with a broken install shows up by name."""
    ensure_connected()
    nodes = [n["NodeID"] for n in _ray().nodes() if n.get("Alive")]
    return [health_check(timeout=timeout, node_id=node) for node in nodes]


_PENDING_STATES = {
    "NIL",
    "PENDING_ARGS_AVAIL",
    "PENDING_NODE_ASSIGNMENT",
    "PENDING_OBJ_STORE_MEM_AVAIL",
    "PENDING_ARGS_FETCH",
    "SUBMITTED_TO_WORKER",
}
_RUNNING_STATES = {"RUNNING", "RUNNING_IN_RAY_GET", "RUNNING_IN_RAY_WAIT"}


def list_flowray_tasks(name: str | None = None, limit: int = 10_000) -> list[Any]:
    """Task states from Ray's state API: every `flowray.*` task, or those named `name`.

    Needs the dashboard process (a cluster's head has one; a local Ray only
    with `connect(dashboard=True)`); raises FlowrayError otherwise.
    """
    ensure_connected()
    from ray.util.state import list_tasks

    filters: list[tuple[str, str, str | bool | int | float]] | None = (
        [("name", "=", name)] if name else None
    )
    try:
        tasks = list_tasks(
            address=CLUSTER.state_api_address,
            filters=filters,
            limit=limit,
            raise_on_missing_output=False,
            timeout=30,
        )
    except Exception as exc:
        raise FlowrayError(
            f"Ray's state API is not reachable ({type(exc).__name__}); it needs the dashboard "
            "process: connect(dashboard=True) for a local Ray, or forward port 8265 of a cluster"
        ) from exc
    return [t for t in tasks if (t.name or "").startswith(TASK_PREFIX)]


def _object_store_used(nodes: Sequence[dict[str, Any]]) -> int | None:
    """Bytes in the object stores of all nodes (as `ray memory --stats-only`), if reachable.

    Asks one alive raylet (it gathers every node's numbers); a node that just
    died may still be listed alive, so the next one is tried.
    """
    try:
        from ray._private.internal_api import get_memory_info_reply, get_state_from_address
    except ImportError:  # pragma: no cover - private API moved
        return None
    if CLUSTER.info is not None and CLUSTER.info.client_mode:
        return None  # raylets are not reachable through Ray Client
    state = None
    try:
        state = get_state_from_address(CLUSTER.state_api_address)
        for node in nodes:
            if not node.get("Alive"):
                continue
            try:
                reply = get_memory_info_reply(
                    state,
                    node_manager_address=node["NodeManagerAddress"],
                    node_manager_port=node["NodeManagerPort"],
                    timeout_seconds=5.0,
                )
                return int(reply.store_stats.object_store_bytes_used)
            except Exception:
                log.debug("object store stats from %s failed", node.get("NodeID"), exc_info=True)
    except Exception:
        log.debug("object store stats unavailable", exc_info=True)
    finally:
        if state is not None:
            with contextlib.suppress(Exception):
                state.disconnect()
    return None


def cluster_status() -> ClusterStatus:
    """Nodes alive and dead, CPUs in total and in use, object store use, flowray tasks."""
    info = ensure_connected()
    ray = _ray()
    nodes = ray.nodes()
    total = ray.cluster_resources()
    free = ray.available_resources()
    cpus_total = float(total.get("CPU", 0.0))
    cpus_in_use = max(0.0, cpus_total - float(free.get("CPU", 0.0)))
    store_total = int(total.get("object_store_memory", 0))
    counts = {"pending": 0, "running": 0, "finished": 0, "failed": 0, "cancelled": 0}
    source = "state_api"
    try:
        for task in list_flowray_tasks():
            state = str(task.state)
            if state in _RUNNING_STATES:
                counts["running"] += 1
            elif state == "FINISHED":
                counts["finished"] += 1
            elif state == "FAILED" and str(getattr(task, "error_type", "")) == "TASK_CANCELLED":
                counts["cancelled"] += 1  # Ray reports a cancelled task as FAILED
            elif state == "FAILED":
                counts["failed"] += 1
            elif state in _PENDING_STATES:
                counts["pending"] += 1
    except FlowrayError:
        source = "driver"  # no state API: this driver's own jobs only
        for job in _pump.active():
            with job._lock:
                running = min(len(job._inflight), int(cpus_total) or 1)
                counts["running"] += running
                counts["pending"] += len(job._inflight) - running + job._n_tasks - job._next
                counts["finished"] += job._tasks_done
        counts["finished"] += _pump.finished_tasks
    node_rows = tuple(
        {
            "node_id": n["NodeID"],
            "address": n.get("NodeManagerAddress"),
            "alive": bool(n.get("Alive")),
            "cpus": float(n.get("Resources", {}).get("CPU", 0.0)),
        }
        for n in nodes
    )
    return ClusterStatus(
        address=info.address,
        nodes_alive=sum(1 for n in nodes if n.get("Alive")),
        nodes_dead=sum(1 for n in nodes if not n.get("Alive")),
        cpus_total=cpus_total,
        cpus_in_use=cpus_in_use,
        object_store_bytes_total=store_total,
        object_store_bytes_used=_object_store_used(nodes),
        tasks_pending=counts["pending"],
        tasks_running=counts["running"],
        tasks_finished=counts["finished"],
        tasks_failed=counts["failed"],
        tasks_cancelled=counts["cancelled"],
        tasks_source=source,
        jobs_active=len(_pump.active()),
        dashboard_url=info.dashboard_url,
        nodes=node_rows,
    )


# -- who can reach the cluster's ports -----------------------------------------


@dataclass(frozen=True)
class RayListener:
    """One listening TCP socket of a Ray process on this machine."""

    address: str  # the bound address: 127.0.0.1, ::ffff:127.0.0.1, 0.0.0.0, ::, 10.0.0.5 ...
    port: int
    pid: int
    process: str

    @property
    def exposed(self) -> bool:
        """Reachable from other machines: bound to a wildcard or to a non-loopback address."""
        return not is_loopback(self.address)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches: 127.0.0.0/8, ::1, or IPv4-mapped loopback."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host == "localhost"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def exposed_listeners(listeners: Iterable[RayListener]) -> list[RayListener]:
    """The listeners other machines can reach, by port: what `flowray cluster status` warns about."""
    return sorted((x for x in listeners if x.exposed), key=lambda x: (x.port, x.pid, x.address))


def _session_processes() -> list[Any]:
    """This machine's processes of the connected cluster.

    They are this driver, every process whose command line names the cluster's
    session (the session folder is in the GCS's, raylets', dashboard's and
    monitors' arguments, for every node started on this machine), and their
    children (workers and agents rename themselves `ray::...`). Empty through
    Ray Client, whose cluster runs elsewhere.
    """
    import psutil

    node = getattr(_ray()._private.worker.global_worker, "node", None)
    session = getattr(node, "session_name", None)
    if not session:
        return []
    me = psutil.Process()
    found: dict[int, Any] = {me.pid: me}
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(session in part for part in proc.info["cmdline"] or ()):
                found[proc.pid] = proc
                found.update({c.pid: c for c in proc.children(recursive=True)})
    return list(found.values())


def ray_listeners() -> list[RayListener]:
    """Every listening TCP socket of the connected cluster's processes on this machine."""
    import psutil

    ensure_connected()
    rows: set[RayListener] = set()
    for proc in _session_processes():
        with contextlib.suppress(psutil.Error):
            name = proc.name()
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr:
                    rows.add(RayListener(conn.laddr.ip, conn.laddr.port, proc.pid, name))
    return sorted(rows, key=lambda x: (x.port, x.pid, x.address))


def _warm_worker(hold_s: float) -> int:
    """Runs on a worker: load the engine's compiled kernel, then hold the CPU a moment."""
    from flowray.core.engine import Chunk, Question, simulate_chunks
    from flowray.core.scenario import Scenario

    simulate_chunks(Scenario(throughput=[1, 2, 3], backlog=5), 0, [Chunk(0, 256)], Question())
    time.sleep(hold_s)
    return os.getpid()


def warm_up(timeout: float = 120.0, *, hold_seconds: float = 0.5) -> int:
    """Load the engine's kernel in one worker per CPU (before timing anything, or while a
    page is read, so the first forecast does not pay for it).

    Each probe holds its CPU for `hold_seconds`, so the probes land on distinct
    worker processes and each pays its numba load/compile once. Returns the
    number of distinct warm workers.
    """
    ensure_connected()
    ray = _ray()
    n = max(1, int(_cluster_cpus()))
    runner = _remote_runner().options(name=f"{TASK_PREFIX}warmup", num_cpus=1)
    pids: set[int] = set()
    for _ in range(3):
        pids |= set(
            ray.get([runner.remote(_warm_worker, hold_seconds) for _ in range(n)], timeout=timeout)
        )
        if len(pids) >= n:
            break
    return len(pids)


__all__ = [
    "CLUSTER",
    "RAY",
    "TASK_PREFIX",
    "Cluster",
    "RayEngine",
    "RayJob",
    "RayListener",
    "active_jobs",
    "cluster_info",
    "cluster_status",
    "connect",
    "ensure_connected",
    "exposed_listeners",
    "health_check",
    "health_check_nodes",
    "is_connected",
    "is_loopback",
    "list_flowray_tasks",
    "local_ray_temp_dir",
    "ray_listeners",
    "share",
    "shutdown",
    "submit_job",
    "warm_up",
]
