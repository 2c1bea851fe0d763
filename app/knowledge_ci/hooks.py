"""Knowledge CI plugged into publishing: the gates ``HelpCenter`` and ``Training`` ask, and the way an
accepted change of each kind is applied."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.knowledge_ci.models import ChangeKind, ChangeStatus
from app.knowledge_ci.service import KnowledgeCI
from helpcenter.gate import HeldArticles
from helpcenter.publisher import Plan
from helpcenter.service import HelpCenter
from ingest.write import WriteItem
from training.gate import TrainingChange
from training.models import ScenarioKind, TrainingReader
from training.service import Training


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
        reviewed = self.ci.review(workspace, kind=ChangeKind.HELPCENTER, subject=f"help center: {change.subject()}",
                                  writes=writes, deletes=plan.delete, change=change.model_dump(mode="json"))
        return reviewed.id if reviewed.status is ChangeStatus.PENDING else None

    def went_live(self, workspace: str) -> None:
        self.ci.went_live(workspace)


class TrainingGate:
    """A ``training.gate.TrainingGate``: reviews a training publish with knowledge CI, the evaluation
    agent reading the training as the change leaves it.

    Args:
        ci: the reviewer.
        live: the published training (to tell whether a step touches a behavioral scenario).
    """

    def __init__(self, *, ci: KnowledgeCI, live: TrainingReader) -> None:
        self.ci = ci
        self.live = live

    def review(self, workspace: str, change: TrainingChange, *, training: TrainingReader,
               writes: Sequence[WriteItem], deletes: Sequence[str]) -> str | None:
        # the AI profile and behavioral scenarios apply to every answer: every case is replayed
        broad = change.profile is not None or any(
            (step.after is not None and step.after.kind is ScenarioKind.BEHAVIORAL)
            or ((live := self.live.scenario(workspace, step.id)) is not None and live.kind is ScenarioKind.BEHAVIORAL)
            for step in change.scenarios)
        reviewed = self.ci.review(workspace, kind=ChangeKind.TRAINING, subject=change.subject(), writes=writes,
                                  deletes=deletes, change=change.model_dump(mode="json"), training=training,
                                  reach_all=broad)
        return reviewed.id if reviewed.status is ChangeStatus.PENDING else None

    def went_live(self, workspace: str) -> None:
        self.ci.went_live(workspace)


def wire_appliers(ci: KnowledgeCI, *, helpcenter: Callable[[], HelpCenter] | None = None,
                  training: Callable[[], Training] | None = None) -> None:
    """How ``ci`` applies an accepted change of each kind; the services are built on first use."""
    if helpcenter is not None:
        get_helpcenter = helpcenter

        def apply_helpcenter(workspace: str, change: dict[str, Any]) -> None:
            get_helpcenter().apply_held(workspace, HeldArticles.model_validate(change))

        ci.appliers[ChangeKind.HELPCENTER] = apply_helpcenter
    if training is not None:
        get_training = training

        def apply_training(workspace: str, change: dict[str, Any]) -> None:
            get_training().apply_held(workspace, TrainingChange.model_validate(change))

        ci.appliers[ChangeKind.TRAINING] = apply_training


def wire_helpcenter(ci: KnowledgeCI, helpcenter: HelpCenter) -> None:
    """Gate ``helpcenter``'s publishes (when a dataset is configured) and apply its accepted changes."""
    wire_appliers(ci, helpcenter=lambda: helpcenter)
    helpcenter.gate = HelpCenterGate(ci=ci) if ci.enabled else None


def wire_training(ci: KnowledgeCI, training: Training) -> None:
    """Gate ``training``'s publishes (when a dataset is configured) and apply its accepted changes."""
    wire_appliers(ci, training=lambda: training)
    training.gate = TrainingGate(ci=ci, live=training) if ci.enabled else None
