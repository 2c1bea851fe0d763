"""The insights refresh use case: CSAT surveys, webhook deliveries and insights of a workspace.

``flows.insights`` runs it on a schedule; the CLI and the HTTP API call the same services.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.runtime import Runtime
from core.tables import WorkspaceRow
from insights.models import parse_since


def workspaces(rt: Runtime) -> list[str]:
    with rt.db.session() as s:
        return list(s.scalars(select(WorkspaceRow.id).order_by(WorkspaceRow.id)))


def refresh_workspace(rt: Runtime, workspace: str, since: str | None = None) -> dict[str, Any]:
    """Request due CSAT surveys, deliver due webhook events, recompute and store insights."""
    since = since or rt.settings.insights.since
    ic = rt.insights
    surveys = ic.csat.sweep(workspace, since=parse_since(since))
    sent = ic.csat.webhook.deliver_due()
    run = ic.insights.refresh(workspace, since=since)
    return {"workspace": workspace, "since": since, "insights": len(run.insights), "messages": run.messages,
            "surveys_requested": surveys, "webhook_events_sent": sent, "seconds": run.seconds}
