"""A tiny dashboard that proves the serving stack, not a product feature.

dashboards/_smoke.ipynb displays it; tests/browser/test_smoke.py drives it in
Chromium. It exercises what the real dashboards rely on: ipywidgets in Voila,
a plotly FigureWidget updated from a Python callback, updates pushed from an
asyncio task while the kernel stays responsive, and FLOWRAY_DB reaching the
kernel. Temporary: remove it with dashboards/_smoke.ipynb once real dashboards
are covered by browser tests.
"""

from __future__ import annotations

import asyncio

import ipywidgets as widgets
import plotly.graph_objects as go

from flowray.config import load_settings


class SmokeApp:
    """Counter, chart and an async progress run, wired together."""

    def __init__(self, steps: int = 5, step_seconds: float = 0.2) -> None:
        self.steps = steps
        self.step_seconds = step_seconds
        self.weeks: list[int] = [3, 5, 4]
        self.task: asyncio.Task[None] | None = None

        self.database = widgets.Label(f"Database: {load_settings().db_path}")
        self.add_button = widgets.Button(description="Add a week", button_style="primary")
        self.run_button = widgets.Button(description=f"Run {steps} steps")
        self.progress = widgets.IntProgress(value=0, min=0, max=steps, description="Progress")
        self.status = widgets.Label("Steps done: 0")
        self.figure = go.FigureWidget(
            data=[go.Bar(x=self._week_names(), y=self.weeks, name="items")],
            layout=go.Layout(
                title="Items finished per week",
                xaxis_title="Week",
                yaxis_title="Items finished",
                width=640,
                height=360,
                margin={"l": 60, "r": 20, "t": 50, "b": 50},
            ),
        )
        self.count_label = widgets.Label(self._count_text())
        self.add_button.on_click(self.add_week)
        self.run_button.on_click(self.start_run)
        self.widget = widgets.VBox(
            [
                self.database,
                widgets.HBox([self.add_button, self.count_label]),
                widgets.HBox([self.run_button, self.progress, self.status]),
                self.figure,
            ]
        )

    def _week_names(self) -> list[str]:
        return [f"Week {i + 1}" for i in range(len(self.weeks))]

    def _count_text(self) -> str:
        # Counted from the figure, so the label proves Python-side chart state.
        return f"Weeks: {len(self.figure.data[0].y)}"

    def _redraw(self) -> None:
        with self.figure.batch_update():
            self.figure.data[0].x = self._week_names()
            self.figure.data[0].y = list(self.weeks)

    def add_week(self, _button: widgets.Button | None = None) -> None:
        """Synchronous callback: one more bar, new label."""
        self.weeks.append(len(self.weeks) % 4 + 2)
        self._redraw()
        self.count_label.value = self._count_text()

    def start_run(self, _button: widgets.Button | None = None) -> None:
        """Start the stepped run in the kernel's event loop and return at once."""
        self.run_button.disabled = True
        self.task = asyncio.get_running_loop().create_task(self.run_steps())

    async def run_steps(self) -> None:
        """Each step updates the progress bar, the status and the chart's last bar."""
        try:
            for step in range(1, self.steps + 1):
                await asyncio.sleep(self.step_seconds)
                self.progress.value = step
                self.status.value = f"Steps done: {step}"
                self.weeks[-1] = step
                self._redraw()
        except Exception as exc:  # shown to the page user, who cannot see tracebacks
            self.status.value = f"Error: {exc}"
        finally:
            self.run_button.disabled = False


def build_smoke_app() -> SmokeApp:
    """The app object a dashboard notebook displays via `app.widget`."""
    return SmokeApp()
