"""`flowray connect ado`: a project's work items from an Azure DevOps WIQL query."""

from __future__ import annotations

import argparse
from typing import Any

from flowray.cli.connect_cmds import TrackerCommand


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--org-url",
        required=True,
        help="organization or collection, e.g. https://dev.azure.com/fabrikam "
        "or https://tfs.example.com/tfs/DefaultCollection",
    )
    parser.add_argument(
        "--wiql",
        required=True,
        help="query, e.g. \"SELECT [System.Id] FROM WorkItems WHERE [System.WorkItemType] = 'User Story'\"",
    )
    parser.add_argument(
        "--ado-project",
        default=None,
        help="the Azure DevOps project (default: the same name as --project)",
    )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    from flowray.connectors.ado import settings_for

    return settings_for(args.org_url, args.ado_project or args.project, args.wiql)


COMMAND = TrackerCommand(
    "ado",
    "an Azure DevOps Services or Server query (WIQL)",
    _arguments,
    _settings,
    "AZURE_DEVOPS_PAT (or AZURE_DEVOPS_PAT_FILE): a personal access token with Work Items (Read)",
)
