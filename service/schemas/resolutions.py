"""Responses of /v1/resolutions and /v1/handoffs/{id}/reply: drafts proposed from human resolutions."""

from __future__ import annotations

from app.resolutions.models import Draft
from service.schemas.common import Public
from service.schemas.sessions import SessionPublic


class DraftPublic(Draft):
    """A Q&A draft from one resolved handoff. ``pending``: waiting for review, never published by itself.
    ``question``/``reply``: the customer's question and the person's reply (redacted); ``title``/``answer``:
    the article made of them. ``kind`` new: a new article ``slug`` in ``topic``; edit: a section appended
    to the existing article ``slug`` (its content nearly duplicated the draft). ``similar``: the nearest
    published articles with their best chunk cosine (MiniLM scale) and ``coverage`` of the draft's answer
    (mean best cosine of its sentences against the article's sentences, table rows and sections).
    ``published``: what approving did (the article, the index report, or ``pending_change`` when
    knowledge CI held it)."""


class DraftsPublic(Public):
    drafts: list[DraftPublic]


class ReplyPublic(Public):
    """A person's reply stored on a handed-off session: the session after it and the draft it proposed,
    or ``skipped`` saying why none was."""

    message_id: int
    session: SessionPublic
    draft: DraftPublic | None
    skipped: str | None
