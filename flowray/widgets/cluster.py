"""The cluster panel: is Ray healthy, how busy is it, and where is Ray's own dashboard?

Connecting (which may start a local Ray: 10-20 s) and asking the cluster run
off the kernel's event loop, so the page stays responsive.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from flowray import pipeline
from flowray.widgets.base import Panel, section, title
from flowray.widgets.html import escape, html_table


def megabytes(value: Any) -> str:
    if value is None:
        return "unknown"
    return f"{int(value) / 1024 / 1024:,.0f} MB"


def dashboard_instructions(status: dict[str, Any]) -> str:
    """How to open Ray's own dashboard (task timeline, logs, memory) from this cluster."""
    url = status.get("dashboard_url")
    if url:
        shown = url if url.startswith("http") else f"http://{url}"
        port = shown.rsplit(":", 1)[-1].strip("/") or "8265"
        return (
            "<div style='font-size:13px;line-height:1.5'>"
            f"Ray's own dashboard (task timeline, logs, memory) is at <a href='{escape(shown)}' target='_blank' "
            f"rel='noopener'>{escape(shown)}</a>. It listens on the machine that runs the cluster's head only: "
            "from another computer, forward its port first, e.g. "
            f"<code>ssh -L {escape(port)}:127.0.0.1:{escape(port)} you@head-node</code> "
            f"(or <code>ray attach cluster.yaml -p {escape(port)}</code> for a cloud cluster), "
            f"then open <code>http://127.0.0.1:{escape(port)}</code>.</div>"
        )
    return (
        "<div style='font-size:13px;line-height:1.5'>"
        "This Ray was started without its own dashboard. To get one, start a shared cluster with "
        "<code>ray start --head --dashboard-host 127.0.0.1</code> and point flowray at it with "
        "<code>FLOWRAY_RAY_ADDRESS</code>, or start <code>flowray dashboard</code> without "
        "<code>--no-ray-dashboard</code> (a notebook's own Ray: set <code>FLOWRAY_RAY_DASHBOARD=1</code>); "
        "the dashboard then answers on port 8265 of the head machine.</div>"
    )


class ClusterPanel(Panel):
    """Nodes, CPUs in use, flowray tasks, a health check, and the way to Ray's dashboard."""

    def __init__(self, *, auto_refresh: bool = True) -> None:
        super().__init__()
        self.status_data: dict[str, Any] | None = None
        self.health_data: dict[str, Any] | None = None
        self.refresh_button = widgets.Button(
            description="Refresh",
            button_style="primary",
            layout=widgets.Layout(width="100px", margin="0 6px 0 0"),
        )
        self.health_button = widgets.Button(
            description="Run health check", layout=widgets.Layout(width="150px")
        )
        self.summary = widgets.HTML(
            "<div style='color:#666'>Press <b>Refresh</b> to connect to the cluster "
            "(starting a local Ray takes 10-20 s).</div>"
        )
        self.cpu_bar = widgets.FloatProgress(
            value=0,
            min=0,
            max=1,
            description="CPUs in use",
            layout=widgets.Layout(width="420px"),
            style={"description_width": "100px"},
        )
        self.cpu_text = widgets.Label("")
        self.nodes = widgets.HTML("")
        self.health = widgets.HTML(
            "<div style='color:#666'>Not run yet: press <b>Run health check</b> to send a "
            "tiny task to every part of the cluster and time its answer.</div>"
        )
        self.ray_dashboard = widgets.HTML("")
        self.controls = [self.refresh_button, self.health_button]
        self.refresh_button.on_click(self.action(lambda: self.start_background(self.refresh)))
        self.health_button.on_click(self.action(lambda: self.start_background(self.check_health)))
        self.widget = widgets.VBox(
            [
                title(
                    "Ray cluster",
                    "Where flowray's simulations run: is it healthy, and how busy is it?",
                ),
                widgets.HBox([self.refresh_button, self.health_button]),
                self.status,
                self.summary,
                widgets.HBox(
                    [self.cpu_bar, self.cpu_text], layout=widgets.Layout(align_items="center")
                ),
                section("Nodes"),
                self.nodes,
                section("Health check"),
                self.health,
                section("Ray's own dashboard"),
                self.ray_dashboard,
            ],
            layout=widgets.Layout(width="1000px"),
        )
        if auto_refresh:
            self.refresh_when_displayed()

    def refresh_when_displayed(self) -> None:
        """Refresh in the background when an event loop runs (a kernel); otherwise wait for the button."""
        try:
            import asyncio

            asyncio.get_running_loop()
        except RuntimeError:
            return
        self.set_busy(True)
        self.start_background(self.refresh)

    async def refresh(self) -> None:
        self.show_info("Asking the cluster (the first time this may start a local Ray: 10-20 s)...")
        status = await self.in_thread(pipeline.cluster_status)
        self.show_status(status)
        self.show_info("Updated.")

    def show_status(self, status: dict[str, Any]) -> None:
        self.status_data = status
        total, used = float(status.get("cpus_total") or 0), float(status.get("cpus_in_use") or 0)
        self.cpu_bar.max = max(total, 1.0)
        self.cpu_bar.value = min(used, self.cpu_bar.max)
        self.cpu_bar.bar_style = "warning" if total and used / total > 0.9 else "info"
        self.cpu_text.value = f"{used:g} of {total:g} CPUs"
        source = (
            ""
            if status.get("tasks_source") == "state_api"
            else " (counted from this page's own jobs: Ray's state API is not reachable)"
        )
        store_used = status.get("object_store_bytes_used")
        rows = [
            ("Cluster address", status.get("address", "-")),
            ("Nodes", f"{status.get('nodes_alive', 0)} alive, {status.get('nodes_dead', 0)} dead"),
            ("CPUs in use", f"{used:g} of {total:g}"),
            (
                "Object store",
                f"{megabytes(store_used)} used of {megabytes(status.get('object_store_bytes_total'))}",
            ),
            (
                "flowray tasks",
                f"{status.get('tasks_running', 0)} running, {status.get('tasks_pending', 0)} waiting, "
                f"{status.get('tasks_finished', 0)} finished, {status.get('tasks_failed', 0)} failed, "
                f"{status.get('tasks_cancelled', 0)} cancelled" + source,
            ),
            ("Jobs running from this page", str(status.get("jobs_active", 0))),
        ]
        self.summary.value = html_table(None, rows)
        nodes = status.get("nodes") or []
        self.nodes.value = html_table(
            ("Node", "Address", "State", "CPUs"),
            [
                (
                    str(n.get("node_id", ""))[:12],
                    n.get("address") or "-",
                    "alive" if n.get("alive") else "dead",
                    f"{float(n.get('cpus') or 0):g}",
                )
                for n in nodes
            ],
        )
        self.ray_dashboard.value = dashboard_instructions(status)

    async def check_health(self) -> None:
        self.show_info("Sending a test task to the cluster...")
        report = await self.in_thread(pipeline.health_check)
        self.show_health(report)

    def show_health(self, report: dict[str, Any]) -> None:
        self.health_data = report
        latency = float(report.get("latency_ms") or 0)
        where = f"host {report.get('host', '?')} (worker process {report.get('pid', '?')})"
        versions = f"Ray {report.get('ray_version')} and flowray {report.get('flowray_version')}"
        if report.get("versions_match"):
            verdict = "<b style='color:#1a7f37'>Healthy.</b>"
            version_text = f"{escape(versions)} match this page."
        else:
            verdict = "<b style='color:#b42318'>Version mismatch.</b>"
            version_text = (
                f"The worker runs {escape(versions)}, but this page runs Ray "
                f"{escape(str(report.get('driver_ray_version')))} and flowray "
                f"{escape(str(report.get('driver_flowray_version')))}: install the same versions "
                "everywhere."
            )
        self.health.value = (
            f"<div style='font-size:14px'>{verdict} A test task answered from {escape(where)} "
            f"in {latency:,.0f} ms. {version_text}</div>"
        )
        if report.get("versions_match"):
            self.show_success("Health check passed.")
        else:
            self.show_error("Health check: the cluster runs other versions than this page.")
