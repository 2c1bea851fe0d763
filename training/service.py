"""Training as a use-case facade: publishing, unpublishing, rollback and deletion keep the index
in step; reads for the agent go to published versions only (``TrainingReader``). Every publish is
one ``TrainingChange``, which knowledge CI's gate (``training.gate``) may hold."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from core.errors import Conflict
from core.ids import document_id
from core.models import Channel
from ingest.write import WriteItem
from training.drafts import ProfileDraft, ScenarioDraft, ScenarioRecord
from training.gate import Candidate, ProfileStep, Published, ScenarioStep, TrainingChange, TrainingGate
from training.indexing import ScenarioIndexer
from training.models import AIProfile, Scenario, ScenarioKind
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
        self._lock = threading.RLock()
        #: Knowledge CI's gate (set by the composition root when one is configured): may hold a publish.
        self.gate: TrainingGate | None = None

    # -- TrainingReader ------------------------------------------------------------------------
    def behavioral(self, workspace: str, *, channel: Channel | str, segments: tuple[str, ...] = ()) -> list[Scenario]:
        return self.store.behavioral(workspace, channel=channel, segments=segments)

    def scenario(self, workspace: str, scenario_id: str) -> Scenario | None:
        return self.store.scenario(workspace, scenario_id)

    def profile(self, workspace: str) -> AIProfile | None:
        return self.store.profile(workspace)

    # -- the AI profile ------------------------------------------------------------------------
    def save_profile(self, workspace: str, draft: ProfileDraft, *,
                     publish: bool = False) -> tuple[ProfileDraft, str | None]:
        """Save the profile's draft (and publish it): the saved draft and the id of knowledge CI's
        change when the gate held the publish."""
        saved = self.store.save_profile(workspace, draft)
        return saved, self.publish_profile(workspace).pending_change if publish else None

    def publish_profile(self, workspace: str, note: str = "") -> Published:
        """Publish the profile's draft (through the gate when one is set)."""
        with self._lock:
            draft, live, version = self.store.profile_step(workspace)
            if version is None:
                return Published(profile=self.store.profile(workspace))
            step = ProfileStep(before=live, after=draft, version=version, note=note)
            return self._change(workspace, TrainingChange(profile=step))

    def rollback_profile(self, workspace: str, version: int) -> Published:
        """Publish an earlier version's content again, as a new version (it becomes the draft too)."""
        with self._lock:
            old = self.store.profile_version(workspace, version)
            _, live, _ = self.store.profile_step(workspace)
            step = ProfileStep(before=live, after=old, version=self._profile_next(workspace),
                               note=f"rollback to version {version}", draft=True)
            return self._change(workspace, TrainingChange(profile=step))

    # -- scenarios -----------------------------------------------------------------------------
    def create(self, workspace: str, scenario_id: str, draft: ScenarioDraft, *,
               publish: bool = False) -> ScenarioRecord:
        record = self.store.create(workspace, scenario_id, draft)
        return self._then_publish(workspace, record, publish)

    def update(self, workspace: str, scenario_id: str, draft: ScenarioDraft, *,
               publish: bool = False) -> ScenarioRecord:
        record = self.store.update(workspace, scenario_id, draft)
        return self._then_publish(workspace, record, publish)

    def _then_publish(self, workspace: str, record: ScenarioRecord, publish: bool) -> ScenarioRecord:
        if not publish:
            return record
        done = self.publish(workspace, record.id)
        return self.store.get(workspace, record.id).model_copy(update={"pending_change": done.pending_change})

    def publish(self, workspace: str, scenario_id: str, note: str = "") -> Published:
        """Publish the draft (a new immutable version) and index it before returning, unless the gate
        holds it (``pending_change``: nothing is stored; the draft keeps the edit)."""
        return self.publish_many(workspace, [scenario_id], note=note)

    def publish_many(self, workspace: str, publish: Sequence[str], unpublish: Sequence[str] = (),
                     note: str = "", *, profile: bool = False) -> Published:
        """Publish the drafts of ``publish`` (and of the AI profile with ``profile``) and take
        ``unpublish`` off the air as one change (one review by the gate); ``scenario`` is set when
        one scenario was published, ``profile`` when the profile was."""
        with self._lock:
            profile_step = None
            if profile:
                profile_draft, live, version = self.store.profile_step(workspace)
                if version is not None:
                    profile_step = ProfileStep(before=live, after=profile_draft, version=version, note=note)
            steps = []
            for sid in publish:
                draft, live, version = self.store.publish_step(workspace, sid)
                if version is not None:
                    steps.append(ScenarioStep(id=sid, before=live, after=draft, version=version, note=note))
            for sid in unpublish:
                record = self.store.get(workspace, sid)
                if record.published_version is not None:
                    steps.append(ScenarioStep(id=sid, before=record.published_version))
            done = self._change(workspace, TrainingChange(scenarios=tuple(steps), profile=profile_step))
            if len(publish) == 1 and not unpublish and done.scenario is None:
                return done.model_copy(update={"scenario": self.store.scenario(workspace, publish[0])})
            return done

    def rollback(self, workspace: str, scenario_id: str, version: int) -> Published:
        """Publish version ``version``'s content again, as a new version; the draft becomes it too."""
        with self._lock:
            old = self.store.version(workspace, scenario_id, version)
            content, live, next_version = self.store.publish_step(workspace, scenario_id, old)
            step = ScenarioStep(id=scenario_id, before=live, after=content,
                                version=next_version or live, note=f"rollback to version {version}", draft=True)
            return self._change(workspace, TrainingChange(scenarios=(step,)))

    def unpublish(self, workspace: str, scenario_id: str) -> ScenarioRecord:
        done = self.publish_many(workspace, [], [scenario_id])
        return self.store.get(workspace, scenario_id).model_copy(update={"pending_change": done.pending_change})

    def delete(self, workspace: str, scenario_id: str) -> str | None:
        """Delete a scenario and its history. A published one goes through the gate (when set) as taking
        it off the air would: when the gate holds it nothing is deleted and the id of knowledge CI's
        change is returned (None: deleted).

        Raises:
            NotFound: no such scenario.
        """
        with self._lock:
            record = self.store.get(workspace, scenario_id)
            if self.gate is not None and record.published_version is not None:
                step = ScenarioStep(id=scenario_id, before=record.published_version, delete=True)
                return self._change(workspace, TrainingChange(scenarios=(step,))).pending_change
            self.store.delete(workspace, scenario_id)
            self.indexer.remove(workspace, [scenario_id])
            return None

    # -- the gate --------------------------------------------------------------------------------
    def _change(self, workspace: str, change: TrainingChange) -> Published:
        """Ask the gate (when set and the change does something), then apply the change."""
        if not change.scenarios and change.profile is None:
            return Published()
        if self.gate is not None:
            published = self.store.published(workspace)
            writes, deletes = self._index_changes(workspace, change)
            candidate = Candidate(live=self.store, published=published, change=change, workspace=workspace)
            held = self.gate.review(workspace, change, training=candidate, writes=writes, deletes=deletes)
            if held is not None:
                return self._outcome(workspace, change, candidate).model_copy(update={"pending_change": held})
        done = self._apply(workspace, change, expect=False)
        if self.gate is not None:
            self.gate.went_live(workspace)
        return done

    def apply_held(self, workspace: str, change: TrainingChange) -> Published:
        """Make a held change live (knowledge CI accepted it) as it was reviewed; the gate is not asked again.

        Raises:
            Conflict: a scenario (or the profile) it touches was published or unpublished since it was
                held; nothing changes.
        """
        with self._lock:
            for step in change.scenarios:
                live = self.store.get(workspace, step.id).published_version
                if live != step.before:
                    raise Conflict(f"scenario {step.id!r} was published or unpublished since this change was held "
                                   f"(live version {live}); reject it and publish again", id=step.id, version=live)
            if change.profile is not None:
                _, live, _ = self.store.profile_step(workspace)
                if live != change.profile.before:
                    raise Conflict("the AI profile was published since this change was held; reject it and "
                                   "publish again", version=live)
            return self._apply(workspace, change, expect=True)

    def _apply(self, workspace: str, change: TrainingChange, *, expect: bool) -> Published:
        scenario = profile = None
        for step in change.scenarios:
            if step.after is None:
                if step.delete:
                    self.store.delete(workspace, step.id)
                else:
                    self.store.unpublish(workspace, step.id, expect=step.before, check=expect)
                self.indexer.remove(workspace, [step.id])
                continue
            scenario = self.store.publish_content(workspace, step.id, step.after, note=step.note, expect=step.before,
                                                  check=expect, as_draft=step.draft)
            self.indexer.index(scenario)
        if change.profile is not None:
            p = change.profile
            profile = self.store.publish_profile_content(workspace, p.after, note=p.note, expect=p.before,
                                                         check=expect, as_draft=p.draft)
        return Published(scenario=scenario if len(change.scenarios) == 1 else None, profile=profile)

    def _index_changes(self, workspace: str, change: TrainingChange) -> tuple[list[WriteItem], list[str]]:
        """The index writes and deletes the change makes (specific scenarios' trigger documents)."""
        writes, deletes = [], []
        for step in change.scenarios:
            doc_id = document_id(self.indexer.source_id, step.id)
            if step.after is None or step.after.kind is not ScenarioKind.SPECIFIC:
                deletes.append(doc_id)
            else:
                writes.append(self.indexer.write_item(step.after.published(workspace, step.id, step.version or 1)))
        return writes, deletes

    def _outcome(self, workspace: str, change: TrainingChange, candidate: Candidate) -> Published:
        single = change.scenarios[0] if len(change.scenarios) == 1 else None
        scenario = candidate.scenario(workspace, single.id) if single is not None else None
        return Published(scenario=scenario, profile=candidate.profile(workspace) if change.profile else None)

    def _profile_next(self, workspace: str) -> int:
        versions = self.store.profile_versions(workspace)
        return max((v.version for v in versions), default=0) + 1

    def reindex(self, workspace: str) -> tuple[int, int]:
        """Make the index equal to the published scenarios; returns (written, deleted)."""
        with self._lock:
            return self.indexer.reconcile(workspace, self.store.published(workspace))
