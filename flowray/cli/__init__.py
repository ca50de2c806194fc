"""The `flowray` console command: one command, subcommands registered by topic modules.

Each module in this package exposes `register(subparsers)` and adds its own
subcommands; handlers return an exit code. Errors a user caused
(`FlowrayError`) print one clear line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from flowray.exceptions import FlowrayError

# Topic modules, in the order their commands appear in --help.
COMMAND_MODULES = (
    "flowray.cli.forecast_cmds",
    "flowray.cli.store_cmds",
    "flowray.cli.cluster_cmds",
    "flowray.cli.backtest_cmds",
    "flowray.cli.app_cmds",
    "flowray.cli.demo_cmds",
    "flowray.cli.batch_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowray",
        description="Probabilistic delivery forecasts: when, how many, and how likely.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # topic not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except FlowrayError as exc:
        print(f"flowray {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `flowray when ... --json | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("flowray: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
