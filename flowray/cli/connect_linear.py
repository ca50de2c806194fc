"""`flowray connect linear`: a project's work items from one Linear team."""

from __future__ import annotations

import argparse
from typing import Any

from flowray.cli.connect_cmds import TrackerCommand


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--team", required=True, help="team key, e.g. ENG")
    parser.add_argument(
        "--api-url", default=None, help="GraphQL endpoint (default: https://api.linear.app/graphql)"
    )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    from flowray.connectors.linear import settings_for

    return settings_for(args.team, args.api_url)


COMMAND = TrackerCommand(
    "linear",
    "the issues of one Linear team",
    _arguments,
    _settings,
    "LINEAR_API_KEY (or LINEAR_API_KEY_FILE): a personal API key",
)
