"""Sessions and the answering agent: open a session, send messages (each returns the decision),
read the transcript and events, resolve or close it, list handoffs, read and set the agent config."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from agent.access import MAX_TOKEN_CHARS
from agent.policy import AgentConfig, ConfigStore
from agent.sessions import ContactRef, SessionInfo, SessionStatus
from core.errors import check_size
from core.models import Channel
from service.deps import Admin, Reader, RuntimeDep, Writer
from service.routing import KeyedRoute
from service.schemas.common import errors
from service.schemas.sessions import (
    AgentConfigPublic,
    DecisionPublic,
    HandoffsPublic,
    SessionDetailPublic,
    SessionPublic,
)

router = APIRouter(prefix="/v1", tags=["sessions"], route_class=KeyedRoute)


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel = Channel.WEB
    contact: ContactRef | None = None
    #: A signed identity token (HS256 under the workspace's identity secret, see README "Security"):
    #: the session's contact is the one it names, and sees what the token's groups open.
    identity_token: str | None = Field(default=None, min_length=1, max_length=MAX_TOKEN_CHARS)


class MessageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=8000)


def _session_json(s: SessionInfo) -> dict[str, Any]:
    return s.model_dump(mode="json")


@router.post("/sessions", status_code=201, response_model=SessionPublic, responses=errors(409))
def create_session(body: SessionRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Open a session on a channel for a contact (found by email, phone or external id, or created).
    With `identity_token`, the token is verified first (401 when it fails: never a public session
    instead) and the contact's verified groups decide which restricted documents it may see."""
    identity = rt.access.verify(caller.workspace, body.identity_token) if body.identity_token is not None else None
    return _session_json(rt.agent.store.create(caller.workspace, channel=body.channel, contact=body.contact,
                                               identity=identity))


@router.post("/sessions/{session_id}/messages", response_model=DecisionPublic)
def post_message(session_id: str, body: MessageRequest, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """The customer's message; returns the Decision (answer, clarify, action_call or handoff)."""
    return rt.agent.handle(caller.workspace, session_id, body.text).to_json()


@router.get("/sessions/{session_id}", response_model=SessionDetailPublic)
def get_session(session_id: str, caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """The session with its redacted transcript, events and handoffs."""
    store = rt.agent.store
    session = store.get(caller.workspace, session_id)
    return _session_json(session) | {
        "transcript": [m.model_dump(mode="json") for m in store.messages(caller.workspace, session_id)],
        "events": [e.model_dump(mode="json") for e in store.events(caller.workspace, session_id)],
        "handoffs": [h.model_dump(mode="json") for h in store.handoffs(caller.workspace, session_id=session_id)],
    }


@router.post("/sessions/{session_id}/resolve", response_model=SessionPublic)
def resolve_session(session_id: str, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    """Mark the session resolved; a handed-off session a person replied to proposes a Q&A draft
    (``GET /v1/resolutions?status=pending``)."""
    session = rt.agent.store.set_status(caller.workspace, session_id, SessionStatus.RESOLVED)
    rt.resolutions.on_resolved(caller.workspace, session_id)
    return _session_json(session)


@router.post("/sessions/{session_id}/close", response_model=SessionPublic)
def close_session(session_id: str, caller: Writer, rt: RuntimeDep) -> dict[str, Any]:
    return _session_json(rt.agent.store.set_status(caller.workspace, session_id, SessionStatus.CLOSED))


@router.get("/handoffs", response_model=HandoffsPublic)
def list_handoffs(
    caller: Reader, rt: RuntimeDep, limit: int = Query(default=50, ge=1, le=500), session_id: str | None = None
) -> dict[str, Any]:
    """Recent handoffs, newest first, each with its helpdesk deliveries."""
    agent = rt.agent
    outbox = agent.recorder.outbox
    rows = agent.store.handoffs(caller.workspace, session_id=session_id, limit=limit)
    return {
        "handoffs": [
            h.model_dump(mode="json") | {"deliveries": outbox.status(caller.workspace, h.id) if outbox else []}
            for h in rows
        ]
    }


@router.get("/agent/config", response_model=AgentConfigPublic)
def get_config(caller: Reader, rt: RuntimeDep) -> dict[str, Any]:
    """The workspace's agent configuration (autopilot, topics, triggers, redaction)."""
    return ConfigStore(db=rt.db).get(caller.workspace).model_dump(mode="json")


@router.put("/agent/config", response_model=AgentConfigPublic, responses=errors(413))
def put_config(body: AgentConfig, caller: Admin, rt: RuntimeDep) -> dict[str, Any]:
    check_size(body.model_dump(mode="json"), what="the agent configuration", max_bytes=256 * 1024)
    return ConfigStore(db=rt.db).put(caller.workspace, body).model_dump(mode="json")
