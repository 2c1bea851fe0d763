"""The session store on SQLite and PostgreSQL: tickets, contacts, transcript, status."""

from __future__ import annotations

import pytest

from agent.sessions import ContactRef, Role, SessionStatus, SessionStore
from core.db import Database
from core.errors import Conflict, InvalidInput, NotFound


def test_ticket_numbers_count_per_workspace(db: Database) -> None:
    store = SessionStore(db=db)
    a = [store.create("alpha", channel="web").ticket for _ in range(3)]
    b = store.create("beta", channel="email").ticket
    assert a == [1001, 1002, 1003]
    assert b == 1001


def test_a_contact_has_many_sessions(db: Database) -> None:
    store = SessionStore(db=db)
    first = store.create("alpha", channel="web", contact=ContactRef(email="Ann@Example.com", segments=("vip",)))
    second = store.create("alpha", channel="whatsapp", contact=ContactRef(email="ann@example.com"))
    other = store.create("alpha", channel="sms", contact=ContactRef(phone="+4915112345678"))
    assert first.contact.id == second.contact.id != other.contact.id
    assert second.contact.segments == ("vip",) and second.contact.email == "ann@example.com"


def test_transcript_events_and_status(db: Database) -> None:
    store = SessionStore(db=db)
    s = store.create("alpha", channel="api")
    store.add_message("alpha", s.id, Role.CUSTOMER, "hello")
    store.add_message("alpha", s.id, Role.AGENT, "hi")
    assert [(m.role, m.text) for m in store.messages("alpha", s.id)] == [(Role.CUSTOMER, "hello"), (Role.AGENT, "hi")]
    assert store.set_status("alpha", s.id, SessionStatus.RESOLVED).status == SessionStatus.RESOLVED
    store.set_status("alpha", s.id, SessionStatus.CLOSED)
    with pytest.raises(Conflict, match="closed"):
        store.set_status("alpha", s.id, SessionStatus.OPEN)
    types = [e.type for e in store.events("alpha", s.id)]
    assert types == ["status", "message", "message", "status", "status"]


def test_sessions_are_scoped_to_their_workspace(db: Database) -> None:
    store = SessionStore(db=db)
    s = store.create("alpha", channel="web")
    with pytest.raises(NotFound):
        store.get("beta", s.id)


def test_unknown_channel_is_a_clear_error(db: Database) -> None:
    with pytest.raises(InvalidInput, match="unknown channel 'fax'"):
        SessionStore(db=db).create("alpha", channel="fax")
