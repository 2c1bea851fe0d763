"""The CSAT webhook against a loopback receiver on 127.0.0.1: signed events, retries, refusals."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from agent.sessions import SessionStatus, SessionStore
from core.db import Database
from core.models import Channel
from core.settings import InsightsCsatSettings
from core.tables import utcnow
from csat.service import CsatService
from csat.webhook import CsatWebhook
from tests.fixtures.loopback import Fault, LoopbackServer, Response, serve

SECRET = "whsec-test"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    for server in serve():
        server.route("POST", "/hooks/csat", lambda req: Response(status=204))
        yield server


def _csat(db: Database, url: str, client: httpx.Client) -> CsatService:
    webhook = CsatWebhook(db=db, url=url, secret=SECRET, client=client, max_attempts=3,
                          retry_seconds=1)
    return CsatService(sessions=SessionStore(db=db), settings=InsightsCsatSettings(), webhook=webhook)


def _resolved(csat: CsatService, channel: Channel = Channel.WEB) -> str:
    info = csat.sessions.create("w", channel=channel)
    csat.sessions.set_status("w", info.id, SessionStatus.RESOLVED)
    return info.id


def test_each_score_is_posted_signed_with_hmac_sha256(sqlite_db: Database, receiver: LoopbackServer,
    client: httpx.Client) -> None:
    csat = _csat(sqlite_db, f"{receiver.url}/hooks/csat", client)
    sid = _resolved(csat)
    csat.record("w", sid, 2, "Too slow")
    [req] = receiver.requests_to("/hooks/csat", method="POST")
    timestamp = req.header("x-knowdesk-timestamp")
    assert timestamp is not None and req.header("x-knowdesk-event") == "csat.score"
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.header("x-knowdesk-signature") == f"sha256={expected}"
    wrong = hmac.new(b"other", timestamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert req.header("x-knowdesk-signature") != f"sha256={wrong}"
    body = json.loads(req.body)
    assert (body["type"], body["session_id"], body["score"], body["comment"], body["workspace"]) == (
        "csat.score", sid, 2, "Too slow", "w")
    assert csat.webhook.status("w", sid)[0]["status"] == "sent"


def test_a_failed_delivery_is_kept_and_retried_and_a_refusal_is_final(sqlite_db: Database,
                                                                      receiver: LoopbackServer,
                                                                      client: httpx.Client) -> None:
    csat = _csat(sqlite_db, f"{receiver.url}/hooks/csat", client)
    receiver.faults.add(Fault(status=503, times=1))
    sid = _resolved(csat)
    csat.record("w", sid, 5)  # the score is stored even though the receiver is down
    [event] = csat.webhook.status("w", sid)
    assert (event["status"], event["attempts"]) == ("pending", 1) and "503" in event["last_error"]
    assert csat.webhook.deliver_due() == 0  # not due yet (back-off)
    assert csat.webhook.deliver_due(now=utcnow() + timedelta(minutes=5)) == 1
    assert csat.webhook.status("w", sid)[0]["status"] == "sent"

    receiver.faults.add(Fault(status=401, times=1))
    other = _resolved(csat)
    csat.record("w", other, 4)
    assert csat.webhook.status("w", other)[0]["status"] == "failed"
    assert len(receiver.requests_to("/hooks/csat")) == 3


def test_survey_events_are_sent_when_due(sqlite_db: Database, receiver: LoopbackServer,
    client: httpx.Client) -> None:
    csat = _csat(sqlite_db, f"{receiver.url}/hooks/csat", client)
    sid = _resolved(csat, Channel.EMAIL)  # email surveys wait an hour by default
    survey = csat.request_survey("w", sid)
    assert csat.webhook.deliver_due() == 0
    assert csat.webhook.deliver_due(now=survey.due_at + timedelta(seconds=1)) == 1
    [req] = receiver.requests
    assert req.header("x-knowdesk-event") == "csat.survey_requested"
    assert json.loads(req.body)["channel"] == "email"
