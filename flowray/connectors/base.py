"""The common interface of tracker connectors: one item shape, one workflow map, one protocol.

Every connector (GitHub, Jira, Azure DevOps, Linear) turns its
tracker's records into `TrackerItem`s and yields them a page at a time, so a sync
can name the page that failed and keep nothing half-read. Which of a tracker's
states count as "started" and "done" is the `WorkflowMap`'s business, not the
connector's: teams rename and add states, and a forecast is only as good as the
done dates it counts.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from flowray.exceptions import FlowrayError, InputError

TODO, STARTED, DONE = "todo", "started", "done"
CATEGORIES = (TODO, STARTED, DONE)


# -- errors -----------------------------------------------------------------------------------


class TrackerError(FlowrayError):
    """A tracker could not be read. `page` is the URL that failed, with no secret in it."""

    def __init__(self, message: str, page: str | None = None) -> None:
        self.page = page
        self.message = message
        super().__init__(f"{message} (page: {page})" if page else message)


class TrackerAuthError(TrackerError):
    """401: the token is missing, wrong or expired."""


class TrackerForbidden(TrackerError):
    """403: the token works but may not read this resource."""


class TrackerNotFound(TrackerError):
    """404: the repository, site or project does not exist (or is hidden from this token)."""


class TrackerBadQuery(TrackerError):
    """400: the tracker refused the query (a JQL typo, an unknown field)."""


class TrackerMalformedResponse(TrackerError):
    """The answer was not the JSON the documented API returns."""


class TrackerRateLimited(TrackerError):
    """The rate limit is spent and resets later than the connector is willing to wait."""


class TrackerUnavailable(TrackerError):
    """5xx, 429 or network failures persisted through every retry."""


# -- items ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    """One change of status, as the tracker's history records it (UTC)."""

    at: dt.datetime
    to_status: str
    to_category: str | None = None  # the tracker's own category (Jira's statusCategory), if any


@dataclass(frozen=True)
class TrackerItem:
    """One work item as any tracker describes it; times are aware UTC datetimes.

    `started` is the first transition into a started state; `done` the last
    transition into a done state, or None when the item was re-opened since
    (a re-opened item is work in progress again, not throughput).
    """

    key: str
    title: str
    item_type: str
    status: str
    created: dt.datetime
    updated: dt.datetime
    started: dt.datetime | None = None
    done: dt.datetime | None = None
    parent_key: str | None = None
    labels: tuple[str, ...] = ()

    @property
    def started_on(self) -> dt.date | None:
        return self.started.astimezone(dt.UTC).date() if self.started else None

    @property
    def done_on(self) -> dt.date | None:
        return self.done.astimezone(dt.UTC).date() if self.done else None


def as_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (a naive one is taken to be UTC already)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_tracker_time(field_name: str, value: Any, page: str | None = None) -> dt.datetime:
    """An ISO 8601 timestamp as trackers write them ('2025-01-06T09:00:00Z', '...000+0000')."""
    if not isinstance(value, str):
        raise TrackerMalformedResponse(f"{field_name} is {value!r}, not a timestamp", page)
    try:
        return as_utc(dt.datetime.fromisoformat(value.strip()))
    except ValueError:
        raise TrackerMalformedResponse(
            f"{field_name} is {value!r}, not an ISO 8601 timestamp", page
        ) from None


# -- workflow ---------------------------------------------------------------------------------


def _names(field_name: str, values: Any) -> frozenset[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InputError(field_name, values, "must be a list of state names")
    names = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InputError(field_name, value, "must be a non-empty state name")
        names.append(value.strip().casefold())
    return frozenset(names)


@dataclass(frozen=True)
class WorkflowMap:
    """Which tracker states (or state categories) are to-do, started and done.

    A state's own name wins (case-insensitive); otherwise the tracker's category
    (Jira: new / indeterminate / done); otherwise `default`. Overrides replace the
    listed names only, so a team that adds "In QA" to started keeps the rest.
    """

    source: str
    states: Mapping[str, str] = field(default_factory=dict)  # casefolded name -> category
    categories: Mapping[str, str] = field(default_factory=dict)  # tracker category -> category
    default: str = TODO

    def category(self, status: str, tracker_category: str | None = None) -> str:
        named = self.states.get(status.strip().casefold())
        if named is not None:
            return named
        if tracker_category is not None:
            by_category = self.categories.get(tracker_category.strip().casefold())
            if by_category is not None:
                return by_category
        return self.default

    def with_overrides(self, overrides: Mapping[str, Any]) -> WorkflowMap:
        """This map with `{"todo": [...], "started": [...], "done": [...]}` laid over it."""
        if not isinstance(overrides, Mapping):
            raise InputError("workflow", overrides, "must be a table of todo / started / done")
        unknown = sorted(set(overrides) - set(CATEGORIES))
        if unknown:
            raise InputError("workflow", unknown[0], f"must be one of {', '.join(CATEGORIES)}")
        states = dict(self.states)
        seen: dict[str, str] = {}
        for category in CATEGORIES:
            for name in _names(f"workflow.{category}", overrides.get(category, ())):
                if name in seen:
                    raise InputError(
                        f"workflow.{category}", name, f"is already listed under {seen[name]}"
                    )
                seen[name] = category
                states[name] = category
        return WorkflowMap(self.source, states, dict(self.categories), self.default)

    def overrides(self, base: WorkflowMap) -> dict[str, list[str]]:
        """The names where this map differs from `base`: what a source stores, and replays."""
        out: dict[str, list[str]] = {}
        for name, category in sorted(self.states.items()):
            if base.states.get(name) != category:
                out.setdefault(category, []).append(name)
        return out

    def dates(
        self,
        status: str,
        transitions: Sequence[Transition],
        *,
        status_category: str | None = None,
        created: dt.datetime | None = None,
        resolved: dt.datetime | None = None,
    ) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(started, done) from the status history.

        started: the first transition into a started or done state (work skipped
        straight to done still started then); done: the last transition into a done
        state, kept only while the current status is done, so a re-opened item is
        open again. When the history has no transition into done (an item created
        done, or a history cut short), `resolved` stands in.
        """
        ordered = sorted(transitions, key=lambda t: t.at)
        started = next(
            (t.at for t in ordered if self.category(t.to_status, t.to_category) != TODO), None
        )
        if self.category(status, status_category) != DONE:
            return started, None
        done = next(
            (t.at for t in reversed(ordered) if self.category(t.to_status, t.to_category) == DONE),
            None,
        )
        done = done or resolved
        if done is None and created is not None and not ordered:
            done = created  # created directly in a done state, with no history at all
        return started, done


def workflow_from_toml(path: str | Path, base: WorkflowMap) -> WorkflowMap:
    """`base` with the `[workflow]` table of a TOML file laid over it.

    ```toml
    [workflow]
    todo = ["Backlog", "Selected for Development"]
    started = ["In Progress", "In Review", "In QA"]
    done = ["Done", "Released"]
    ```
    A `[workflow.<source>]` table (e.g. `[workflow.jira]`) wins over `[workflow]`,
    so one file can serve several trackers.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError("workflow_file", str(path), "must be an existing TOML file")
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError("workflow_file", str(path), f"is not valid TOML: {exc}") from None
    table = data.get("workflow")
    if not isinstance(table, dict):
        raise InputError("workflow_file", str(path), "must have a [workflow] table")
    specific = table.get(base.source)
    chosen = specific if isinstance(specific, dict) else table
    chosen = {k: v for k, v in chosen.items() if not isinstance(v, dict)}
    return base.with_overrides(chosen)


# -- the protocol -----------------------------------------------------------------------------


@runtime_checkable
class Connector(Protocol):
    """What every tracker connector offers the sync.

    `fetch(since)` yields pages of items updated at or after `since` (everything
    when None), in the tracker's own page order; `description` says what is read
    (site, repository, query) and never holds a secret; `kind` names the tracker.
    """

    kind: str

    @property
    def description(self) -> str: ...

    def fetch(self, since: dt.datetime | None) -> Iterator[list[TrackerItem]]: ...
