"""The Azure DevOps connector against a local server answering like REST API 7.1."""

from __future__ import annotations

import base64
import datetime as dt
import logging

import pytest

from flowray.connectors.ado import (
    AdoConnector,
    TrackerQueryTooLarge,
    check_wiql,
    default_workflow,
    incremental_wiql,
    settings_for,
)
from flowray.connectors.base import (
    TrackerAuthError,
    TrackerBadQuery,
    TrackerMalformedResponse,
    TrackerUnavailable,
)
from flowray.connectors.http import Secret
from flowray.exceptions import InputError

from .conftest import Reply
from .payloads import ADO_API, ADO_ORG, ADO_PROJECT, AdoItem, serve_ado

PAT = "ado5pat7x2mq9vnotshown4kq8zl1w3r6t0y"
UTC = dt.UTC
WIQL = "SELECT [System.Id] FROM WorkItems WHERE [System.WorkItemType] = 'User Story'"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def connector(tracker, sleeps, **kwargs) -> AdoConnector:
    return AdoConnector(
        tracker.url + ADO_ORG,
        ADO_PROJECT,
        kwargs.pop("wiql", WIQL),
        token=Secret(PAT, "AZURE_DEVOPS_PAT"),
        sleep=sleeps.append,
        **kwargs,
    )


def story_items() -> list[AdoItem]:
    return [
        AdoItem(
            1,
            "2025-03-01 09:00",
            [("2025-03-03 09:00", "Active"), ("2025-03-06 10:00", "Closed")],
            parent=100,
            tags=("api", "mobile"),
        ),
        # closed, re-activated, active again: work in progress, not throughput
        AdoItem(
            2,
            "2025-03-01 09:00",
            [
                ("2025-03-02 09:00", "Active"),
                ("2025-03-04 09:00", "Closed"),
                ("2025-03-08 09:00", "Active"),
            ],
        ),
        # Resolved is still in progress; closed twice: the last close counts
        AdoItem(
            3,
            "2025-03-01 09:00",
            [
                ("2025-03-02 09:00", "Active"),
                ("2025-03-05 09:00", "Resolved"),
                ("2025-03-06 09:00", "Closed"),
                ("2025-03-07 09:00", "Active"),
                ("2025-03-12 10:00", "Closed"),
            ],
            item_type="Bug",
            parent=100,
            parent_as_link=True,
        ),
        # worked on, then removed: neither started nor done
        AdoItem(
            4, "2025-03-01 09:00", [("2025-03-02 09:00", "Active"), ("2025-03-05 09:00", "Removed")]
        ),
        AdoItem(5, "2025-03-01 09:00", []),
    ]


def test_wiql_ids_then_items_with_their_revisions_and_a_reopened_item(tracker, no_sleep):
    serve_ado(tracker, story_items())
    pages = list(connector(tracker, no_sleep).fetch(None))
    items = {i.key: i for p in pages for i in p}
    assert sorted(items) == ["1", "2", "3", "4", "5"]
    one = items["1"]
    assert (one.started, one.done) == (at("2025-03-03 09:00:00.117"), at("2025-03-06 10:00:00.117"))
    assert one.parent_key == "100" and one.labels == ("api", "mobile")
    assert one.item_type == "User Story" and one.status == "Closed" and one.title == "Work item 1"
    reopened = items["2"]
    assert reopened.done is None and reopened.started == at("2025-03-02 09:00:00.117")
    twice = items["3"]
    assert twice.done == at("2025-03-12 10:00:00.117") and twice.started == at(
        "2025-03-02 09:00:00.117"
    )
    assert twice.parent_key == "100"  # from the Hierarchy-Reverse link
    removed = items["4"]
    assert (removed.started, removed.done) == (None, None)
    assert (items["5"].started, items["5"].done) == (None, None)

    [wiql] = tracker.calls(f"{ADO_API}/wiql")
    assert wiql.query["api-version"] == ["7.1"]
    assert wiql.body == {
        "query": "SELECT [System.Id] FROM WorkItems WHERE ([System.WorkItemType] = 'User Story') "
        "ORDER BY [System.ChangedDate] ASC"
    }
    expected = "Basic " + base64.b64encode(f":{PAT}".encode()).decode()
    assert wiql.headers["authorization"] == expected
    [batch] = tracker.calls(f"{ADO_API}/workitemsbatch")
    assert batch.body["$expand"] == "Relations" and batch.body["errorPolicy"] == "Omit"
    # the states of each work item type are read once per sync
    assert len(tracker.calls(f"{ADO_API}/workitemtypes/User%20Story/states")) == 1


def test_batches_hold_at_most_200_ids_and_revisions_page_by_top_and_skip(tracker, no_sleep):
    items = [
        AdoItem(
            n, "2025-03-01 09:00", [("2025-03-03 09:00", "Active"), ("2025-03-10 09:00", "Closed")]
        )
        for n in range(1, 411)
    ]
    # a long-lived item: 250 edits that leave the state alone, then the moves
    items[0] = AdoItem(
        1,
        "2025-01-01 09:00",
        [("2025-02-01 09:00", "Active"), ("2025-03-10 09:00", "Closed")],
        extra_revisions=250,
    )
    serve_ado(tracker, items)
    pages = list(connector(tracker, no_sleep).fetch(None))
    assert [len(p) for p in pages] == [200, 200, 10]
    sizes = [len(c.body["ids"]) for c in tracker.calls(f"{ADO_API}/workitemsbatch")]
    assert sizes == [200, 200, 10]
    long = [c.query["$skip"] for c in tracker.calls(f"{ADO_API}/workItems/1/revisions")]
    assert long == [["0"], ["200"]]
    first = next(i for p in pages for i in p if i.key == "1")
    assert first.started == at("2025-02-01 09:00:00.117")  # only the second revision page knows


def test_a_500_on_the_second_batch_names_that_batch(tracker, no_sleep):
    items = [AdoItem(n, "2025-03-01 09:00", []) for n in range(1, 251)]
    serve_ado(tracker, items, fail_batch=2)
    fetched = connector(tracker, no_sleep, max_tries=2).fetch(None)
    assert len(next(fetched)) == 200
    with pytest.raises(
        TrackerUnavailable, match=r"HTTP 500 after 2 tries.*workitemsbatch.*\(batch 2\)"
    ):
        next(fetched)


def test_a_429_waits_as_retry_after_says_then_reads(tracker, no_sleep):
    serve_ado(tracker, story_items())
    ok = tracker.routes[("POST", f"{ADO_API}/wiql")][0]
    tracker.on(
        "POST",
        f"{ADO_API}/wiql",
        Reply(429, {"message": "TF400733: request was blocked"}, {"Retry-After": "7"}),
        ok,
    )
    items = [i for p in connector(tracker, no_sleep).fetch(None) for i in p]
    assert len(items) == 5 and no_sleep == [7.0]


def test_an_expired_pat_is_an_auth_error_with_no_secret_in_text_or_logs(tracker, no_sleep, caplog):
    tracker.on("POST", f"{ADO_API}/wiql", Reply(401, {"message": "Unauthorized"}))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TrackerAuthError, match="HTTP 401") as caught:
        list(connector(tracker, no_sleep).fetch(None))
    encoded = base64.b64encode(f":{PAT}".encode()).decode()
    for text in (str(caught.value), *(r.getMessage() for r in caplog.records)):
        assert PAT not in text and encoded not in text


def test_the_sign_in_page_answered_with_203_is_an_auth_error(tracker, no_sleep):
    tracker.on("POST", f"{ADO_API}/wiql", Reply(203, raw=b"<html><title>Sign In</title></html>"))
    with pytest.raises(TrackerAuthError, match="HTTP 203"):
        list(connector(tracker, no_sleep).fetch(None))


def test_malformed_answers_are_named(tracker, no_sleep):
    tracker.on("POST", f"{ADO_API}/wiql", Reply(200, raw=b'{"workItems": [{"id": 1'))
    with pytest.raises(TrackerMalformedResponse, match="not JSON"):
        list(connector(tracker, no_sleep).fetch(None))
    tracker.on("POST", f"{ADO_API}/wiql", Reply(200, {"workItemRelations": []}))
    with pytest.raises(TrackerMalformedResponse, match="no workItems list"):
        list(connector(tracker, no_sleep).fetch(None))


def test_more_than_20000_results_is_a_named_error_with_advice(tracker, no_sleep):
    tracker.on(
        "POST",
        f"{ADO_API}/wiql",
        Reply(
            400,
            {
                "$id": "1",
                "innerException": None,
                "message": "VS402337: The number of work items returned exceeds the size limit of 20000. "
                "Change the query to return fewer items.",
                "typeName": "Microsoft.TeamFoundation.WorkItemTracking.Server.WorkItemTrackingQueryResultSizeLimitExceededException",
                "typeKey": "WorkItemTrackingQueryResultSizeLimitExceededException",
                "errorCode": 0,
                "eventId": 3200,
            },
        ),
    )
    with pytest.raises(TrackerQueryTooLarge, match="more than 20000 work items.*narrow it"):
        list(connector(tracker, no_sleep).fetch(None))


def test_incremental_wiql_adds_a_formatted_changed_date_bound_and_keeps_literals_whole():
    since = dt.datetime(2025, 3, 10, 8, 30, tzinfo=UTC)
    query = (
        "Select [System.Id] From WorkItems Where [System.Title] Contains 'where to order by' "
        "OR [System.State] = 'It''s done' order by [System.Id]"
    )
    assert incremental_wiql(query, since) == (
        "Select [System.Id] From WorkItems WHERE ([System.Title] Contains 'where to order by' "
        "OR [System.State] = 'It''s done') AND [System.ChangedDate] >= '2025-03-09' "
        "ORDER BY [System.ChangedDate] ASC"
    )
    assert incremental_wiql("SELECT [System.Id] FROM WorkItems", since) == (
        "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '2025-03-09' "
        "ORDER BY [System.ChangedDate] ASC"
    )


def test_a_sync_since_a_cursor_sends_the_narrowed_query(tracker, no_sleep):
    serve_ado(tracker, story_items())
    list(connector(tracker, no_sleep).fetch(dt.datetime(2025, 3, 7, 23, 59, tzinfo=UTC)))
    body = tracker.calls(f"{ADO_API}/wiql")[-1].body
    assert "AND [System.ChangedDate] >= '2025-03-06'" in body["query"]


def test_wiql_and_settings_are_checked_and_hold_no_secret():
    assert settings_for("https://dev.azure.com/fabrikam/", "Fabrikam Fiber", WIQL) == {
        "org_url": "https://dev.azure.com/fabrikam",
        "ado_project": "Fabrikam Fiber",
        "wiql": WIQL,
    }
    with pytest.raises(
        InputError, match="wiql: got 'SELECT .*'; must be SELECT ... FROM WorkItems"
    ):
        check_wiql("SELECT [System.Id] FROM WorkItemLinks WHERE [Source].[System.Id] = 1")
    with pytest.raises(InputError, match="must not use ASOF"):
        check_wiql("SELECT [System.Id] FROM WorkItems ASOF '2025-01-01'")
    with pytest.raises(InputError, match="unclosed quoted literal"):
        check_wiql("SELECT [System.Id] FROM WorkItems WHERE [System.Title] = 'x")
    with pytest.raises(InputError, match="ado_project"):
        settings_for("https://dev.azure.com/fabrikam", "a/b", WIQL)
    with pytest.raises(InputError, match="org_url.*must use https"):
        settings_for("http://dev.azure.com/fabrikam", "Fiber", WIQL)


def test_the_default_map_knows_the_agile_scrum_and_basic_states():
    workflow = default_workflow()
    assert [workflow.category(s) for s in ("New", "Active", "Resolved", "Closed", "Removed")] == [
        "todo",
        "started",
        "started",
        "done",
        "todo",
    ]
    assert [workflow.category(s) for s in ("Approved", "Committed", "Done")] == [
        "todo",
        "started",
        "done",
    ]
    assert [workflow.category(s) for s in ("To Do", "Doing", "Done")] == ["todo", "started", "done"]
    assert workflow.category("Ready for QA", "InProgress") == "started"  # a custom state
    assert workflow.category("Shipped", "Completed") == "done"


def test_a_refusal_that_echoes_the_raw_pat_keeps_it_out_of_the_error(tracker, no_sleep):
    tracker.on(
        "POST",
        f"{ADO_API}/wiql",
        Reply(400, {"message": f"TF401019: the query for token {PAT} is not valid"}),
    )
    with pytest.raises(
        TrackerBadQuery, match=r"TF401019: the query for token \*\*\* is not"
    ) as caught:
        list(connector(tracker, no_sleep).fetch(None))
    assert PAT not in str(caught.value)


def test_custom_states_fall_in_by_the_category_their_work_item_type_gives_them(tracker, no_sleep):
    states = {
        "count": 4,
        "value": [
            {"name": "New", "color": "b2b2b2", "category": "Proposed"},
            {"name": "Ready for QA", "color": "007acc", "category": "InProgress"},
            {"name": "Shipped", "color": "339933", "category": "Completed"},
            {"name": "Parked", "color": "ffffff", "category": "Removed"},
        ],
    }
    serve_ado(
        tracker,
        [
            AdoItem(
                7,
                "2025-03-01 09:00",
                [("2025-03-04 09:00", "Ready for QA"), ("2025-03-06 09:00", "Shipped")],
            ),
            AdoItem(
                8,
                "2025-03-01 09:00",
                [("2025-03-04 09:00", "Ready for QA"), ("2025-03-06 09:00", "Parked")],
            ),
        ],
        states=states,
    )
    items = {i.key: i for p in connector(tracker, no_sleep).fetch(None) for i in p}
    assert (items["7"].started, items["7"].done) == (
        at("2025-03-04 09:00:00.117"),
        at("2025-03-06 09:00:00.117"),
    )
    assert (items["8"].started, items["8"].done) == (None, None)  # a Removed-category state
