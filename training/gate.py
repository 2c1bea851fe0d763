"""The hook knowledge CI (``app.knowledge_ci``) plugs into training: a gate that may hold a publish.

A training change (publishing, rolling back, unpublishing or deleting scenarios, publishing the AI
profile, a YAML import) is described as a ``TrainingChange`` before anything is stored. When a gate is
set, it reviews the change with the agent reading ``Candidate`` (the published training with the
change applied) over a staged index; a held change stores nothing (the drafts keep their edits,
the live versions and the index stay as they were) and waits under an id until it is accepted
(``Training.apply_held``) or rejected (nothing to undo).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.models import Channel, Frozen
from ingest.write import WriteItem
from training.drafts import ProfileDraft, ScenarioDraft
from training.models import AIProfile, Scenario, ScenarioKind, TrainingReader


class ScenarioStep(Frozen):
    """One scenario's part of a training change.

    ``before``: the live version when the change was made (None: not published); accepting is
    refused when it moved since. ``after``: the content to publish, None to take it off the air.
    ``version``: the version it is published as. ``draft``: also make it the draft (a rollback).
    ``delete``: (with ``after`` None) delete the scenario and its history, not only unpublish it.
    """

    id: str
    before: int | None = None
    after: ScenarioDraft | None = None
    version: int | None = None
    note: str = ""
    draft: bool = False
    delete: bool = False


class ProfileStep(Frozen):
    """Publishing the AI profile: ``after`` as version ``version``; ``before`` as in ``ScenarioStep``."""

    before: int | None = None
    after: ProfileDraft
    version: int
    note: str = ""
    draft: bool = False


class TrainingChange(Frozen):
    """What a training publish does, before it is stored; kept with a held change to apply on accept."""

    scenarios: tuple[ScenarioStep, ...] = ()
    profile: ProfileStep | None = None

    def subject(self) -> str:
        parts = [f"{'delete' if s.delete else 'unpublish' if s.after is None else 'publish'} {s.id}"
                 for s in self.scenarios]
        if self.profile is not None:
            parts.append("publish the AI profile")
        return "training: " + (", ".join(parts[:5]) + (f" and {len(parts) - 5} more" if len(parts) > 5 else ""))


class Candidate:
    """A ``TrainingReader``: the published training with ``change`` applied (what the agent would read).

    Args:
        live: the published training (read for other workspaces, and for the profile when the
            change leaves it).
        published: ``workspace``'s published scenarios.
        change: the change under review.
        workspace: the workspace it belongs to.
    """

    def __init__(self, *, live: TrainingReader, published: Sequence[Scenario], change: TrainingChange,
                 workspace: str) -> None:
        self.live = live
        self.workspace = workspace
        self._scenarios = {s.id: s for s in published}
        for step in change.scenarios:
            if step.after is None:
                self._scenarios.pop(step.id, None)
            else:
                self._scenarios[step.id] = step.after.published(workspace, step.id, step.version or 1)
        self._profile = change.profile.after.published(workspace, change.profile.version) if change.profile else None

    def behavioral(self, workspace: str, *, channel: Channel | str, segments: tuple[str, ...] = ()) -> list[Scenario]:
        if workspace != self.workspace:
            return self.live.behavioral(workspace, channel=channel, segments=segments)
        found = [s for s in self._scenarios.values()
                 if s.kind is ScenarioKind.BEHAVIORAL and s.applies_to(channel, segments)]
        return sorted(found, key=lambda sc: (sc.directory, sc.title, sc.id))

    def scenario(self, workspace: str, scenario_id: str) -> Scenario | None:
        if workspace != self.workspace:
            return self.live.scenario(workspace, scenario_id)
        return self._scenarios.get(scenario_id)

    def profile(self, workspace: str) -> AIProfile | None:
        if workspace != self.workspace or self._profile is None:
            return self.live.profile(workspace)
        return self._profile


class Published(Frozen):
    """What a training publish did: the version now live, or (``pending_change`` set) the version
    that goes live once knowledge CI's held change is accepted."""

    scenario: Scenario | None = None
    profile: AIProfile | None = None
    pending_change: str | None = None


class TrainingGate(Protocol):
    """Reviews a training change before it goes live."""

    def review(self, workspace: str, change: TrainingChange, *, training: TrainingReader,
               writes: Sequence[WriteItem], deletes: Sequence[str]) -> str | None:
        """The id of the pending change when the gate holds it, else None (the change goes live).

        ``training``: what the agent reads with the change applied; ``writes``/``deletes``: its
        index changes (scenario trigger documents; document ids).

        Raises:
            KnowdeskError: the gate cannot review (its dataset is missing...): nothing is published.
        """
        ...

    def went_live(self, workspace: str) -> None:
        """The change the gate let through was applied (its staged answers are now the live ones)."""
        ...
