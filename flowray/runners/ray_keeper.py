"""The dashboards' shared local Ray, owned by a small process of its own.

`flowray dashboard` serves at once and starts Ray alongside: Ray takes 10-20 s
to start and the pages need it only when someone presses Run. Ray cannot start
in a thread of the server (its C++ core then takes over SIGTERM, and its
processes die with the thread that started them), so a child process owns it:

- it starts a private local Ray exactly as a forecast would (`tasks.connect`),
  publishes the address at `--address-file` (0600, written whole) or the reason
  Ray did not start, and prints one line the operator can read;
- it keeps Ray until its stdin closes: the server closes it when it stops, and
  the kernel closes it for us if the server is killed, so Ray never outlives
  the server;
- it runs in its own session, so a Ctrl+C in the terminal reaches the server,
  which then stops the kernels before it stops Ray.

Kernels are told FLOWRAY_RAY_ADDRESS_FILE and wait for the address when they
first need Ray (`tasks.wait_for_published_address`).

    python -m flowray.runners.ray_keeper --address-file PATH [--ray-dashboard]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

RAY_NICENESS = 5
"""How much lower the CPU priority of the shared Ray is than the server's (see `main`)."""

STOP_TIMEOUT_S = 60.0
"""How long the server waits for Ray to stop before it kills the keeper."""


class RayKeeper:
    """The running keeper process, as the server sees it."""

    def __init__(self, address_file: Path, *, ray_dashboard: bool = False) -> None:
        self.address_file = address_file
        command = [sys.executable, "-m", "flowray.runners.ray_keeper"]
        command += ["--address-file", str(address_file)]
        if ray_dashboard:
            command.append("--ray-dashboard")
        # stdout / stderr are the server's: the keeper's lines land in the same log.
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, start_new_session=True)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Close the keeper's stdin (it stops Ray and exits); kill it if it does not.

        A keeper still starting Ray (nothing published yet) reads its stdin only
        once the start ends, which can take minutes on a loaded machine, and a
        half-started Ray may already have taken its SIGTERM: it is killed at once,
        and Ray's half-started processes end with it (they watch their parent).
        """
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        if self.process.poll() is None and not self.address_file.exists():
            self.process.kill()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


def start_ray_keeper(address_file: Path, *, ray_dashboard: bool = False) -> RayKeeper:
    """Start the process that owns the dashboards' shared Ray; it publishes at `address_file`."""
    return RayKeeper(address_file, ray_dashboard=ray_dashboard)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Own the dashboards' shared local Ray.")
    parser.add_argument("--address-file", type=Path, required=True)
    parser.add_argument("--ray-dashboard", action="store_true")
    args = parser.parse_args(argv)
    # Ray's start-up (and its processes, which inherit this) yields the CPU to the server
    # and the page kernels: a page opened while Ray starts renders without waiting on it.
    os.nice(RAY_NICENESS)
    from flowray import pipeline

    return pipeline.keep_shared_cluster(
        args.address_file, ray_dashboard=args.ray_dashboard, until=sys.stdin
    )


if __name__ == "__main__":
    sys.exit(main())
