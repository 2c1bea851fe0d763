"""Helpdesk handoff: Zendesk and HubSpot tickets and a signed webhook, through a durable outbox.

A handoff is stored first (``SessionStore.record_handoff``), then one outbox row per configured
target is written in the state database and delivered. A failed delivery stays in the outbox
with its error and is retried with exponential back-off (or after the target's ``Retry-After``)
by ``Outbox.deliver_due()``, so an outage of the helpdesk never loses a handoff; a permanent
error (401, 403, 404, 422) or too many attempts marks it ``failed`` for a person to look at.

- Zendesk: ``POST {zendesk_url}/api/v2/tickets.json`` (basic auth ``email/token:api_token``).
- HubSpot: ``POST {hubspot_url}/crm/v3/objects/tickets`` (private app token, Bearer).
- Webhook: ``POST webhook_url`` with ``X-Knowdesk-Timestamp`` and ``X-Knowdesk-Signature:
  sha256=<hex HMAC-SHA256 of "{timestamp}.{body}" with the secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from pydantic import Field
from sqlalchemy import select, update

from core.db import Database
from core.errors import KnowdeskError, RateLimited, SourceError
from core.models import Frozen
from core.settings import HelpdeskSettings
from core.tables import utcnow
from ingest.connectors.http import error_for_status

from .redaction import scrub
from .sessions import HandoffInfo, SessionStore
from .tables import OutboxRow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)


class HandoffTicket(Frozen):
    """What a helpdesk receives: the ticket number, why, a summary and the redacted transcript."""

    workspace: str
    handoff_id: str
    session_id: str
    ticket: int
    channel: str
    reason: str
    trigger_score: float | None = None
    confidence: float | None = None
    summary: str = ""
    sentiment: dict[str, Any] = Field(default_factory=dict)
    documents: list[Any] = Field(default_factory=list)
    scenarios: list[Any] = Field(default_factory=list)
    transcript: list[dict[str, Any]] = Field(default_factory=list)
    contact_email: str | None = None
    contact_name: str = ""

    @property
    def urgent(self) -> bool:
        """An upset customer or a prohibited topic: the helpdesks get it at high priority."""
        return self.reason in ("frustration", "prohibited_topic")

    @property
    def subject(self) -> str:
        return scrub(f"#{self.ticket} {self.reason.replace('_', ' ')}: {self.summary[:80]}".strip())

    def body(self) -> str:
        lines = [
            f"Ticket #{self.ticket} handed off by the AI agent ({self.reason}).",
            "",
            f"Summary: {self.summary}",
            f"Sentiment: {self.sentiment.get('label', 'unknown')}",
            "",
            "Transcript:",
        ]
        lines += [f"{m.get('role')}: {m.get('text')}" for m in self.transcript]
        return scrub("\n".join(lines))  # sent to a helpdesk: the same redaction as everything stored


class Target(Protocol):
    """One place handoffs are delivered to. ``send`` returns the remote id (or a status)."""

    name: str

    def send(self, ticket: HandoffTicket) -> str: ...


def _post(client: httpx.Client, url: str, what: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.post(url, **kwargs)
    except httpx.HTTPError as exc:
        raise SourceError(f"{what} is unreachable: {exc}") from exc
    if response.status_code >= 400:
        raise error_for_status(
            response.status_code,
            what=what,
            body=response.text,
            headers=dict(response.headers),
            credential="the helpdesk credentials",
        )
    return response


class ZendeskTarget:
    name = "zendesk"

    def __init__(self, *, base_url: str, email: str, token: str, client: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = (f"{email}/token", token)
        self.client = client

    def send(self, ticket: HandoffTicket) -> str:
        payload: dict[str, Any] = {
            "subject": ticket.subject,
            "comment": {"body": ticket.body(), "public": False},
            "external_id": f"knowdesk-{ticket.workspace}-{ticket.ticket}",
            "tags": ["knowdesk", f"handoff_{ticket.reason}", f"ticket_{ticket.ticket}"],
            "priority": "high" if ticket.urgent else "normal",
        }
        if ticket.contact_email:
            payload["requester"] = {"email": ticket.contact_email, "name": ticket.contact_name or ticket.contact_email}
        response = _post(
            self.client,
            f"{self.base_url}/api/v2/tickets.json",
            "Zendesk POST /api/v2/tickets.json",
            json={"ticket": payload},
            auth=self.auth,
        )
        return str(response.json().get("ticket", {}).get("id", ""))


class HubSpotTarget:
    name = "hubspot"

    def __init__(self, *, base_url: str, token: str, pipeline: str, stage: str, client: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.pipeline, self.stage = pipeline, stage
        self.client = client

    def send(self, ticket: HandoffTicket) -> str:
        properties = {
            "hs_pipeline": self.pipeline,
            "hs_pipeline_stage": self.stage,
            "subject": ticket.subject,
            "content": ticket.body(),
            "hs_ticket_priority": "HIGH" if ticket.urgent else "MEDIUM",
        }
        response = _post(
            self.client,
            f"{self.base_url}/crm/v3/objects/tickets",
            "HubSpot POST /crm/v3/objects/tickets",
            json={"properties": properties},
            headers=self.headers,
        )
        return str(response.json().get("id", ""))


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature: ``sha256=`` + hex HMAC-SHA256 of ``timestamp + "." + body``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookTarget:
    name = "webhook"

    def __init__(self, *, url: str, secret: str, client: httpx.Client) -> None:
        self.url, self.secret, self.client = url, secret, client

    def send(self, ticket: HandoffTicket) -> str:
        body = json.dumps({"type": "handoff", **ticket.model_dump(mode="json")}, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Knowdesk-Timestamp": timestamp,
            "X-Knowdesk-Signature": sign(self.secret, timestamp, body),
        }
        response = _post(self.client, self.url, f"webhook POST {self.url}", content=body, headers=headers)
        return str(response.status_code)


def has_targets(settings: HelpdeskSettings) -> bool:
    """Whether the settings configure any delivery target (none by default)."""
    return bool((settings.zendesk_url and settings.zendesk_token) or settings.hubspot_token or settings.webhook_url)


def build_targets(settings: HelpdeskSettings, client: httpx.Client | None = None) -> list[Target]:
    """The targets the settings configure (none by default)."""
    if not has_targets(settings):
        return []
    client = client or httpx.Client(timeout=settings.timeout)
    targets: list[Target] = []
    if settings.zendesk_url and settings.zendesk_email and settings.zendesk_token:
        targets.append(
            ZendeskTarget(
                base_url=settings.zendesk_url,
                email=settings.zendesk_email,
                token=settings.zendesk_token.get_secret_value(),
                client=client,
            )
        )
    if settings.hubspot_token:
        targets.append(
            HubSpotTarget(
                base_url=settings.hubspot_url,
                token=settings.hubspot_token.get_secret_value(),
                pipeline=settings.hubspot_pipeline,
                stage=settings.hubspot_stage,
                client=client,
            )
        )
    if settings.webhook_url and settings.webhook_secret:
        targets.append(
            WebhookTarget(url=settings.webhook_url, secret=settings.webhook_secret.get_secret_value(), client=client)
        )
    return targets


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


class Outbox:
    """Durable delivery of handoffs to every target, with retries.

    Args:
        db: the state database. store: reads the handoff, session and contact.
        targets: where to deliver. max_attempts, retry_base_seconds: the back-off.
    """

    def __init__(
        self,
        *,
        db: Database,
        store: SessionStore,
        targets: Sequence[Target],
        max_attempts: int = 8,
        retry_base_seconds: float = 30.0,
    ) -> None:
        self.db, self.store = db, store
        self.targets = {t.name: t for t in targets}
        self.max_attempts = max_attempts
        self.retry_base = retry_base_seconds

    def enqueue(self, workspace: str, handoff_id: str) -> list[str]:
        """One pending row per target; returns their ids."""
        ids = []
        with self.db.session() as s:
            for name in self.targets:
                row = OutboxRow(id=str(uuid.uuid4()), workspace=workspace, handoff_id=handoff_id, target=name)
                s.add(row)
                ids.append(row.id)
        return ids

    def deliver_due(
        self, *, now: datetime | None = None, limit: int = 50, handoff_id: str | None = None
    ) -> DeliveryReport:
        """Try every pending delivery that is due (or all of one handoff's)."""
        now = now or utcnow()
        report = DeliveryReport()
        with self.db.session() as s:
            q = select(OutboxRow).where(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now)
            if handoff_id:
                q = q.where(OutboxRow.handoff_id == handoff_id)
            rows = list(s.scalars(q.order_by(OutboxRow.next_attempt_at).limit(limit)))
        for row in rows:
            if self._claim(row, now):
                self._deliver(row, now, report)
        return report

    def status(self, workspace: str, handoff_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(
                select(OutboxRow).where(OutboxRow.workspace == workspace, OutboxRow.handoff_id == handoff_id)
            )
            return [
                {
                    "target": r.target,
                    "status": r.status,
                    "attempts": r.attempts,
                    "external_ref": r.external_ref,
                    "last_error": r.last_error,
                    "next_attempt_at": r.next_attempt_at.isoformat(),
                }
                for r in rows
            ]

    def _claim(self, row: OutboxRow, now: datetime) -> bool:
        # A lease: only the worker whose conditional update wins sends this row now.
        with self.db.session() as s:
            result = s.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id, OutboxRow.status == "pending", OutboxRow.attempts == row.attempts)
                .values(attempts=row.attempts + 1, next_attempt_at=now + LEASE)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    def _deliver(self, row: OutboxRow, now: datetime, report: DeliveryReport) -> None:
        target = self.targets.get(row.target)
        attempts = row.attempts + 1
        handoff = self.store.handoff(row.workspace, row.handoff_id)
        try:
            if target is None:
                raise SourceError(f"target {row.target!r} is no longer configured")
            ref = target.send(self._ticket(row.workspace, handoff))
        except KnowdeskError as exc:
            permanent = not exc.retryable or attempts >= self.max_attempts
            delay = (
                exc.retry_after
                if isinstance(exc, RateLimited) and exc.retry_after
                else (self.retry_base * 2 ** (attempts - 1))
            )
            values: dict[str, Any] = {
                "last_error": exc.message[:2000],
                "status": "failed" if permanent else "pending",
                "next_attempt_at": now + timedelta(seconds=delay),
            }
            log.warning("handoff %s to %s failed (attempt %d): %s", row.handoff_id, row.target, attempts, exc.message)
            if permanent:
                report.failed += 1
            else:
                report.retrying += 1
        else:
            values = {"status": "sent", "external_ref": ref[:200], "last_error": None}
            report.sent += 1
        with self.db.session() as s:
            s.execute(update(OutboxRow).where(OutboxRow.id == row.id).values(**values))
        self.store.add_event(
            row.workspace,
            handoff.session_id,
            "helpdesk",
            {
                "target": row.target,
                "status": values["status"],
                "attempt": attempts,
                "external_ref": values.get("external_ref"),
            },
        )

    def _ticket(self, workspace: str, h: HandoffInfo) -> HandoffTicket:
        session = self.store.get(workspace, h.session_id)
        return HandoffTicket(
            **h.model_dump(exclude={"id", "assignee", "created_at"}),
            workspace=workspace,
            handoff_id=h.id,
            channel=session.channel.value,
            contact_email=session.contact.email,
            contact_name=session.contact.name,
        )
