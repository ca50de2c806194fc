"""Syncing from Azure DevOps and Linear: the throughput of a CSV import of the same items,
nothing written on failure, no secret in the ledger, the output or the logs."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random

import pytest

from flowray.cli import main
from flowray.pipeline.sync import connect_source, sync_project
from flowray.store import Store

from .conftest import Reply
from .payloads import (
    ADO_API,
    ADO_ORG,
    ADO_PROJECT,
    LINEAR_PATH,
    AdoItem,
    linear_issue,
    serve_ado,
    serve_linear,
)
from .test_sync import all_text, snapshot

PAT = "adoSyncPat3v9q8NeverShown55xk2"
LINEAR_KEY = "lin_api_SyncKeyNeverShown7Yq4Wm"
WIQL = "SELECT [System.Id] FROM WorkItems WHERE [System.WorkItemType] = 'User Story'"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("AZURE_DEVOPS_PAT", PAT)
    monkeypatch.setenv("LINEAR_API_KEY", LINEAR_KEY)


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def make_ado_items(count: int = 230, seed: int = 11) -> list[AdoItem]:
    """Stories over about 12 weeks, closed at any hour (some at 23:59 UTC); some re-activated,
    removed or still active."""
    rng = random.Random(seed)
    start = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
    items = []
    for n in range(1, count + 1):
        created = start + dt.timedelta(hours=rng.randrange(0, 24 * 80))
        active = created + dt.timedelta(hours=rng.randrange(1, 48))
        closed = active + dt.timedelta(hours=rng.randrange(1, 24 * 6), minutes=rng.choice([0, 59]))
        fate = rng.random()
        walk = [(stamp(active), "Active")]
        if fate < 0.1:
            pass  # still active
        elif fate < 0.15:
            walk.append((stamp(closed), "Removed"))
        elif fate < 0.22:
            walk += [(stamp(closed), "Closed"), (stamp(closed + dt.timedelta(days=1)), "Active")]
        else:
            walk += [(stamp(closed), "Resolved"), (stamp(closed + dt.timedelta(hours=2)), "Closed")]
        items.append(AdoItem(n, stamp(created), walk))
    return items


def done_date(item: AdoItem) -> str | None:
    return item.walk[-1][0][:10] if item.state == "Closed" else None


def import_csv(tmp_path, project: str, rows: list[tuple[str, str]]):
    db = tmp_path / "imported.duckdb"
    csv = tmp_path / "items.csv"
    csv.write_text("item_id,done_date\n" + "".join(f"{k},{d}\n" for k, d in rows))
    assert main(["import", "items", str(csv), "--project", project, "--db", str(db)]) == 0
    return Store(db).get_throughput(project)


def test_an_ado_sync_gives_the_throughput_of_importing_the_same_items_as_csv(
    tracker, env, tmp_path, capsys
):
    items = make_ado_items()
    serve_ado(tracker, items)
    db = tmp_path / "synced.duckdb"
    code = main(
        [
            "connect",
            "ado",
            "--project",
            "fiber",
            "--org-url",
            tracker.url + ADO_ORG,
            "--ado-project",
            ADO_PROJECT,
            "--wiql",
            WIQL,
            "--db",
            str(db),
        ]
    )
    assert code == 0
    capsys.readouterr()
    assert main(["sync", "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    done = [(str(i.ident), done_date(i)) for i in items if done_date(i)]
    from_csv = import_csv(tmp_path, "fiber", done)
    from_sync = Store(db).get_throughput("fiber")
    assert from_sync == from_csv and sum(p.items for p in from_sync) == len(done)
    assert len(tracker.calls(f"{ADO_API}/workitemsbatch")) == 2  # 230 items, 200 a batch
    applied = report["sources"][0]["applied"]
    assert report["ok"] and applied["received"] == len(items) == applied["added"]
    assert PAT not in all_text(db)


def test_an_ado_500_halfway_changes_nothing_and_names_the_batch(tracker, env, tmp_path, no_sleep):
    db = tmp_path / "ledger.duckdb"
    items = make_ado_items()
    serve_ado(tracker, items[:150])
    connect_source(
        "fiber",
        "ado",
        {"org_url": tracker.url + ADO_ORG, "ado_project": ADO_PROJECT, "wiql": WIQL},
        db,
    )
    assert sync_project("fiber", db, sleep=no_sleep.append).ok
    before = snapshot(db)
    serve_ado(tracker, items, fail_batch=2)
    second = sync_project("fiber", db, sleep=no_sleep.append, max_tries=2, full=True)
    error = second.outcomes[0].error
    assert not second.ok and "HTTP 500 after 2 tries" in error and "(batch 2)" in error
    assert "nothing was changed (1 page read)" in error and PAT not in error
    assert snapshot(db) == before


def test_an_expired_ado_token_fails_the_sync_by_name_with_no_secret_anywhere(
    tracker, env, tmp_path, capsys, caplog
):
    db = tmp_path / "ledger.duckdb"
    connect_source(
        "fiber",
        "ado",
        {"org_url": tracker.url + ADO_ORG, "ado_project": ADO_PROJECT, "wiql": WIQL},
        db,
    )
    tracker.on("POST", f"{ADO_API}/wiql", Reply(401, {"message": "Access Denied: expired PAT"}))
    caplog.set_level(logging.DEBUG)
    assert main(["sync", "--db", str(db)]) == 1
    out = capsys.readouterr()
    assert "FAILED: HTTP 401: the token was refused" in out.out and "nothing was changed" in out.out
    for text in (out.out, out.err, *(r.getMessage() for r in caplog.records)):
        assert PAT not in text
    assert Store(db).get_work_items("fiber") == []


def make_linear_pages(count: int = 120, per_page: int = 50, seed: int = 5) -> list[list[dict]]:
    rng = random.Random(seed)
    start = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
    issues = []
    for n in range(1, count + 1):
        created = start + dt.timedelta(hours=rng.randrange(0, 24 * 80))
        began = created + dt.timedelta(hours=rng.randrange(1, 48))
        finished = began + dt.timedelta(hours=rng.randrange(1, 24 * 6), minutes=rng.choice([0, 59]))
        fate = rng.random()
        common = {"created": stamp(created), "updated": stamp(finished), "started": stamp(began)}
        if fate < 0.1:
            issues.append(linear_issue(f"ENG-{n}", state="In Progress", **common))
        elif fate < 0.15:
            issues.append(
                linear_issue(f"ENG-{n}", state="Canceled", canceled=stamp(finished), **common)
            )
        else:
            issues.append(
                linear_issue(f"ENG-{n}", state="Done", completed=stamp(finished), **common)
            )
    return [issues[i : i + per_page] for i in range(0, len(issues), per_page)]


def test_a_linear_sync_gives_the_throughput_of_importing_the_same_items_as_csv(
    tracker, env, tmp_path, capsys
):
    pages = make_linear_pages()
    serve_linear(tracker, pages)
    db = tmp_path / "synced.duckdb"
    args = ["connect", "linear", "--project", "app", "--team", "ENG"]
    assert main([*args, "--api-url", tracker.url + LINEAR_PATH, "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["sync", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "120 items read in 3 page(s)" in out
    done = [(i["identifier"], i["completedAt"][:10]) for p in pages for i in p if i["completedAt"]]
    from_csv = import_csv(tmp_path, "app", done)
    from_sync = Store(db).get_throughput("app")
    assert from_sync == from_csv and sum(p.items for p in from_sync) == len(done)
    assert LINEAR_KEY not in all_text(db)


def test_a_linear_500_on_page_two_changes_nothing_and_names_it(tracker, env, tmp_path, no_sleep):
    db = tmp_path / "ledger.duckdb"
    pages = make_linear_pages()
    serve_linear(tracker, pages[:1])
    connect_source("app", "linear", {"team": "ENG", "api_url": tracker.url + LINEAR_PATH}, db)
    assert sync_project("app", db, sleep=no_sleep.append).ok
    before = snapshot(db)
    serve_linear(tracker, pages, fail_page=2)
    second = sync_project("app", db, sleep=no_sleep.append, max_tries=2, full=True)
    error = second.outcomes[0].error
    assert not second.ok and "graphql (page 2)" in error and LINEAR_KEY not in error
    assert "nothing was changed (1 page read)" in error
    assert snapshot(db) == before


def test_connect_refuses_a_missing_key(tracker, tmp_path, monkeypatch, capsys):
    for name in (
        "LINEAR_API_KEY",
        "LINEAR_API_KEY_FILE",
        "AZURE_DEVOPS_PAT",
        "AZURE_DEVOPS_PAT_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "ledger.duckdb"
    assert main(["connect", "linear", "--project", "app", "--team", "ENG", "--db", str(db)]) == 2
    assert "LINEAR_API_KEY: got None; must be set" in capsys.readouterr().err
    code = main(
        [
            "connect",
            "ado",
            "--project",
            "Fiber",
            "--org-url",
            "https://dev.azure.com/fabrikam",
            "--wiql",
            WIQL,
            "--db",
            str(db),
        ]
    )
    assert code == 2
    assert "AZURE_DEVOPS_PAT: got None; must be set" in capsys.readouterr().err
