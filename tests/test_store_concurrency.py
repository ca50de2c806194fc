"""Several processes share one database file: nothing lost, nothing half-written, no lock errors.

Workers run as separate Python processes (the situation of a notebook, a Voila
kernel and a papermill job), started with `python -c` and a small script.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flowray.exceptions import StoreError
from flowray.store import Store

ROOT = Path(__file__).resolve().parents[1]

# A forecast whose content follows from (worker, i), so any reader can check it.
COMMON = textwrap.dedent(
    """
    import datetime as dt, json, os, random, sys, time
    from flowray.store import Store

    def expected(worker, i, size=40):
        rng = random.Random(worker * 1_000_003 + i)
        values = sorted(rng.sample(range(1, 200), size))
        counts = [rng.randint(1, 50) for _ in values]
        return values, counts

    def result_for(worker, i, size=40):
        values, counts = expected(worker, i, size)
        runs = sum(counts) + 7  # 7 runs not done within the horizon
        return {
            "kind": "when", "runs": runs, "seed": worker * 1_000_003 + i, "engine_version": "t",
            "max_periods": 520, "histogram": {"periods": values + [521], "counts": counts + [7]},
            "percentiles": {"50": values[len(values) // 2]}, "dates": {},
            "scenario": {"throughput": [1, 2, 3], "backlog": 10, "period_days": 7,
                         "start": "2025-01-06", "max_periods": 520},
        }
    """
)

WORKER = COMMON + textwrap.dedent(
    """
    db, worker, seconds, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    store = Store(db, timeout=120)
    project = f"P{worker}"
    saved, errors, reads = [], [], 0
    seen_total = 0
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        try:
            fid = store.save_forecast(project, result_for(worker, i), name=f"w{worker}-{i}")
            saved.append([fid, i])
            weeks = [(dt.date(2025, 1, 6) + dt.timedelta(weeks=k), (i + k) % 9) for k in range(12)]
            store.set_throughput(project, weeks)
            got = [(t.period_start, t.items) for t in store.get_throughput(project)]
            if got != weeks:
                errors.append(f"throughput read back {got[:2]}... after writing {weeks[:2]}...")
            mine = {f.forecast_id: f for f in store.list_forecasts(project)}
            missing = [f for f, _ in saved if f not in mine]
            if missing:
                errors.append(f"own forecasts missing from the listing: {missing}")
            check_id, check_i = random.choice(saved)
            values, counts = expected(worker, check_i)
            if store.get_distribution(check_id) != list(zip(values, counts)):
                errors.append(f"distribution of forecast {check_id} differs")
            total = len(store.list_forecasts())
            if total < seen_total:
                errors.append(f"ledger shrank from {seen_total} to {total}")
            seen_total = total
            if i % 10 == 9:
                added = store.add_actual(None, "2025-03-03", 10, forecast_id=fid)
                if added.scored_forecasts != [fid]:
                    errors.append(f"actual for {fid} scored {added.scored_forecasts}")
            reads += 4
        except Exception as exc:  # any error, including a lock error, fails the test
            errors.append(f"{type(exc).__name__}: {exc}")
        i += 1
    json.dump({"saved": saved, "errors": errors, "reads": reads}, open(out, "w"))
    """
)

READER = COMMON + textwrap.dedent(
    """
    db, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    store = Store(db, timeout=120)
    errors, reads, last = [], 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            rows = store.list_forecasts()
            if len(rows) < last:
                errors.append(f"ledger shrank from {last} to {len(rows)}")
            last = len(rows)
            if rows:
                row = random.choice(rows)
                worker, i = (int(x) for x in row.name[1:].split("-"))
                values, counts = expected(worker, i)
                if store.get_distribution(row.forecast_id) != list(zip(values, counts)):
                    errors.append(f"distribution of forecast {row.forecast_id} differs")
                if row.not_done != 7 or row.runs != sum(counts) + 7:
                    errors.append(f"forecast {row.forecast_id}: runs/not_done wrong")
            store.calibration()
            reads += 3
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    json.dump({"errors": errors, "reads": reads}, open(out, "w"))
    """
)


def _python(script: str, *args: object, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)], env=env, cwd=ROOT, **kwargs
    )


@pytest.mark.slow
def test_four_writers_and_a_reader_for_30_seconds_lose_nothing(tmp_path):
    db = tmp_path / "shared.duckdb"
    store = Store(db)
    writers = 4
    for w in range(writers):
        store.add_project(f"P{w}")
    seconds = 30
    procs = [_python(WORKER, db, w, seconds, tmp_path / f"w{w}.json") for w in range(writers)]
    procs.append(_python(READER, db, seconds, tmp_path / "reader.json"))
    for proc in procs:
        assert proc.wait(timeout=seconds + 240) == 0
    reports = [json.loads((tmp_path / f"w{w}.json").read_text()) for w in range(writers)]
    reader = json.loads((tmp_path / "reader.json").read_text())
    print(
        f"saved per writer: {[len(r['saved']) for r in reports]}; reader reads: {reader['reads']}"
    )
    assert [r["errors"] for r in reports] == [[]] * writers
    assert reader["errors"] == []
    # every worker made progress (no writer starved behind the readers)
    assert all(len(r["saved"]) >= 10 for r in reports), [len(r["saved"]) for r in reports]
    assert reader["reads"] >= 30

    # afterwards every write is present, whole and correct
    namespace: dict = {}
    exec(COMMON, namespace)
    ledger = {f.forecast_id: f for f in store.list_forecasts()}
    assert len(ledger) == sum(len(r["saved"]) for r in reports)
    for w, report in enumerate(reports):
        for fid, i in report["saved"]:
            assert ledger[fid].project == f"P{w}" and ledger[fid].name == f"w{w}-{i}"
            values, counts = namespace["expected"](w, i)
            assert store.get_distribution(fid) == list(zip(values, counts, strict=True))
        last_i = report["saved"][-1][1]
        assert [t.items for t in store.get_throughput(f"P{w}")] == [
            (last_i + k) % 9 for k in range(12)
        ]
        linked = [a.forecast_id for a in store.list_actuals(f"P{w}")]
        assert all(store.get_score(fid) is not None for fid in linked)


MID_SAVE = COMMON + textwrap.dedent(
    """
    import flowray.records.ledger as store_module

    db, marker = sys.argv[1], sys.argv[2]
    store = Store(db)
    store.save_forecast("P", result_for(0, 0), name="committed-0")
    store.save_forecast("P", result_for(0, 1), name="committed-1")
    original = store_module.insert_distribution

    def slow_insert(con, forecast_id, values, counts):
        half = len(values) // 2
        original(con, forecast_id, values[:half], counts[:half])  # half the rows written...
        open(marker, "w").write(str(forecast_id))
        time.sleep(120)  # ...and the process is killed here, inside the transaction
        original(con, forecast_id, values[half:], counts[half:])

    store_module.insert_distribution = slow_insert
    store.save_forecast("P", result_for(0, 2), name="killed")
    """
)


def _assert_ledger_whole(store: Store) -> None:
    """Every visible forecast has its whole distribution; no orphan distribution rows."""
    forecasts = {f.forecast_id: f for f in store.list_forecasts()}
    dist_rows = store.read_table("forecast_distribution").to_pylist()
    totals: dict[int, int] = {}
    for row in dist_rows:
        totals[row["forecast_id"]] = totals.get(row["forecast_id"], 0) + row["count"]
    assert set(totals) <= set(forecasts)
    for fid, f in forecasts.items():
        assert totals.get(fid, 0) + f.not_done == f.runs, fid


def test_sigkill_in_the_middle_of_a_save_leaves_no_half_forecast(tmp_path):
    db, marker = tmp_path / "kill.duckdb", tmp_path / "marker"
    Store(db).add_project("P")
    proc = _python(MID_SAVE, db, marker)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, "the writer ended before reaching the middle of the save"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    killed_id = int(marker.read_text())
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    store = Store(db, timeout=20)  # the file opens (DuckDB replays its WAL) and the lock is free
    names = [f.name for f in store.list_forecasts()]
    assert names == ["committed-0", "committed-1"]
    assert killed_id not in {f.forecast_id for f in store.list_forecasts()}
    _assert_ledger_whole(store)
    assert store.get_distribution(killed_id) == []
    # and the file keeps working for writers
    namespace: dict = {}
    exec(COMMON, namespace)
    fid = store.save_forecast("P", namespace["result_for"](0, 3), name="after")
    assert [f.name for f in store.list_forecasts()][-1] == "after"
    assert len(store.get_distribution(fid)) == 40


LOOP_SAVER = COMMON + textwrap.dedent(
    """
    db = sys.argv[1]
    store = Store(db)
    i = 0
    while True:
        fid = store.save_forecast("P", result_for(1, i, size=150), name=f"loop-{i}")
        print(fid, flush=True)  # printed only after the commit
        i += 1
    """
)


def test_sigkill_at_random_moments_keeps_every_committed_forecast(tmp_path):
    db = tmp_path / "loop.duckdb"
    Store(db).add_project("P")
    rng = random.Random(4)
    committed: list[int] = []
    for _ in range(3):
        proc = _python(LOOP_SAVER, db, stdout=subprocess.PIPE, text=True)
        first = proc.stdout.readline()  # wait for the worker to be saving
        assert first.strip(), "the saver never committed"
        time.sleep(rng.uniform(0.2, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        committed += [int(x) for x in (first + rest).split()]
        store = Store(db, timeout=20)
        _assert_ledger_whole(store)
        assert set(committed) <= {f.forecast_id for f in store.list_forecasts()}


HOLD_FLOCK = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)

HOLD_DUCKDB = textwrap.dedent(
    """
    import duckdb, sys, time
    con = duckdb.connect(sys.argv[1])  # a program outside flowray's lock protocol
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def test_a_busy_file_ends_in_a_clear_store_error_not_a_lock_error(tmp_path):
    db = tmp_path / "busy.duckdb"
    Store(db).add_project("P")
    store = Store(db, timeout=0.5)
    holder = _python(HOLD_FLOCK, f"{db}.lock", 30, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(StoreError, match="stayed busy for 0.5 s"):
            store.list_projects()
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    assert [p.name for p in Store(db).list_projects()] == ["P"]


def test_a_foreign_duckdb_holder_is_waited_for_then_reported(tmp_path):
    db = tmp_path / "foreign.duckdb"
    Store(db).add_project("P")
    quick, patient = Store(db, timeout=0.5), Store(db, timeout=60)
    holder = _python(HOLD_DUCKDB, db, 2.5, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        # shorter than the hold: one clear StoreError that still names the cause
        with pytest.raises(StoreError, match="stayed busy") as info:
            quick.add_user("ana")
        assert "lock" in str(info.value)
        started = time.monotonic()
        patient.add_user("ana")  # retried with backoff until the other program lets go
        assert time.monotonic() - started > 0.3
    finally:
        holder.wait(timeout=60)
    assert [u.name for u in Store(db).list_users()][-1] == "ana"


OPEN_FRESH = textwrap.dedent(
    """
    import sys
    from flowray.store import Store
    store = Store(sys.argv[1], timeout=60)
    print(store.schema_version(), flush=True)
    """
)


def test_processes_creating_the_same_new_file_at_once_all_succeed(tmp_path):
    db = tmp_path / "fresh.duckdb"
    procs = [_python(OPEN_FRESH, db, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs == [str(Store(db).schema_version())] * 4
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:  # each migration applied exactly once
        versions = [
            r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
        ]
    finally:
        con.close()
    assert versions == list(range(1, Store(db).schema_version() + 1))


def test_threads_of_one_process_share_a_store(tmp_path):
    """A Voila kernel may call the store from several threads: flock locks belong to open
    file descriptions, so threads exclude each other as processes do."""
    import threading

    store = Store(tmp_path / "threads.duckdb", timeout=60)
    store.add_project("T")
    namespace: dict = {}
    exec(COMMON, namespace)
    saved: dict[int, list[int]] = {t: [] for t in range(4)}
    errors: list[str] = []

    def work(t: int) -> None:
        try:
            for i in range(5):
                saved[t].append(store.save_forecast("T", namespace["result_for"](t, i)))
                listed = {f.forecast_id for f in store.list_forecasts("T")}
                if not set(saved[t]) <= listed:
                    errors.append(f"thread {t}: own forecasts missing")
        except Exception as exc:
            errors.append(f"thread {t}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert errors == []
    for t, ids in saved.items():
        for i, fid in enumerate(ids):
            values, counts = namespace["expected"](t, i)
            assert store.get_distribution(fid) == list(zip(values, counts, strict=True))
    assert len(store.list_forecasts()) == 20
