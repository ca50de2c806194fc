"""`flowray connect TRACKER` (save where a project's items come from) and `flowray sync`.

Each tracker is one `TrackerCommand`: its options and how they become the
source's settings. GitHub and Jira are defined here; a newer tracker (Azure
DevOps, Linear) is one more module in `TRACKER_MODULES` exposing `COMMAND`, and
nothing else here changes. Tokens are
never options: they are read from the environment (see docs/connectors.md).
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowray.cli.store_cmds import add_db_option, db_path, require_ledger


@dataclass(frozen=True)
class TrackerCommand:
    """One `flowray connect <name>` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    settings: Callable[[argparse.Namespace], dict[str, Any]]
    secrets: str  # shown in --help: which variables hold the token


def _github_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, help="OWNER/NAME")
    parser.add_argument(
        "--api-url",
        default=None,
        help="API root for GitHub Enterprise, e.g. https://github.example.com/api/v3",
    )
    parser.add_argument(
        "--items",
        choices=("pulls", "issues", "both"),
        default="pulls",
        help="count merged pull requests (default), closed issues, or both",
    )


def _github_settings(args: argparse.Namespace) -> dict[str, Any]:
    from flowray.connectors.github import settings_for

    return settings_for(args.repo, args.api_url, args.items)


def _jira_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="site, e.g. https://acme.atlassian.net")
    parser.add_argument("--jql", required=True, help='query, e.g. "project = FLOW"')
    parser.add_argument(
        "--flavor",
        choices=("cloud", "datacenter"),
        default=None,
        help="API flavour (default: cloud for *.atlassian.net, else datacenter)",
    )
    parser.add_argument(
        "--epic-field", default=None, help="Data Center's Epic Link field id (customfield_NNNNN)"
    )


def _jira_settings(args: argparse.Namespace) -> dict[str, Any]:
    from flowray.connectors.jira import settings_for

    return settings_for(args.url, args.jql, args.flavor, args.epic_field)


TRACKERS: list[TrackerCommand] = [
    TrackerCommand(
        "github",
        "a GitHub repository: merged pull requests and/or closed issues",
        _github_arguments,
        _github_settings,
        "GITHUB_TOKEN (or GITHUB_TOKEN_FILE); optional for public repositories",
    ),
    TrackerCommand(
        "jira",
        "a Jira Cloud or Data Center query (JQL)",
        _jira_arguments,
        _jira_settings,
        "JIRA_API_TOKEN (or JIRA_API_TOKEN_FILE), with JIRA_EMAIL for Cloud",
    ),
]

# Modules that add a tracker: each exposes `COMMAND: TrackerCommand`.
TRACKER_MODULES: tuple[str, ...] = ("flowray.cli.connect_ado", "flowray.cli.connect_linear")


def trackers() -> list[TrackerCommand]:
    found = list(TRACKERS)
    for name in TRACKER_MODULES:
        found.append(importlib.import_module(name).COMMAND)
    return found


def _connect(args: argparse.Namespace) -> int:
    from flowray.pipeline.sync import connect_source

    command: TrackerCommand = args.tracker
    settings = command.settings(args)
    source = connect_source(
        args.project, command.name, settings, db_path(args), workflow_file=args.workflow
    )
    if args.json:
        print(json.dumps(source.to_dict(), indent=2))
        return 0
    print(f"project {source.project!r} now reads {command.name} (source {source.source_id})")
    for key, value in sorted(source.settings.items()):
        print(f"  {key}: {value}")
    if source.workflow:
        for category, names in sorted(source.workflow.items()):
            print(f"  workflow {category}: {', '.join(names)}")
    print(f"run `flowray sync --project {source.project}` to read its items")
    return 0


def _sync(args: argparse.Namespace) -> int:
    from flowray.pipeline.sync import sync_all, sync_project

    require_ledger(args)
    where = db_path(args)
    report = (
        sync_project(args.project, where, full=args.full)
        if args.project
        else sync_all(where, full=args.full)
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1
    if not report.outcomes:
        target = f"project {args.project!r} has" if args.project else "the ledger has"
        print(f"{target} no tracker source: add one with `flowray connect github|jira|ado|linear`")
        return 0
    for outcome in report.outcomes:
        print(f"{outcome.project}: {outcome.description}")
        if outcome.error:
            print(f"  FAILED: {outcome.error}")
            continue
        applied = outcome.applied
        assert applied is not None
        print(
            f"  {applied.received} items read in {outcome.pages} page(s): {applied.added} new, "
            f"{applied.changed} changed, {applied.unchanged} unchanged"
        )
        if applied.newly_done:
            print(
                f"  {len(applied.newly_done)} done since the last sync: "
                + ", ".join(_few(applied.newly_done))
            )
        if applied.reopened:
            print(
                f"  {len(applied.reopened)} re-opened (no longer counted): "
                + ", ".join(_few(applied.reopened))
            )
        history = applied.history
        if history is None:
            print("  no done items yet: the throughput is unchanged")
        elif history.revision is None and history.before == history.after:
            print(f"  throughput unchanged: {history.after.describe()}")
        else:
            print(f"  throughput: {history.before.describe()} -> {history.after.describe()}")
            if history.revision is not None:
                print(f"  the previous history is kept as revision {history.revision}")
    return 0 if report.ok else 1


def _few(keys: list[str], limit: int = 10) -> list[str]:
    return keys if len(keys) <= limit else [*keys[:limit], f"and {len(keys) - limit} more"]


def register(subparsers: argparse._SubParsersAction) -> None:
    connect = subparsers.add_parser(
        "connect",
        help="read a project's work items from a tracker (GitHub, Jira, Azure DevOps, Linear)",
        description="Save where a project's work items come from; `flowray sync` reads them. "
        "Tokens are read from environment variables, never from the command line.",
    )
    kinds = connect.add_subparsers(dest="connect_command", metavar="TRACKER")
    kinds.required = True
    for command in trackers():
        parser = kinds.add_parser(
            command.name,
            help=command.help,
            description=f"Connect a project to {command.help}. Token: {command.secrets}.",
        )
        parser.add_argument("--project", required=True, help="project name (created if new)")
        command.add_arguments(parser)
        parser.add_argument(
            "--workflow",
            type=Path,
            default=None,
            help="TOML file whose [workflow] table maps states to todo / started / done",
        )
        add_db_option(parser)
        parser.add_argument("--json", action="store_true", help="print the saved source as JSON")
        parser.set_defaults(handler=_connect, tracker=command)

    sync = subparsers.add_parser(
        "sync",
        help="read what changed in the connected trackers and update throughput",
        description="Read every item updated since the last sync (all of them with --full), "
        "store them in one transaction and re-derive weekly throughput. A failure changes "
        "nothing and names the page; the exit status is then 1.",
    )
    sync.add_argument("--project", default=None, help="only this project (default: all)")
    sync.add_argument("--full", action="store_true", help="read everything, not only changes")
    add_db_option(sync)
    sync.add_argument("--json", action="store_true", help="print what changed as JSON")
    sync.set_defaults(handler=_sync)
