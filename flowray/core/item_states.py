"""What a tracker's words say about a work item: delivered, removed, or a container of items.

One list of words for every reader of trackers (CSV exports in `importers/`,
web APIs in `connectors/`), so an item counts as throughput the same way
whichever way it arrives.
"""

from __future__ import annotations

DONE_STATUSES = frozenset(
    {"done", "closed", "complete", "completed", "finished", "released", "shipped", "delivered"}
)
"""Statuses (Jira's status category, Azure DevOps' State, a sheet's status) that mean done.

Azure DevOps' "Resolved" is not among them: it is the state before Closed.
"""

REMOVED_STATUSES = frozenset(
    {
        "removed", "cancelled", "canceled", "rejected", "won't do", "wont do", "won't fix",
        "wont fix", "duplicate", "declined", "abandoned", "obsolete", "withdrawn",
        "cannot reproduce", "not a bug", "cut",
    }
)  # fmt: skip
"""Statuses or resolutions of work that will not be done: never done, never remaining."""

CONTAINER_TYPES = frozenset({"epic", "feature", "initiative"})
"""Work item types that hold items rather than being one: they are never throughput."""


def status_word(text: str | None) -> str:
    """A status, resolution or type as compared: lower case, single spaces, straight apostrophes."""
    return " ".join((text or "").replace("\u2019", "'").lower().split())


def is_removed(status: str | None, resolution: str | None = None) -> bool:
    """True when the status or the resolution says the work will not be done."""
    return bool({status_word(status), status_word(resolution)} & REMOVED_STATUSES)


def is_container(item_type: str | None) -> bool:
    """True for an Epic, Feature or Initiative: it holds items, it is not one."""
    return status_word(item_type) in CONTAINER_TYPES
