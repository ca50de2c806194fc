"""A page's Run: in the page's own process until Ray is joined and warm, on Ray after."""

from __future__ import annotations

import threading

import pytest

from flowray import tasks
from flowray.pipeline import cluster


@pytest.fixture
def fresh(monkeypatch):
    """page_engine's state as in a new kernel, with Ray replaced by a switchable stand-in."""
    monkeypatch.setattr(cluster, "_RAY_READY", threading.Event())
    monkeypatch.setattr(cluster, "_join_started", False)
    joined = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def ensure_connected():
        calls.append("connect")
        assert release.wait(10), "the test never let Ray 'start'"
        joined.set()

    monkeypatch.setattr(tasks, "ensure_connected", ensure_connected)
    monkeypatch.setattr(tasks, "warm_up", lambda **_: calls.append("warm") or 2)
    monkeypatch.setattr(tasks, "is_connected", joined.is_set)
    return calls, release


def test_the_first_run_stays_here_while_ray_is_joined_once_in_the_background(fresh):
    calls, release = fresh
    assert cluster.page_engine() == "serial"  # at once: no 10-20 s wait for Ray
    assert cluster.page_engine() == "serial"  # still joining: no second join
    release.set()
    assert cluster._RAY_READY.wait(10)
    assert calls == ["connect", "warm"]
    assert cluster.page_engine() == "ray"


def test_a_failed_join_is_tried_again_on_the_next_run(fresh, monkeypatch):
    calls, release = fresh

    def refused():
        calls.append("refused")
        raise RuntimeError("no cluster")

    monkeypatch.setattr(tasks, "ensure_connected", refused)
    assert cluster.page_engine() == "serial"
    for _ in range(100):
        if not cluster._join_started:
            break
        threading.Event().wait(0.05)
    assert cluster._join_started is False and calls == ["refused"]
    assert cluster.page_engine() == "serial"  # tries again
    for _ in range(100):
        if calls.count("refused") == 2:
            break
        threading.Event().wait(0.05)
    assert calls.count("refused") == 2
