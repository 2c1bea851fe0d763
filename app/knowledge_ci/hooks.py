"""Knowledge CI plugged into help-center publishing: the gate ``HelpCenter`` asks, and the way an
accepted help-center change is applied."""

from __future__ import annotations

from typing import Any

from app.knowledge_ci.models import ChangeKind, ChangeStatus
from app.knowledge_ci.service import KnowledgeCI
from helpcenter.gate import HeldArticles
from helpcenter.publisher import Plan
from helpcenter.service import HelpCenter
from ingest.write import WriteItem


class HelpCenterGate:
    """A ``helpcenter.gate.PublishGate``: reviews a publish's index changes with knowledge CI.

    Args:
        ci: the reviewer.
    """

    def __init__(self, *, ci: KnowledgeCI) -> None:
        self.ci = ci

    def review(self, workspace: str, plan: Plan, change: HeldArticles) -> str | None:
        writes = [WriteItem(document=p.document, chunks=p.chunks, content_hash=p.parsed.content_hash)
                  for p in plan.write]
        subject = ", ".join(sorted(change.before)) or "help center"
        reviewed = self.ci.review(workspace, kind=ChangeKind.HELPCENTER, subject=f"help center: {subject}",
                                  writes=writes, deletes=plan.delete, change=change.model_dump(mode="json"))
        return reviewed.id if reviewed.status is ChangeStatus.PENDING else None

    def went_live(self, workspace: str) -> None:
        self.ci.went_live(workspace)


def wire_helpcenter(ci: KnowledgeCI, helpcenter: HelpCenter) -> None:
    """Gate ``helpcenter``'s publishes (when a dataset is configured) and apply its accepted changes."""

    def apply(workspace: str, change: dict[str, Any]) -> None:
        helpcenter.apply_held(workspace, HeldArticles.model_validate(change))

    ci.appliers[ChangeKind.HELPCENTER] = apply
    if ci.enabled:
        helpcenter.gate = HelpCenterGate(ci=ci)
