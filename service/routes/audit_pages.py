"""The decision audit in the browser (``/admin/decisions``): every decision the agent made, newest
first, with its reason, the passages it retrieved and their scores, its calibrated confidence and
what would have changed it (the distance to the threshold that decided, the nearest trigger);
filterable by reason and channel.

Decision records come from ``SessionStore.decisions``; ``agent.audit.explain`` reads each one.
Signing in and rendering: ``service/routes/workspace.py``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from agent.audit import explain, reason_of
from agent.decision import Action, HandoffReason
from agent.sessions import SessionStore
from core.errors import AuthError
from core.models import Channel
from service.deps import RuntimeDep
from service.routes.workspace import caller_of, render, signin

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
#: Decision records read before filtering by reason (newest first).
SCAN = 500
#: Rows shown on one page.
SHOWN = 100
#: Passages listed per decision.
PASSAGES = 5
#: The reasons to filter by: a handoff's reason, or the action of a decision without a handoff.
REASONS = [a.value for a in Action if a is not Action.HANDOFF] + [r.value for r in HandoffReason]


def audit_rows(records: list[Any], *, reason: str, answer_threshold: float,
               clarify_threshold: float) -> list[dict[str, Any]]:
    """The decision records matching ``reason`` (any when empty), each with its explanation."""
    rows = []
    for record in records:
        if reason and reason_of(record.data) != reason:
            continue
        trace = record.data.get("trace") or {}
        signals = trace.get("signals") or {}
        rows.append({
            "r": record,
            "why": explain(record.data, answer_threshold=answer_threshold, clarify_threshold=clarify_threshold),
            "passages": [p for p in trace.get("retrieved") or [] if isinstance(p, dict)][:PASSAGES],
            "signals": sorted((str(k), v) for k, v in signals.items() if isinstance(v, int | float)),
            "message": (record.message or "")[:400],
        })
        if len(rows) >= SHOWN:
            break
    return rows


@router.get("/decisions", response_class=HTMLResponse)
def decisions_page(request: Request, rt: RuntimeDep, reason: str = "", channel: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    channels = [c.value for c in Channel]
    reason = reason if reason in REASONS else ""
    channel = channel if channel in channels else ""
    records = SessionStore(db=rt.db).decisions(caller.workspace, channel=channel or None, limit=SCAN)
    answer_at, clarify_at = rt.agent.thresholds()  # the calibration in force decides them unless set
    rows = audit_rows(records, reason=reason, answer_threshold=answer_at, clarify_threshold=clarify_at)
    return render(request, "decisions.html", caller, {
        "rows": rows, "reasons": REASONS, "channels": channels, "filters": {"reason": reason, "channel": channel},
        "answer_threshold": answer_at, "clarify_threshold": clarify_at})
