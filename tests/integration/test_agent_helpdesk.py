"""Helpdesk delivery against loopback servers: HubSpot tickets, the signed webhook, permanent errors."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import pytest

from agent.helpdesk import HubSpotTarget, Outbox, WebhookTarget, sign
from agent.sessions import Role, SessionStore
from core.db import Database
from tests.fixtures.loopback import LoopbackServer, Request, Response

pytestmark = pytest.mark.slow


def handed_off(store: SessionStore) -> tuple[str, str, int]:
    session = store.create("alpha", channel="web")
    store.add_message("alpha", session.id, Role.CUSTOMER, "My grinder is broken, I want a person")
    handoff = store.record_handoff(
        "alpha",
        session.id,
        reason="human_requested",
        trigger_score=0.9,
        confidence=None,
        summary="My grinder is broken",
        sentiment={"label": "negative"},
        documents=[],
        scenarios=[],
        transcript=[{"role": "customer", "text": "My grinder is broken"}],
    )
    return session.id, handoff.id, session.ticket


def test_hubspot_ticket_and_signed_webhook(sqlite_db: Database) -> None:
    store = SessionStore(db=sqlite_db)
    _, handoff_id, ticket = handed_off(store)
    with LoopbackServer() as server, httpx.Client(timeout=5) as client:
        server.route("POST", r"/crm/v3/objects/tickets", lambda req: Response.json({"id": "512"}, status=201))
        server.route("POST", r"/hooks/handoff", lambda req: Response.json({"ok": True}))
        outbox = Outbox(
            db=sqlite_db,
            store=store,
            targets=[
                HubSpotTarget(base_url=server.url, token="pat-1", pipeline="0", stage="1", client=client),
                WebhookTarget(url=f"{server.url}/hooks/handoff", secret="s3cret", client=client),
            ],
        )
        outbox.enqueue("alpha", handoff_id)
        assert outbox.deliver_due().sent == 2

        hub: Request = server.requests_to("crm")[0]
        props = hub.json()["properties"]
        assert hub.header("authorization") == "Bearer pat-1"
        assert f"#{ticket}" in props["subject"] and props["hs_pipeline"] == "0" and props["hs_pipeline_stage"] == "1"
        hook: Request = server.requests_to("hooks")[0]
        timestamp = hook.header("x-knowdesk-timestamp") or ""
        expected = "sha256=" + hmac.new(b"s3cret", timestamp.encode() + b"." + hook.body, hashlib.sha256).hexdigest()
        assert hook.header("x-knowdesk-signature") == expected == sign("s3cret", timestamp, hook.body)
        assert hook.json()["ticket"] == ticket and hook.json()["type"] == "handoff"
        assert {d["status"] for d in outbox.status("alpha", handoff_id)} == {"sent"}


def test_a_rejected_credential_is_not_retried(sqlite_db: Database) -> None:
    store = SessionStore(db=sqlite_db)
    _, handoff_id, _ = handed_off(store)
    with LoopbackServer() as server, httpx.Client(timeout=5) as client:
        server.route(
            "POST", r"/crm/v3/objects/tickets", lambda req: Response.json({"message": "invalid token"}, status=401)
        )
        outbox = Outbox(
            db=sqlite_db,
            store=store,
            targets=[HubSpotTarget(base_url=server.url, token="bad", pipeline="0", stage="1", client=client)],
        )
        outbox.enqueue("alpha", handoff_id)
        assert outbox.deliver_due().failed == 1
        [row] = outbox.status("alpha", handoff_id)
        assert row["status"] == "failed" and "401" in row["last_error"]
        assert outbox.deliver_due().sent == 0 and len(server.requests) == 1


def test_an_unreachable_helpdesk_keeps_the_handoff_pending(sqlite_db: Database) -> None:
    store = SessionStore(db=sqlite_db)
    session_id, handoff_id, _ = handed_off(store)
    server = LoopbackServer().start()
    url = server.url
    server.stop()
    with httpx.Client(timeout=2) as client:
        outbox = Outbox(
            db=sqlite_db,
            store=store,
            targets=[WebhookTarget(url=url, secret="x", client=client)],
            retry_base_seconds=60,
        )
        outbox.enqueue("alpha", handoff_id)
        assert outbox.deliver_due().retrying == 1
    [row] = outbox.status("alpha", handoff_id)
    assert row["status"] == "pending" and row["attempts"] == 1 and "unreachable" in row["last_error"]
    assert outbox.deliver_due().retrying == 0  # not due for another minute
    assert any(e.type == "helpdesk" for e in store.events("alpha", session_id))
