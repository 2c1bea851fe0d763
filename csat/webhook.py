"""The CSAT webhook: events (``csat.survey_requested``, ``csat.score``) kept in an outbox and
POSTed signed like handoffs (``X-Knowdesk-Signature: sha256=<hex HMAC-SHA256 of
"{timestamp}.{body}">``, ``X-Knowdesk-Timestamp``, ``X-Knowdesk-Event``).

A failed delivery stays pending with its error and is retried with exponential back-off by
``deliver_due()``; a permanent refusal (4xx other than 408 and 429) or too many attempts marks it
``failed``. No email or SMS is sent by knowdesk: the receiver of the webhook does that.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from agent.helpdesk import sign
from core.db import Database
from core.tables import utcnow

from .tables import CsatOutboxRow

log = logging.getLogger(__name__)


class CsatWebhook:
    """Enqueues and delivers CSAT events. ``url`` None: events are kept, never sent.

    Args:
        db: the state database. url, secret: the receiver and the HMAC key.
        client: the HTTP client (timeouts). max_attempts, retry_seconds: back-off.
    """

    def __init__(self, *, db: Database, url: str | None, secret: str, client: httpx.Client | None = None,
                 max_attempts: int = 8, retry_seconds: float = 30.0) -> None:
        self.db, self.url, self.secret = db, url, secret
        self.client = client or httpx.Client(timeout=10.0)
        self.max_attempts, self.retry_seconds = max_attempts, retry_seconds

    def enqueue(self, workspace: str, event: str, session_id: str, payload: dict[str, Any],
                at: datetime | None = None) -> str:
        with self.db.session() as s:
            row = CsatOutboxRow(id=str(uuid.uuid4()), workspace=workspace, type=event, session_id=session_id,
                                payload=payload, status="pending", attempts=0, next_attempt_at=at or utcnow())
            s.add(row)
            return row.id

    def deliver_due(self, *, event_id: str | None = None, now: datetime | None = None) -> int:
        """Send every pending event that is due (or just ``event_id``); returns how many were sent."""
        if not self.url:
            return 0
        now = now or utcnow()
        with self.db.session() as s:
            q = select(CsatOutboxRow).where(CsatOutboxRow.status == "pending", CsatOutboxRow.next_attempt_at <= now)
            if event_id:
                q = q.where(CsatOutboxRow.id == event_id)
            due = list(s.scalars(q.order_by(CsatOutboxRow.next_attempt_at).limit(500)))
        sent = 0
        for row in due:
            error, permanent = self._post(row)
            with self.db.session() as s:
                live = s.get(CsatOutboxRow, row.id)
                assert live is not None
                live.attempts += 1
                if error is None:
                    live.status, live.last_error = "sent", None
                    sent += 1
                else:
                    live.last_error = error
                    if permanent or live.attempts >= self.max_attempts:
                        live.status = "failed"
                    else:
                        live.next_attempt_at = utcnow() + timedelta(seconds=self.retry_seconds * 2 ** live.attempts)
                    log.warning("CSAT webhook %s for session %s: %s", row.type, row.session_id, error)
        return sent

    def status(self, workspace: str, session_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(select(CsatOutboxRow).where(CsatOutboxRow.workspace == workspace,
                                                         CsatOutboxRow.session_id == session_id)
                             .order_by(CsatOutboxRow.created_at))
            return [{"id": r.id, "type": r.type, "status": r.status, "attempts": r.attempts,
                     "last_error": r.last_error} for r in rows]

    def _post(self, row: CsatOutboxRow) -> tuple[str | None, bool]:
        assert self.url
        body = json.dumps({"type": row.type, "id": row.id, "workspace": row.workspace, **row.payload},
                          sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Knowdesk-Event": row.type,
                   "X-Knowdesk-Timestamp": timestamp, "X-Knowdesk-Signature": sign(self.secret, timestamp, body)}
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"webhook {self.url} unreachable: {exc}", False
        if response.status_code < 300:
            return None, False
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
        return f"webhook {self.url} answered {response.status_code}: {response.text[:200]}", permanent
