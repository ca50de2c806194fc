"""The `flowray` console command: one command, subcommands registered by topic modules.

Each module in this package exposes `register(subparsers)` and adds its own
subcommands; handlers return an exit code. Errors a user caused
(`FlowrayError`) print one clear line on stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from flowray.exceptions import FlowrayError
from flowray.text import printable

# Topic modules, in the order their commands appear in --help.
COMMAND_MODULES = (
    "flowray.cli.forecast_cmds",
    "flowray.cli.store_cmds",
    "flowray.cli.cluster_cmds",
    "flowray.cli.backtest_cmds",
    "flowray.cli.app_cmds",
    "flowray.cli.demo_cmds",
    "flowray.cli.batch_cmds",
    "flowray.cli.portfolio_cmds",
    "flowray.cli.portfolios_cmds",
    "flowray.cli.cycle_time_cmds",
    "flowray.cli.connect_cmds",
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


_NEGATIVE_VALUE = re.compile(r"-[0-9.]")


def attach_negative_values(argv: Sequence[str]) -> list[str]:
    """`--risk -0.1:1:2:3` as `--risk=-0.1:1:2:3`, so argparse reads the value, not an option.

    argparse takes any word that starts with "-" for an option unless it is a
    plain negative number; ranges and lists such as "-0.1:1:2:3" or "-5,3" then
    end in "expected one argument". Joined to their option, they reach the
    validators, which name the field and the rule.
    """
    out: list[str] = []
    for word in argv:
        previous = out[-1] if out else ""
        if (
            _NEGATIVE_VALUE.match(word)
            and previous.startswith("--")
            and "=" not in previous
            and len(previous) > 2
        ):
            out[-1] = f"{previous}={word}"
        else:
            out.append(word)
    return out


class PrintableStream:
    """A text stream that writes control characters escaped (newlines and tabs pass through).

    Every line the command prints passes here, so a project, file or column
    name holding ANSI escapes is shown as `\\x1b[31m`, never sent to the terminal raw.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(printable(text, keep="\n\t"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; what it prints goes through `PrintableStream` (restored afterwards)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrintableStream(saved[0]), PrintableStream(saved[1])
    try:
        return _run_command(sys.argv[1:] if argv is None else list(argv))
    finally:
        sys.stdout, sys.stderr = saved


def _run_command(words: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(attach_negative_values(words))
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
