"""Readers of trackers' web APIs (GitHub, Jira, Azure DevOps, Linear), on one interface (`base`) and one client (`http`).

A connector reads; it never writes the store. `connector_for` builds one from a
source's saved settings: adding a tracker is one module and one entry in
`KINDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from flowray.connectors.base import Connector, TrackerItem, WorkflowMap
from flowray.exceptions import InputError

# kind -> module holding `from_settings(settings, workflow, **options) -> Connector`
# and `default_workflow() -> WorkflowMap`
KINDS: dict[str, str] = {
    "github": "flowray.connectors.github",
    "jira": "flowray.connectors.jira",
    "ado": "flowray.connectors.ado",
    "linear": "flowray.connectors.linear",
}


def _module(kind: str) -> Any:
    if kind not in KINDS:
        raise InputError("kind", kind, f"must be one of {', '.join(sorted(KINDS))}")
    return importlib.import_module(KINDS[kind])


def default_workflow(kind: str) -> WorkflowMap:
    """The workflow map that fits `kind`'s standard workflow."""
    result: WorkflowMap = _module(kind).default_workflow()
    return result


def connector_for(
    kind: str,
    settings: Mapping[str, Any],
    workflow: WorkflowMap | None = None,
    **options: Any,
) -> Connector:
    """A connector of `kind` from saved settings (secrets come from the environment)."""
    factory: Callable[..., Connector] = _module(kind).from_settings
    return factory(settings, workflow or default_workflow(kind), **options)


__all__ = ["KINDS", "Connector", "TrackerItem", "WorkflowMap", "connector_for", "default_workflow"]
