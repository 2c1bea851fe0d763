"""Value objects of knowledge CI: a reviewed change, its report, and the statuses it moves through."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from core.models import Frozen
from evaluation.diff import ChangedAnswer, MetricChange


class ChangeStatus(StrEnum):
    PENDING = "pending"  # held by the gate: not live until accepted
    ACCEPTED = "accepted"  # held, then accepted: live
    REJECTED = "rejected"  # held, then rejected: never went live, nothing stored changed
    PASSED = "passed"  # the gate let it through: live at once


class ChangeKind(StrEnum):
    HELPCENTER = "helpcenter"
    TRAINING = "training"
    SYNC = "sync"  # a sync of a gated source that changed documents


class CIReport(Frozen):
    """What replaying the dataset against the changed index showed.

    ``changed``: the answers that differ (question, old and new answer with sources, score delta),
    the ones that broke first. ``metrics``: every metric before and after, with its threshold and
    whether it held the change. ``regressions``: the changed answers of cases that passed before and
    fail after (the per-case rule: more than ``max_regressions`` of them hold the change, and
    ``held_by`` then names ``regressions``).
    """

    dataset: str
    cases: int
    changed: tuple[ChangedAnswer, ...] = ()
    metrics: tuple[MetricChange, ...] = ()
    regressions: tuple[ChangedAnswer, ...] = ()
    max_regressions: int = 0
    held: bool = False
    held_by: tuple[str, ...] = ()
    documents_written: tuple[str, ...] = ()
    documents_deleted: tuple[str, ...] = ()
    seconds: float = 0.0
    timings: dict[str, float] = Field(default_factory=dict)


class KnowledgeChange(Frozen):
    """A change knowledge CI reviewed; ``change`` is what accepting it applies (kind-specific)."""

    id: str
    workspace: str
    kind: ChangeKind
    subject: str
    status: ChangeStatus
    report: CIReport
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str = ""
    note: str = ""
    change: dict[str, Any] = Field(default_factory=dict, exclude=True)
