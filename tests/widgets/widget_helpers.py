"""Helpers of the headless widget tests (imported by name: tests/widgets is put on sys.path)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
from collections.abc import Callable, Coroutine
from typing import Any

from flowray.data import load_demo_series

START = dt.date(2026, 8, 17)
PROJECT = "Checkout Revamp"


def demo_throughput(weeks: int = 26) -> list[int]:
    """The last `weeks` weeks of a bundled real series (pytest-dev/pytest)."""
    return [v for _, v in load_demo_series("pytest-dev/pytest")][-weeks:]


def drive(action: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run `action()` in a fresh event loop, as a kernel runs a widget callback in its own loop.

    When this thread already runs a loop (Playwright's sync API leaves one running when
    browser tests share the pytest process), the fresh loop runs in a helper thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(action())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, action()).result()


def press_and_wait(panel: Any, button: Any) -> None:
    """Click `button` inside a running loop, then await the panel's background task to its end."""

    async def press() -> None:
        button.click()
        await panel.wait()

    drive(press)
