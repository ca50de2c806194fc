"""Start-up cost: CPU time of `import flowray` and of `flowray --help`, in fresh processes.

Targets: `import flowray` under 0.5 s and `flowray --help` under 0.3 s of CPU
(user + system of the child process, best of several). Each run is a new
interpreter, so nothing is cached in memory (bytecode caches on disk are warm,
as on any machine after the first start). Prints one JSON object and writes
benchmarks/results/imports.json.

    .venv/bin/python benchmarks/imports.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"import_flowray": 0.5, "flowray_help": 0.3}
COMMANDS = {
    "python_alone": [sys.executable, "-c", "pass"],
    "import_flowray": [sys.executable, "-c", "import flowray"],
    "flowray_help": [
        sys.executable,
        "-c",
        "import sys; from flowray.cli import main; sys.argv = ['flowray', '--help']; main()",
    ],
    "heavy_modules_after_help": [
        sys.executable,
        "-c",
        "import sys, contextlib, io\n"
        "from flowray.cli import build_parser\n"
        "build_parser()\n"
        "print(','.join(m for m in ('numba', 'ray', 'pandas', 'duckdb') if m in sys.modules))",
    ],
}


def child_cpu(command: list[str]) -> tuple[float, str]:
    """CPU seconds (user + system) of one run of `command` in a fresh process, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results: dict[str, object] = {}
    for name, command in COMMANDS.items():
        if name == "heavy_modules_after_help":
            _, output = child_cpu(command)
            loaded = [m for m in output.strip().split(",") if m]
            results[name] = loaded
            continue
        times = sorted(child_cpu(command)[0] for _ in range(args.repeat))
        results[name] = {
            "best_cpu_s": round(times[0], 3),
            "median_cpu_s": round(times[len(times) // 2], 3),
        }
    for name, target in TARGETS.items():
        entry = results[name]
        assert isinstance(entry, dict)
        entry["target_cpu_s"] = target
        entry["met"] = entry["best_cpu_s"] < target
    out = ROOT / "benchmarks" / "results" / "imports.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
