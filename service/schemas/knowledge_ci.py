"""Responses of /v1/knowledge-ci: reviewed changes, their reports, and decisions on held ones."""

from __future__ import annotations

from pydantic import Field

from app.knowledge_ci.models import ChangeKind, ChangeStatus, CIReport
from service.schemas.common import Public, Timestamp


class CIReportPublic(CIReport):
    """The dataset replayed against the changed index: ``changed`` lists every answer that differs
    (question, old and new answer with their sources, score delta; broken ones first), ``metrics``
    every metric before and after with its threshold and whether it held the change, ``regressions``
    the cases that passed before and fail after (more than ``max_regressions`` hold the change:
    ``held_by`` then names ``regressions``)."""


class KnowledgeChangePublic(Public):
    """A change knowledge CI reviewed. ``pending``: held, not live until accepted."""

    id: str
    workspace: str
    kind: ChangeKind
    subject: str = Field(description="What the change touches (e.g. the articles of a publish).")
    status: ChangeStatus
    report: CIReportPublic
    created_at: Timestamp
    decided_at: Timestamp | None
    decided_by: str
    note: str


class KnowledgeChangesPublic(Public):
    changes: list[KnowledgeChangePublic]
