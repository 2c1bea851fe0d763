"""The insights flow: refresh every workspace's insights and CSAT surveys on a schedule.

Each task is one call of ``app.insights.refresh_workspace`` (tested without Prefect).
Serve it with ``python -m flows.insights`` (every ``KNOWDESK_INSIGHTS__REFRESH_MINUTES``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from prefect import flow, task

from app.insights import refresh_workspace, workspaces
from app.runtime import get_runtime

log = logging.getLogger(__name__)


@task(name="refresh-insights", task_run_name="insights-{workspace}")
def refresh_task(workspace: str, since: str | None = None) -> dict[str, Any]:
    return refresh_workspace(get_runtime(), workspace, since)


@flow(name="refresh-insights", log_prints=False)
def refresh_insights(since: str | None = None, workspace: str | None = None) -> list[dict[str, Any]]:
    """Refresh insights of one workspace, or of all."""
    names = [workspace] if workspace else workspaces(get_runtime())
    return [refresh_task(name, since) for name in names]


def serve() -> None:
    """Serve the flow as a deployment on its interval (blocks)."""
    minutes = get_runtime().settings.insights.refresh_minutes
    refresh_insights.serve(name="refresh-insights", interval=timedelta(minutes=minutes), tags=["knowdesk"])


if __name__ == "__main__":  # pragma: no cover - a long-running server
    serve()
