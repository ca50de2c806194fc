"""Fixtures shared by the whole test suite.

`ray_session`: one private local Ray per test run (starting Ray takes 10-20 s
on the 2-core test machine, so every test that needs Ray shares it). It is
started through flowray.tasks, the only module that imports ray, with 2 CPUs,
a modest object store, and the dashboard process bound to 127.0.0.1 (Ray's
state API, which the cancellation and status tests read, lives there). Its
workers are warmed up (numba kernel loaded) before the first test uses it.
Tests must not call `flowray.tasks.shutdown()`; the fixture does at the end.

`demo_template`: the demo database, seeded once per test run; tests copy it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the shared Ray session `ray`, so the fast lane can leave them out."""
    for item in items:
        if "ray_session" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)


RAY_TEST_CPUS = 2
RAY_TEST_OBJECT_STORE_BYTES = 200 * 1024 * 1024


@pytest.fixture(scope="session")
def ray_session() -> Iterator[object]:
    """A private local Ray (flowray.jobs.ClusterInfo), shared by every test that asks."""
    from flowray import tasks

    if tasks.is_connected():  # e.g. a test connected on its own before: reuse, do not stack
        info = tasks.ensure_connected()
    else:
        info = tasks.connect(
            "local",
            num_cpus=RAY_TEST_CPUS,
            object_store_bytes=RAY_TEST_OBJECT_STORE_BYTES,
            dashboard=True,
        )
    tasks.warm_up()
    yield info
    tasks.shutdown()


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo database seeded once per test run (seeding takes ~15 s); tests work on copies."""
    from flowray import pipeline

    path = tmp_path_factory.getbasetemp() / "flowray-demo-template" / "flowray.duckdb"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        seeding = path.with_name("seeding.duckdb")  # renamed when complete: never half-seeded
        pipeline.seed_demo(seeding)
        seeding.replace(path)
    return path
