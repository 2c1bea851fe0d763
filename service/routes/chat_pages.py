"""A chat panel in the browser (``/admin/chat``): talk to the agent as a chosen channel and contact,
and see each decision's action, confidence, reason and citations; the quickest way for a content
editor to see what an edit changed.

Opening a conversation and sending a message go through the calls ``POST /v1/sessions`` and
``POST /v1/sessions/{id}/messages`` make (``rt.agent.store.create`` and ``rt.agent.handle``), so
the conversation is a real session: stored, redacted, and counted in insights like any other. Both
need the write scope and a CSRF token; a read key sees a conversation, not the forms.

With scripts on, the message form is sent to ``.../messages/stream`` instead (``static/chat.js``):
the reply arrives as the server-sent events ``POST /v1/sessions/{id}/messages/stream`` sends
(decision, text, citations, done) and is shown as it comes; then the page reloads to the stored
turn. Refusals there are JSON with their status, and the script then sends the form as plain HTML,
so a message problem shows by its field as it does without scripts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from agent.sessions import ContactRef, EventInfo, MessageInfo, Role, SessionInfo, SessionStatus
from app.runtime import Runtime
from core.errors import Conflict, KnowdeskError, NotFound
from core.models import Channel
from service.deps import RuntimeDep
from service.keys import Principal
from service.routes.sessions import MessageRequest
from service.routes.streaming import events
from service.routes.workspace import reader_page, refused, render, see_other, writer_form

router = APIRouter(prefix="/admin/chat", tags=["admin"], include_in_schema=False)
CONTACT_FIELDS = ("email", "name", "external_id")


def safe_url(url: object) -> str | None:
    """A citation's link when it is a web or site address (never ``javascript:`` and the like)."""
    return url if isinstance(url, str) and url.startswith(("http://", "https://", "/")) else None


def why(decision: dict[str, Any]) -> list[str]:
    """The reasons a person reads for a decision: the handoff's reason and trigger, the scenarios
    applied, the agent's notes, what the reply rests on."""
    reasons: list[str] = []
    trace = decision.get("trace") or {}
    handoff = decision.get("handoff")
    if handoff:
        score = handoff.get("trigger_score")
        reasons.append(f"handed off: {str(handoff.get('reason', '?')).replace('_', ' ')}"
                       + (f" (trigger score {score:.2f})" if isinstance(score, int | float) else ""))
    fired = [t["name"] for t in trace.get("triggers") or [] if t.get("fired")]
    if fired:
        reasons.append(f"handoff triggers fired: {', '.join(fired)}")
    applied = [s["title"] for s in trace.get("scenarios") or [] if s.get("applied")]
    if applied:
        reasons.append(f"training scenario applied: {', '.join(applied)}")
    reasons.extend(str(n) for n in trace.get("notes") or [])
    cited = len(decision.get("citations") or [])
    if decision.get("action") == "answer":
        reasons.append(f"answered from {cited} cited passage{'' if cited == 1 else 's'} of "
                       f"{len(trace.get('retrieved') or [])} retrieved" if cited else "answered without a citation")
    return reasons


def turns(messages: list[MessageInfo], events: list[EventInfo]) -> list[dict[str, Any]]:
    """The transcript, each agent reply with the decision that produced it."""
    decisions = {e.data.get("message_id"): e.data for e in events if e.type == "decision"}
    out = []
    for m in messages:
        d = decisions.get(m.id) if m.role is Role.AGENT else None
        out.append({"m": m, "d": d, "why": why(d) if d else [],
                    "citations": [{"title": c.get("title") or c.get("document_id"), "url": safe_url(c.get("url")),
                                   "document_id": c.get("document_id")} for c in (d or {}).get("citations") or []]})
    return out


def chat_page(request: Request, rt: Runtime, caller: Principal, session: SessionInfo | None, *,
              values: dict[str, str] | None = None, errors: dict[str, str] | None = None, status: int = 200,
              notice: str = "") -> Response:
    store = rt.agent.store
    conversation = turns(store.messages(caller.workspace, session.id),
                         store.events(caller.workspace, session.id)) if session else []
    start = {"channel": session.channel.value if session else Channel.WEB.value,
             "email": (session.contact.email or "") if session else "",
             "name": session.contact.name if session else "",
             "external_id": (session.contact.external_id or "") if session else ""}
    return render(request, "chat.html", caller, {
        "session": session, "turns": conversation, "values": start | (values or {}), "errors": errors or {},
        "channels": [(c.value, c.value) for c in Channel], "notice": notice,
        "closed": session is not None and session.status is SessionStatus.CLOSED}, status=status)


def _session(rt: Runtime, caller: Principal, session_id: str) -> SessionInfo:
    return rt.agent.store.get(caller.workspace, session_id)


@router.get("", response_class=HTMLResponse)
def chat(request: Request, rt: RuntimeDep, session: str = "", notice: str = "") -> Response:
    got = reader_page(request, rt, lambda caller: _session(rt, caller, session) if session else None)
    if isinstance(got, Response):
        return got
    caller, found = got
    return chat_page(request, rt, caller, found, notice=notice[:200])


def contact_of(form: dict[str, str]) -> tuple[Channel | None, ContactRef | None, dict[str, str]]:
    """The channel and contact a start form names, or the problems by field."""
    errors: dict[str, str] = {}
    channel = next((c for c in Channel if c.value == form.get("channel")), None)
    if channel is None:
        errors["channel"] = f"choose one of {', '.join(c.value for c in Channel)}"
    given = {k: form.get(k, "").strip() for k in CONTACT_FIELDS}
    try:
        contact = ContactRef(**{k: v for k, v in given.items() if v}) if any(given.values()) else None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "email"
        errors[field if field in CONTACT_FIELDS else "email"] = str(first["msg"]).removeprefix("Value error, ")
        contact = None
    return channel, contact, errors


@router.post("/sessions", response_class=HTMLResponse)
async def start(request: Request, rt: RuntimeDep) -> Response:
    """Open a conversation as ``POST /v1/sessions`` does: a channel and a contact (found or created)."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    channel, contact, errors = contact_of(form)
    values = {k: form.get(k, "") for k in ("channel", *CONTACT_FIELDS)}
    if errors or channel is None:
        return await run_in_threadpool(lambda: chat_page(request, rt, caller, None, values=values, errors=errors,
                                                         status=422))
    try:
        session = await run_in_threadpool(lambda: rt.agent.store.create(caller.workspace, channel=channel,
                                                                        contact=contact))
    except KnowdeskError as exc:
        errors, status = {"email": exc.message}, exc.http_status
        return await run_in_threadpool(lambda: chat_page(request, rt, caller, None, values=values, errors=errors,
                                                         status=status))
    return see_other(f"/admin/chat?session={quote(session.id)}")


def message_of(form: dict[str, str]) -> tuple[str, MessageRequest | None, str]:
    """The typed message (newlines as the browser sends them made plain), the request it makes, or
    the problem to show by the field."""
    text = form.get("text", "").replace("\r\n", "\n")
    if not text.strip():
        return text, None, "write the customer's message first"
    try:
        return text, MessageRequest(text=text), ""
    except ValidationError as exc:
        return text, None, f"{str(exc.errors()[0]['msg']).removeprefix('Value error, ')} ({len(text)} characters)"


@router.post("/{session_id}/messages", response_class=HTMLResponse)
async def send(session_id: str, request: Request, rt: RuntimeDep) -> Response:
    """The customer's message, answered as ``POST /v1/sessions/{id}/messages`` answers it."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return got
    caller, form = got
    try:
        session = await run_in_threadpool(_session, rt, caller, session_id)
    except NotFound as exc:
        return refused(request, caller, exc.message, 404)
    text, body, problem = message_of(form)
    if body is None:
        return await run_in_threadpool(lambda: chat_page(request, rt, caller, session, values={"text": text},
                                                         errors={"text": problem}, status=422))
    try:
        decision = await run_in_threadpool(rt.agent.handle, caller.workspace, session_id, body.text)
    except Conflict as exc:
        errors = {"text": exc.message}
        return await run_in_threadpool(lambda: chat_page(request, rt, caller, session, values={"text": text},
                                                         errors=errors, status=409))
    return see_other(f"/admin/chat?session={quote(session_id)}#message-{decision.message_id}")


@router.post("/{session_id}/messages/stream", response_class=StreamingResponse)
async def send_streamed(session_id: str, request: Request, rt: RuntimeDep) -> Response:
    """The same message, the reply as server-sent events (as ``POST /v1/sessions/{id}/messages/stream``
    sends them); a refusal is ``{"error": ...}`` with its status, before any event."""
    got = await writer_form(request, rt)
    if isinstance(got, Response):
        return JSONResponse({"error": "sign in again with a key that may write, from this page"},
                            status_code=got.status_code if got.status_code >= 400 else 401)
    caller, form = got
    _, body, problem = message_of(form)
    if body is None:
        return JSONResponse({"error": problem}, status_code=422)
    try:
        decision = await run_in_threadpool(rt.agent.handle, caller.workspace, session_id, body.text)
    except KnowdeskError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.http_status)
    return StreamingResponse(events(decision.to_json()), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
