"""Keeping a project's work items in step with its tracker: connect once, sync every week.

`connect_source` checks the settings by building the connector (and nothing is
read yet); `sync_project` reads every page updated since the last sync, and
only when every page has arrived writes them in one transaction: a failure on
page 7 writes nothing and names page 7. The throughput is then re-derived from
all the project's done items, like `flowray import items` does, so a forecast
sees the tracker's current state; the history it replaces is kept as a revision.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowray.connectors import connector_for, default_workflow
from flowray.connectors.base import Connector, TrackerError, TrackerItem, workflow_from_toml
from flowray.exceptions import FlowrayError
from flowray.pipeline.workspace import Where, workspace_of
from flowray.records.sources import Source, SyncApplied, SyncedItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncOutcome:
    """One source's sync: what it applied, or the error that left the project unchanged."""

    project: str
    kind: str
    description: str
    pages: int = 0
    applied: SyncApplied | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "kind": self.kind,
            "source": self.description,
            "pages": self.pages,
            "ok": self.ok,
            "error": self.error,
            "applied": self.applied.to_dict() if self.applied else None,
        }


@dataclass
class SyncReport:
    outcomes: list[SyncOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[SyncOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "sources": [o.to_dict() for o in self.outcomes]}


def connect_source(
    project: str,
    kind: str,
    settings: Mapping[str, Any],
    where: Where = None,
    *,
    workflow_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Source:
    """Save (or update) the project's `kind` source after checking it can be built.

    `settings` come from the connector module's `settings_for` (never a secret);
    `workflow_file` is a TOML file whose `[workflow]` table overrides the
    tracker's default map. The token variables must be set: a source that cannot
    authenticate is refused now rather than at 2 a.m. in the batch.
    """
    base = default_workflow(kind)
    workflow = workflow_from_toml(workflow_file, base) if workflow_file else base
    connector_for(kind, settings, workflow, environ=environ)  # checks settings and secrets
    return workspace_of(where).store.connect_source(
        project, kind, settings, workflow.overrides(base)
    )


def build_connector(
    source: Source, *, environ: Mapping[str, str] | None = None, **options: Any
) -> Connector:
    """The connector a stored source describes, with its workflow overrides."""
    workflow = default_workflow(source.kind).with_overrides(source.workflow)
    return connector_for(source.kind, source.settings, workflow, environ=environ, **options)


def synced_item(item: TrackerItem) -> SyncedItem:
    """A tracker item in the store's terms: dates and naive times in UTC."""
    return SyncedItem(
        item_id=item.key,
        title=item.title,
        item_type=item.item_type,
        status=item.status,
        started_on=item.started_on,
        done_on=item.done_on,
        parent_key=item.parent_key,
        labels=tuple(item.labels),
        created_at=item.created.astimezone(dt.UTC).replace(tzinfo=None),
        updated_at=item.updated.astimezone(dt.UTC).replace(tzinfo=None),
    )


def sync_source(
    source: Source,
    where: Where = None,
    *,
    full: bool = False,
    connector: Connector | None = None,
    environ: Mapping[str, str] | None = None,
    today: dt.date | None = None,
    **options: Any,
) -> SyncOutcome:
    """Read one source (incrementally unless `full`) and apply it in one transaction.

    Tracker and input errors are caught and returned in the outcome (the project
    is then unchanged); anything else is a bug and propagates.
    """
    try:
        reader = connector or build_connector(source, environ=environ, **options)
    except FlowrayError as exc:
        return SyncOutcome(source.project, source.kind, source.kind, error=str(exc))
    description = reader.description
    items: list[TrackerItem] = []
    pages = 0
    try:
        for page in reader.fetch(None if full else source.since):
            pages += 1
            items.extend(page)
        cursor = max((i.updated for i in items), default=None)
        applied = workspace_of(where).store.apply_sync(
            source.source_id,
            [synced_item(i) for i in items],
            cursor=cursor.astimezone(dt.UTC).replace(tzinfo=None) if cursor else None,
            today=today,
        )
    except (TrackerError, FlowrayError) as exc:
        note = f"{exc}; nothing was changed ({pages} page{'s' if pages != 1 else ''} read)"
        return SyncOutcome(source.project, source.kind, description, pages, error=note)
    return SyncOutcome(source.project, source.kind, description, pages, applied)


def sync_project(project: str, where: Where = None, **kwargs: Any) -> SyncReport:
    """Sync every source of one project."""
    store = workspace_of(where).store
    return SyncReport([sync_source(s, where, **kwargs) for s in store.list_sources(project)])


def sync_all(where: Where = None, **kwargs: Any) -> SyncReport:
    """Sync every source of every project; one failing source leaves the others to finish."""
    store = workspace_of(where).store
    return SyncReport([sync_source(s, where, **kwargs) for s in store.list_sources()])


def has_sources(where: Where = None) -> bool:
    return bool(workspace_of(where).store.list_sources())


def sync_before_batch(
    where: Where = None, enabled: bool | None = None, project_filter: str = "", **options: Any
) -> list[str]:
    """Sync the sources of the projects a batch is about to forecast; the failures, as lines.

    `enabled=None` syncs when there are sources. A failed sync leaves the
    project's stored items as they were: the batch still forecasts them, and
    each returned line says the forecast uses stale data (the batch reports it
    as a failure, so it exits non-zero).
    """
    if enabled is False:
        return []
    store = workspace_of(where).store
    chosen = [
        s
        for s in store.list_sources()
        if not project_filter or project_filter.lower() in s.project.lower()
    ]
    failures = []
    for source in chosen:
        outcome = sync_source(source, where, **options)
        if not outcome.ok:
            line = (
                f"{source.project}: sync of {outcome.description} failed: {outcome.error}; "
                "forecast on the items stored before (stale)"
            )
            log.warning("%s", line)
            failures.append(line)
    return failures
