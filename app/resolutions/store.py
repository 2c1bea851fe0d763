"""Stored resolution drafts: one per handoff, moved from pending to approved or rejected exactly once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.db import Database
from core.errors import Conflict, InvalidInput, NotFound
from core.tables import utcnow

from .models import Draft, DraftKind, DraftStatus, Similar
from .tables import ResolutionDraftRow


class DraftStore:
    """Reads and writes resolution drafts of every workspace. ``DraftStore(db=...)``."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    def add(self, workspace: str, **fields: Any) -> Draft:
        """Store a pending draft.

        Raises:
            Conflict: the handoff has a draft already (nothing stored).
        """
        row = ResolutionDraftRow(id=uuid.uuid4().hex, workspace=workspace, status=DraftStatus.PENDING.value,
                                 **fields)
        try:
            with self.db.session() as s:
                s.add(row)
                s.flush()
                return _draft(row)
        except IntegrityError as exc:
            existing = self.for_handoff(workspace, str(fields.get("handoff_id")))
            which = f"{existing.id}, {existing.status.value}" if existing else "written concurrently"
            raise Conflict(f"handoff {fields.get('handoff_id')!r} has a draft already ({which})",
                           draft_id=existing.id if existing else None) from exc

    def get(self, workspace: str, draft_id: str) -> Draft:
        with self.db.session() as s:
            row = s.get(ResolutionDraftRow, draft_id)
            if row is None or row.workspace != workspace:
                raise NotFound(f"no resolution draft {draft_id!r} in workspace {workspace!r}", draft_id=draft_id)
            return _draft(row)

    def for_handoff(self, workspace: str, handoff_id: str) -> Draft | None:
        with self.db.session() as s:
            row = s.scalars(select(ResolutionDraftRow).where(ResolutionDraftRow.workspace == workspace,
                                                             ResolutionDraftRow.handoff_id == handoff_id)).first()
            return _draft(row) if row else None

    def list(self, workspace: str, *, status: str | None = None, limit: int = 100) -> list[Draft]:
        """Drafts newest first (optionally of one status).

        Raises:
            InvalidInput: an unknown status.
        """
        q = select(ResolutionDraftRow).where(ResolutionDraftRow.workspace == workspace)
        if status:
            q = q.where(ResolutionDraftRow.status == status_of(status).value)
        with self.db.session() as s:
            rows = s.scalars(q.order_by(ResolutionDraftRow.created_at.desc(), ResolutionDraftRow.id).limit(limit))
            return [_draft(r) for r in rows]

    def claim(self, workspace: str, draft_id: str, status: DraftStatus, *, by: str, note: str = "") -> Draft:
        """Move a pending draft to ``status`` (one caller wins; the others get a Conflict).

        Raises:
            NotFound: no such draft. Conflict: the draft was decided already.
        """
        self.get(workspace, draft_id)
        with self.db.session() as s:
            result = s.execute(update(ResolutionDraftRow)
                               .where(ResolutionDraftRow.id == draft_id,
                                      ResolutionDraftRow.status == DraftStatus.PENDING.value)
                               .values(status=status.value, decided_at=utcnow(), decided_by=by[:200], note=note))
            won = getattr(result, "rowcount", 0) == 1
        if not won:
            now = self.get(workspace, draft_id)
            raise Conflict(f"resolution draft {draft_id!r} is {now.status.value} already (by {now.decided_by or '?'}); "
                           "only a pending draft can be approved or rejected", draft_id=draft_id,
                           status=now.status.value)
        return self.get(workspace, draft_id)

    def release(self, workspace: str, draft_id: str, *, note: str = "") -> None:
        """Put a claimed draft back to pending (its publish failed), with its proposal ``note`` again."""
        with self.db.session() as s:
            s.execute(update(ResolutionDraftRow)
                      .where(ResolutionDraftRow.id == draft_id, ResolutionDraftRow.workspace == workspace)
                      .values(status=DraftStatus.PENDING.value, decided_at=None, decided_by="", note=note))

    def set_published(self, workspace: str, draft_id: str, published: dict[str, Any]) -> Draft:
        with self.db.session() as s:
            s.execute(update(ResolutionDraftRow)
                      .where(ResolutionDraftRow.id == draft_id, ResolutionDraftRow.workspace == workspace)
                      .values(published=published))
        return self.get(workspace, draft_id)


def status_of(value: str) -> DraftStatus:
    try:
        return DraftStatus(value)
    except ValueError as exc:
        raise InvalidInput(f"unknown draft status {value!r}; one of {', '.join(s.value for s in DraftStatus)}",
                           field="status") from exc


def _draft(row: ResolutionDraftRow) -> Draft:
    return Draft(id=row.id, session_id=row.session_id, handoff_id=row.handoff_id, ticket=row.ticket,
                 status=DraftStatus(row.status), kind=DraftKind(row.kind), question=row.question, reply=row.reply,
                 title=row.title, answer=row.answer, slug=row.slug, topic=row.topic, locale=row.locale,
                 similar=tuple(Similar.model_validate(x) for x in row.similar or ()), created_at=row.created_at,
                 decided_at=row.decided_at, decided_by=row.decided_by, note=row.note, published=row.published or {})
