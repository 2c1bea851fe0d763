"""The handoff queue in the browser (``/admin/handoffs``): handed-off sessions with their reason,
scores, channel and time, filterable by reason, channel and state; a handoff's page with the
transcript and the passages the agent used; marking its session resolved (a write key, CSRF).

Reads and writes go through ``SessionStore``, the store the ``/v1/handoffs`` and
``/v1/sessions/{id}/resolve`` routes use. Signing in and the form checks: ``service/routes/workspace.py``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from agent.decision import HandoffReason
from agent.sessions import SessionInfo, SessionStatus, SessionStore
from app.runtime import Runtime
from core.errors import AuthError, KnowdeskError, NotFound
from core.models import Channel
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes.workspace import caller_of, refused, render, see_other, signin, writer_form

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
#: Handoffs the queue reads before filtering by channel and state (newest first).
SCAN = 500
STATES = {"open": (SessionStatus.HANDED_OFF, SessionStatus.OPEN), "resolved": (SessionStatus.RESOLVED,
                                                                                SessionStatus.CLOSED)}


def queue(rt: Runtime, caller: Principal, *, reason: str, channel: str, state: str) -> list[dict[str, Any]]:
    store = SessionStore(db=rt.db)
    sessions: dict[str, SessionInfo | None] = {}
    rows = []
    for h in store.handoffs(caller.workspace, limit=SCAN):
        if reason and h.reason != reason:
            continue
        if h.session_id not in sessions:
            try:
                sessions[h.session_id] = store.get(caller.workspace, h.session_id)
            except NotFound:
                sessions[h.session_id] = None
        session = sessions[h.session_id]
        if session is None or (channel and session.channel.value != channel):
            continue
        if state in STATES and session.status not in STATES[state]:
            continue
        rows.append({"h": h, "session": session})
    return rows


@router.get("/handoffs", response_class=HTMLResponse)
def handoffs_page(request: Request, rt: RuntimeDep, reason: str = "", channel: str = "",
                  state: str = "open") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    reasons, channels = [r.value for r in HandoffReason], [c.value for c in Channel]
    reason = reason if reason in reasons else ""
    channel = channel if channel in channels else ""
    state = state if state in (*STATES, "all") else "open"
    rows = queue(rt, caller, reason=reason, channel=channel, state=state)
    return render(request, "handoffs.html", caller, {
        "rows": rows, "reasons": reasons, "channels": channels, "states": [*STATES, "all"],
        "filters": {"reason": reason, "channel": channel, "state": state}})


def passages(events: list[Any], documents: list[Any]) -> list[dict[str, Any]]:
    """What the agent leaned on: each decision's citations (title and link), then the documents the
    handoff names that no decision cited."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.type != "decision":
            continue
        for c in event.data.get("citations") or []:
            key = str(c.get("document_id") or c.get("url") or c.get("title"))
            url = c.get("url")
            found.setdefault(key, {
                "title": c.get("title") or key, "document_id": c.get("document_id"),
                "url": url if isinstance(url, str) and url.startswith(("http://", "https://", "/")) else None,
                "turn": f"cited in a decision to {event.data.get('action', '?')}"})
    for doc in documents:
        found.setdefault(str(doc), {"title": str(doc), "url": None, "document_id": str(doc),
                                    "turn": "retrieved at the handoff"})
    return list(found.values())


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse)
def handoff_page(handoff_id: str, request: Request, rt: RuntimeDep, notice: str = "") -> Response:
    try:
        caller = caller_of(request, rt)
    except AuthError as exc:
        return signin(request, exc)
    store = SessionStore(db=rt.db)
    try:
        h = store.handoff(caller.workspace, handoff_id)
        session = store.get(caller.workspace, h.session_id)
    except NotFound as exc:
        return refused(request, caller, exc.message, 404)
    messages = store.messages(caller.workspace, h.session_id)
    return render(request, "handoff.html", caller, {
        "h": h, "session": session, "messages": messages, "notice": notice[:200],
        "passages": passages(store.events(caller.workspace, h.session_id), h.documents),
        "resolvable": session.status not in (SessionStatus.RESOLVED, SessionStatus.CLOSED),
        "draft": rt.resolutions.drafts.for_handoff(caller.workspace, h.id)})


@router.post("/handoffs/{handoff_id}/resolve", response_class=HTMLResponse)
async def resolve(handoff_id: str, request: Request, rt: RuntimeDep) -> Response:
    """Mark the handed-off session resolved, as ``POST /v1/sessions/{id}/resolve`` does."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, _ = got
    store = SessionStore(db=rt.db)

    def mark() -> SessionInfo:
        h = store.handoff(caller.workspace, handoff_id)
        resolved = store.set_status(caller.workspace, h.session_id, SessionStatus.RESOLVED, by="admin page")
        rt.resolutions.on_resolved(caller.workspace, h.session_id)  # a person replied: a draft waits for review
        return resolved

    try:
        session = await run_in_threadpool(mark)
    except KnowdeskError as exc:
        return refused(request, caller, exc.message, exc.http_status)
    return see_other(f"/admin/handoffs/{quote(handoff_id)}?notice={quote(f'ticket #{session.ticket} resolved')}")
