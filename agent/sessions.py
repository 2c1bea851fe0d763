"""The session store: contacts, sessions with ticket numbers, the transcript, events and handoffs.

Every text written here is already redacted by the agent. Ticket numbers are per workspace
(#1001, #1002, ...) and allocated with one atomic ``UPDATE ... RETURNING``, so concurrent
sessions on SQLite or PostgreSQL never share a number.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.db import Database, insert_ignore
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Channel, Frozen
from core.tables import WorkspaceRow, utcnow

from .access import Identity
from .redaction import scrub, scrub_json
from .tables import FIRST_TICKET, ContactRow, EventRow, HandoffRow, MessageRow, SessionRow, TicketCounterRow


class SessionStatus(StrEnum):
    OPEN = "open"
    HANDED_OFF = "handed_off"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    HUMAN = "human"


class ContactRef(Frozen):
    """How a session names its contact: an email, a phone number or a custom id (at least one)."""

    email: str | None = Field(default=None, max_length=320, json_schema_extra={"pattern": "@"})
    phone: str | None = Field(default=None, max_length=64)
    external_id: str | None = Field(default=None, max_length=200)
    name: str = Field(default="", max_length=200)
    segments: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _identified(self) -> ContactRef:
        if self.email is not None and "@" not in self.email:
            raise ValueError(f"contact email {self.email!r} is not an email address")
        return self


class Contact(Frozen):
    id: str
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    name: str = ""
    segments: tuple[str, ...] = ()


class SessionInfo(Frozen):
    """A session as the API shows it."""

    id: str
    workspace: str
    ticket: int
    channel: Channel
    status: SessionStatus
    contact: Contact
    #: The contact's verified identity (a signed token when the session was opened), or None.
    identity: Identity | None = None
    created_at: datetime
    updated_at: datetime


class MessageInfo(Frozen):
    id: int
    role: Role
    text: str
    created_at: datetime


class EventInfo(Frozen):
    id: int
    type: str
    data: dict[str, Any]
    created_at: datetime


class DecisionRecord(Frozen):
    """A stored decision with its session's channel and ticket, and the customer message it answered."""

    event_id: int
    session_id: str
    ticket: int
    channel: Channel
    created_at: datetime
    message: str | None = None
    data: dict[str, Any]


class HandoffInfo(Frozen):
    """A stored handoff: everything the human team needs."""

    id: str
    session_id: str
    ticket: int
    reason: str
    trigger_score: float | None
    confidence: float | None
    summary: str
    sentiment: dict[str, Any]
    documents: list[Any]
    scenarios: list[Any]
    transcript: list[Any]
    assignee: str | None = None  # the human who took it, once recorded
    created_at: datetime


class SessionStore:
    """Reads and writes sessions of every workspace. Construct with ``SessionStore(db=...)``."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    # -- sessions -------------------------------------------------------------------------------
    def create(self, workspace: str, *, channel: Channel | str, contact: ContactRef | None = None,
               identity: Identity | None = None) -> SessionInfo:
        """Open a session with the next ticket number; the contact is found or created.

        ``identity``: the contact's verified identity (``AccessStore.verify``); it names the contact
        (its email, its subject as the external id), and a ``contact`` given beside it must agree.

        Raises:
            InvalidInput: an unknown channel, or a contact that contradicts the identity.
        """
        try:
            channel = Channel(channel)
        except ValueError as exc:
            raise InvalidInput(
                f"unknown channel {channel!r}; one of {', '.join(c.value for c in Channel)}", channel=channel
            ) from exc
        ref = _identified(contact or ContactRef(), identity)
        with self.db.session() as s:
            insert_ignore(s, WorkspaceRow.__table__, id=workspace, name=workspace, created_at=utcnow())
        contact_row = self._contact(workspace, ref)
        with self.db.session() as s:
            ticket = self._next_ticket(s, workspace)
            row = SessionRow(
                id=str(uuid.uuid4()),
                workspace=workspace,
                ticket=ticket,
                channel=channel.value,
                contact_id=contact_row.id,
                status=SessionStatus.OPEN.value,
                identity=identity.model_dump(mode="json") if identity else None,
            )
            s.add(row)
            s.add(
                EventRow(
                    workspace=workspace,
                    session_id=row.id,
                    type="status",
                    data={"status": SessionStatus.OPEN.value, "ticket": ticket, "channel": channel.value},
                )
            )
            s.flush()
            return _session(row, contact_row)

    def get(self, workspace: str, session_id: str) -> SessionInfo:
        with self.db.session() as s:
            row = s.get(SessionRow, session_id)
            if row is None or row.workspace != workspace:
                raise NotFound(f"no session {session_id!r} in workspace {workspace!r}", session_id=session_id)
            contact = s.get(ContactRow, row.contact_id)
            assert contact is not None
            return _session(row, contact)

    def set_status(self, workspace: str, session_id: str, status: SessionStatus, **data: Any) -> SessionInfo:
        """Move a session to ``status``; a closed session stays closed."""
        current = self.get(workspace, session_id)
        if current.status == SessionStatus.CLOSED and status != SessionStatus.CLOSED:
            raise Conflict(f"session {session_id!r} (ticket #{current.ticket}) is closed; open a new session")
        with self.db.session() as s:
            s.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(status=status.value, updated_at=utcnow())
            )
            s.add(
                EventRow(
                    workspace=workspace, session_id=session_id, type="status", data={"status": status.value, **data}
                )
            )
        return self.get(workspace, session_id)

    # -- transcript and events ------------------------------------------------------------------
    def add_message(self, workspace: str, session_id: str, role: Role, text: str) -> int:
        with self.db.session() as s:
            row = MessageRow(workspace=workspace, session_id=session_id, role=role.value, text=scrub(text))
            s.add(row)
            s.flush()
            s.add(
                EventRow(
                    workspace=workspace,
                    session_id=session_id,
                    type="message",
                    data={"message_id": row.id, "role": role.value},
                )
            )
            s.execute(update(SessionRow).where(SessionRow.id == session_id).values(updated_at=utcnow()))
            return int(row.id)

    def add_event(self, workspace: str, session_id: str, type_: str, data: dict[str, Any]) -> None:
        with self.db.session() as s:
            s.add(EventRow(workspace=workspace, session_id=session_id, type=type_, data=scrub_json(data)))

    def messages(self, workspace: str, session_id: str) -> list[MessageInfo]:
        with self.db.session() as s:
            rows = s.scalars(
                select(MessageRow)
                .where(MessageRow.workspace == workspace, MessageRow.session_id == session_id)
                .order_by(MessageRow.id)
            )
            return [MessageInfo(id=r.id, role=Role(r.role), text=r.text, created_at=r.created_at) for r in rows]

    def events(self, workspace: str, session_id: str) -> list[EventInfo]:
        with self.db.session() as s:
            rows = s.scalars(
                select(EventRow)
                .where(EventRow.workspace == workspace, EventRow.session_id == session_id)
                .order_by(EventRow.id)
            )
            return [EventInfo(id=r.id, type=r.type, data=r.data, created_at=r.created_at) for r in rows]

    def decisions(self, workspace: str, *, channel: str | None = None, limit: int = 200) -> list[DecisionRecord]:
        """The workspace's newest decision records (optionally on one channel), each with the customer
        message it answered: the last customer message stored before the decision's reply."""
        with self.db.session() as s:
            q = (select(EventRow, SessionRow)
                 .join(SessionRow, SessionRow.id == EventRow.session_id)
                 .where(EventRow.workspace == workspace, EventRow.type == "decision"))
            if channel:
                q = q.where(SessionRow.channel == channel)
            rows = s.execute(q.order_by(EventRow.id.desc()).limit(limit)).all()
            out = []
            for event, session in rows:
                reply_id = event.data.get("message_id") if isinstance(event.data, dict) else None
                m = select(MessageRow.text).where(MessageRow.workspace == workspace,
                                                  MessageRow.session_id == session.id,
                                                  MessageRow.role == Role.CUSTOMER.value)
                if isinstance(reply_id, int):
                    m = m.where(MessageRow.id < reply_id)
                message = s.scalars(m.order_by(MessageRow.id.desc()).limit(1)).first()
                out.append(DecisionRecord(event_id=event.id, session_id=session.id, ticket=session.ticket,
                                          channel=Channel(session.channel), created_at=event.created_at,
                                          message=message, data=dict(event.data or {})))
            return out

    # -- handoffs -------------------------------------------------------------------------------
    def record_handoff(self, workspace: str, session_id: str, **fields: Any) -> HandoffInfo:
        """Store a handoff, mark the session handed off and attach a handoff event."""
        session = self.get(workspace, session_id)
        if "summary" in fields:  # free text, never stored raw
            fields["summary"] = scrub(fields["summary"])
        for structured in ("transcript", "sentiment"):
            if structured in fields:
                fields[structured] = scrub_json(fields[structured])
        with self.db.session() as s:
            row = HandoffRow(
                id=str(uuid.uuid4()), workspace=workspace, session_id=session_id, ticket=session.ticket, **fields
            )
            s.add(row)
            s.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(status=SessionStatus.HANDED_OFF.value, updated_at=utcnow())
            )
            s.add(
                EventRow(
                    workspace=workspace,
                    session_id=session_id,
                    type="handoff",
                    data={"handoff_id": row.id, "reason": row.reason, "trigger_score": row.trigger_score},
                )
            )
            s.flush()
            return _handoff(row)

    def handoffs(self, workspace: str, *, session_id: str | None = None, limit: int = 50) -> list[HandoffInfo]:
        with self.db.session() as s:
            q = select(HandoffRow).where(HandoffRow.workspace == workspace)
            if session_id:
                q = q.where(HandoffRow.session_id == session_id)
            rows = s.scalars(q.order_by(HandoffRow.created_at.desc(), HandoffRow.id).limit(limit))
            return [_handoff(r) for r in rows]

    def handoff(self, workspace: str, handoff_id: str) -> HandoffInfo:
        with self.db.session() as s:
            row = s.get(HandoffRow, handoff_id)
            if row is None or row.workspace != workspace:
                raise NotFound(f"no handoff {handoff_id!r} in workspace {workspace!r}")
            return _handoff(row)

    def contact(self, workspace: str, contact_id: str) -> Contact:
        with self.db.session() as s:
            row = s.get(ContactRow, contact_id)
            if row is None or row.workspace != workspace:
                raise NotFound(f"no contact {contact_id!r}")
            return _contact(row)

    # -- internals ------------------------------------------------------------------------------
    def _contact(self, workspace: str, ref: ContactRef) -> ContactRow:
        email = ref.email.strip().lower() if ref.email else None
        keys = [(ContactRow.email, email), (ContactRow.phone, ref.phone), (ContactRow.external_id, ref.external_id)]
        for _ in range(2):  # a concurrent insert of the same contact loses the race once, then finds it
            with self.db.session() as s:
                for column, value in keys:
                    if value:
                        found = s.scalars(
                            select(ContactRow).where(ContactRow.workspace == workspace, column == value)
                        ).first()
                        if found is not None:
                            if ref.segments and tuple(found.segments) != ref.segments:
                                found.segments = list(ref.segments)
                            return found
            try:
                with self.db.session() as s:
                    row = ContactRow(
                        id=str(uuid.uuid4()),
                        workspace=workspace,
                        email=email,
                        phone=ref.phone,
                        external_id=ref.external_id,
                        name=ref.name,
                        segments=list(ref.segments),
                    )
                    s.add(row)
                return row
            except IntegrityError:
                continue
        raise Conflict("the contact was being created concurrently; try again")

    @staticmethod
    def _next_ticket(s: Session, workspace: str) -> int:
        insert_ignore(s, TicketCounterRow.__table__, workspace=workspace, next_ticket=FIRST_TICKET)
        result = s.execute(
            update(TicketCounterRow)
            .where(TicketCounterRow.workspace == workspace)
            .values(next_ticket=TicketCounterRow.next_ticket + 1)
            .returning(TicketCounterRow.next_ticket)
        )
        return int(result.scalar_one()) - 1


def _contact(row: ContactRow) -> Contact:
    return Contact(
        id=row.id,
        email=row.email,
        phone=row.phone,
        external_id=row.external_id,
        name=row.name,
        segments=tuple(row.segments or ()),
    )


def _identified(ref: ContactRef, identity: Identity | None) -> ContactRef:
    """The contact of a session: ``ref``, named by the verified identity when there is one."""
    if identity is None:
        return ref
    given_email = ref.email.strip().lower() if ref.email else None
    for what, given, verified in (("email", given_email, identity.email),
                                  ("external_id", ref.external_id, identity.subject)):
        if given is not None and verified is not None and given != verified:
            raise InvalidInput(f"the contact's {what} {given!r} differs from the identity token's ({verified!r}); "
                               f"omit it or give the token's", field=what)
    return ref.model_copy(update={"email": identity.email or ref.email,
                                  "external_id": identity.subject or ref.external_id})


def _session(row: SessionRow, contact: ContactRow) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        workspace=row.workspace,
        ticket=row.ticket,
        channel=Channel(row.channel),
        status=SessionStatus(row.status),
        contact=_contact(contact),
        identity=Identity.model_validate(row.identity) if row.identity else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _handoff(row: HandoffRow) -> HandoffInfo:
    return HandoffInfo(
        id=row.id,
        session_id=row.session_id,
        ticket=row.ticket,
        reason=row.reason,
        trigger_score=row.trigger_score,
        confidence=row.confidence,
        summary=row.summary,
        sentiment=row.sentiment or {},
        documents=row.documents or [],
        scenarios=row.scenarios or [],
        transcript=row.transcript or [],
        assignee=row.assignee,
        created_at=row.created_at,
    )
