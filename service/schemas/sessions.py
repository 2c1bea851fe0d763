"""Responses of /v1/sessions, /v1/handoffs and /v1/agent/config."""

from __future__ import annotations

from agent.decision import Decision
from agent.policy import AgentConfig
from agent.sessions import EventInfo, HandoffInfo, MessageInfo, SessionInfo
from service.schemas.common import Public, Timestamp


class SessionPublic(SessionInfo):
    """A session: its channel, status, contact and ticket number."""


class SessionDetailPublic(SessionInfo):
    """A session with its redacted transcript, events and handoffs."""

    transcript: list[MessageInfo]
    events: list[EventInfo]
    handoffs: list[HandoffInfo]


class DecisionPublic(Decision):
    """What the agent did with a message: answer, clarify, action_call or handoff, with the trace."""


class DeliveryPublic(Public):
    """One helpdesk delivery of a handoff."""

    target: str
    status: str
    attempts: int
    external_ref: str | None
    last_error: str | None
    next_attempt_at: Timestamp


class HandoffPublic(HandoffInfo):
    deliveries: list[DeliveryPublic]


class HandoffsPublic(Public):
    handoffs: list[HandoffPublic]


class AgentConfigPublic(AgentConfig):
    """The workspace's agent configuration."""
