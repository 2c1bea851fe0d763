"""Training as a use-case facade: publishing, unpublishing, rollback and deletion keep the index
in step; reads for the agent go to published versions only (``TrainingReader``)."""

from __future__ import annotations

import threading

from core.models import Channel
from training.drafts import ProfileDraft, ScenarioDraft, ScenarioRecord
from training.indexing import ScenarioIndexer
from training.models import AIProfile, Scenario
from training.store import TrainingStore


class Training:
    """Authoring plus indexing; also a ``TrainingReader`` for the agent.

    Args:
        store: profile and scenarios.
        indexer: indexes published scenario-specific scenarios.
    """

    def __init__(self, *, store: TrainingStore, indexer: ScenarioIndexer) -> None:
        self.store = store
        self.indexer = indexer
        self._lock = threading.Lock()

    # -- TrainingReader ------------------------------------------------------------------------
    def behavioral(self, workspace: str, *, channel: Channel | str, segments: tuple[str, ...] = ()) -> list[Scenario]:
        return self.store.behavioral(workspace, channel=channel, segments=segments)

    def scenario(self, workspace: str, scenario_id: str) -> Scenario | None:
        return self.store.scenario(workspace, scenario_id)

    def profile(self, workspace: str) -> AIProfile | None:
        return self.store.profile(workspace)

    # -- authoring -----------------------------------------------------------------------------
    def save_profile(self, workspace: str, draft: ProfileDraft, *, publish: bool = False) -> ProfileDraft:
        saved = self.store.save_profile(workspace, draft)
        if publish:
            self.store.publish_profile(workspace)
        return saved

    def create(self, workspace: str, scenario_id: str, draft: ScenarioDraft, *,
               publish: bool = False) -> ScenarioRecord:
        record = self.store.create(workspace, scenario_id, draft)
        if publish:
            self.publish(workspace, scenario_id)
            return self.store.get(workspace, scenario_id)
        return record

    def update(self, workspace: str, scenario_id: str, draft: ScenarioDraft, *,
               publish: bool = False) -> ScenarioRecord:
        record = self.store.update(workspace, scenario_id, draft)
        if publish:
            self.publish(workspace, scenario_id)
            return self.store.get(workspace, scenario_id)
        return record

    def publish(self, workspace: str, scenario_id: str, note: str = "") -> Scenario:
        """Publish the draft (a new immutable version) and index it before returning."""
        with self._lock:
            scenario = self.store.publish(workspace, scenario_id, note)
            self.indexer.index(scenario)
            return scenario

    def rollback(self, workspace: str, scenario_id: str, version: int) -> Scenario:
        with self._lock:
            scenario = self.store.rollback(workspace, scenario_id, version)
            self.indexer.index(scenario)
            return scenario

    def unpublish(self, workspace: str, scenario_id: str) -> ScenarioRecord:
        with self._lock:
            record = self.store.unpublish(workspace, scenario_id)
            self.indexer.remove(workspace, [scenario_id])
            return record

    def delete(self, workspace: str, scenario_id: str) -> None:
        with self._lock:
            self.store.delete(workspace, scenario_id)
            self.indexer.remove(workspace, [scenario_id])

    def reindex(self, workspace: str) -> tuple[int, int]:
        """Make the index equal to the published scenarios; returns (written, deleted)."""
        with self._lock:
            return self.indexer.reconcile(workspace, self.store.published(workspace))
