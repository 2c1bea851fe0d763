"""The training store: the AI profile and scenarios, drafts and immutable published versions.

Publishing freezes the draft into version N+1 and makes it live; a rollback to version v
publishes v's content again as a new version (history is never rewritten); unpublishing takes
the scenario off the air and keeps its history. ``TrainingStore`` implements ``TrainingReader``:
the agent reads published versions only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.db import Database, insert_ignore
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Channel
from core.tables import WorkspaceRow, utcnow
from training.drafts import (
    ProfileDraft,
    ScenarioDraft,
    ScenarioRecord,
    ScenarioStatus,
    VersionRecord,
    check_id,
)
from training.models import AIProfile, Scenario, ScenarioKind
from training.tables import ProfileRow, ProfileVersionRow, ScenarioRow, ScenarioVersionRow


class TrainingStore:
    """Profile and scenarios of every workspace, in the state database.

    Args:
        db: the state database (migrated).

    Example::

        store = TrainingStore(db=db)
        store.create("default", "where-is-my-order", ScenarioDraft(kind="specific", title="Where is my order?",
                     triggers=("Where is my order?",), answer="Ask for the order number.", is_instruction=True))
        scenario = store.publish("default", "where-is-my-order")
    """

    def __init__(self, *, db: Database) -> None:
        self._db = db

    # -- TrainingReader --------------------------------------------------------------------------
    def behavioral(self, workspace: str, *, channel: Channel | str, segments: tuple[str, ...] = ()) -> list[Scenario]:
        """Published behavioral scenarios that apply to this channel and these segments."""
        return [s for s in self.published(workspace, kind=ScenarioKind.BEHAVIORAL) if s.applies_to(channel, segments)]

    def scenario(self, workspace: str, scenario_id: str) -> Scenario | None:
        """The published version of one scenario, or None."""
        with self._db.session() as s:
            row = s.get(ScenarioRow, (workspace, scenario_id))
            if row is None or row.published_version is None:
                return None
            version = s.get(ScenarioVersionRow, (workspace, scenario_id, row.published_version))
            assert version is not None
            return ScenarioDraft.model_validate(version.data).published(workspace, scenario_id, version.version)

    def profile(self, workspace: str) -> AIProfile | None:
        """The published AI profile, or None when none was published."""
        with self._db.session() as s:
            row = s.get(ProfileRow, workspace)
            if row is None or row.published_version is None:
                return None
            version = s.get(ProfileVersionRow, (workspace, row.published_version))
            assert version is not None
            return ProfileDraft.model_validate(version.data).published(workspace, version.version)

    def published(self, workspace: str, *, kind: ScenarioKind | None = None) -> list[Scenario]:
        """Every published scenario (of one kind), ordered by directory and title."""
        with self._db.session() as s:
            rows = s.execute(
                select(ScenarioVersionRow).join(
                    ScenarioRow, (ScenarioRow.workspace == ScenarioVersionRow.workspace)
                    & (ScenarioRow.id == ScenarioVersionRow.scenario_id)
                    & (ScenarioRow.published_version == ScenarioVersionRow.version))
                .where(ScenarioVersionRow.workspace == workspace)
            ).scalars()
            found = [ScenarioDraft.model_validate(r.data).published(workspace, r.scenario_id, r.version) for r in rows]
        found = [sc for sc in found if kind is None or sc.kind is kind]
        return sorted(found, key=lambda sc: (sc.directory, sc.title, sc.id))

    # -- the AI profile --------------------------------------------------------------------------
    def profile_draft(self, workspace: str) -> tuple[ProfileDraft, int | None]:
        """The profile's draft (defaults when never saved) and the live version number."""
        with self._db.session() as s:
            row = s.get(ProfileRow, workspace)
            return (ProfileDraft.model_validate(row.draft), row.published_version) if row else (ProfileDraft(), None)

    def has_profile(self, workspace: str) -> bool:
        """Whether the workspace's profile was ever saved."""
        with self._db.session() as s:
            return s.get(ProfileRow, workspace) is not None

    def save_profile(self, workspace: str, draft: ProfileDraft) -> ProfileDraft:
        draft = draft.checked()
        with self._db.session() as s:
            row = self._profile_row(s, workspace)
            row.draft, row.updated_at = draft.model_dump(mode="json"), utcnow()
        return draft

    def publish_profile(self, workspace: str, note: str = "") -> AIProfile:
        """Freeze the draft as a new version (no new version when it equals the live one)."""
        draft, _ = self.profile_draft(workspace)
        return self.publish_profile_content(workspace, draft, note=note)

    def profile_step(self, workspace: str) -> tuple[ProfileDraft, int | None, int | None]:
        """(the checked draft, the live version, the version publishing it makes: None when it equals the live one)."""
        with self._db.session() as s:
            row = s.get(ProfileRow, workspace)
            draft = ProfileDraft.model_validate(row.draft if row else {}).checked()
            live = (s.get(ProfileVersionRow, (workspace, row.published_version))
                    if row and row.published_version else None)
            if live is not None and live.data == draft.model_dump(mode="json"):
                return draft, live.version, None
            return draft, live.version if live else None, self._next(
                s, ProfileVersionRow.version, ProfileVersionRow.workspace == workspace)

    def publish_profile_content(self, workspace: str, draft: ProfileDraft, *, note: str = "",
                                expect: int | None = None, check: bool = False,
                                as_draft: bool = False) -> AIProfile:
        """Publish ``draft`` as the profile's next version (none when it equals the live one).

        ``expect``: with ``check``, the live version it must still be; ``as_draft``: make it the draft too.

        Raises:
            Conflict: the live version is no longer ``expect``.
        """
        draft = draft.checked()
        data = draft.model_dump(mode="json")
        with self._db.session() as s:
            row = self._profile_row(s, workspace)
            if check and row.published_version != expect:
                raise Conflict(f"the AI profile was published since this change was held (live version "
                               f"{row.published_version}); reject it and publish again", version=row.published_version)
            if as_draft:
                row.draft, row.updated_at = data, utcnow()
            live = s.get(ProfileVersionRow, (workspace, row.published_version)) if row.published_version else None
            if live is not None and live.data == data:
                return draft.published(workspace, live.version)
            version = self._next(s, ProfileVersionRow.version, ProfileVersionRow.workspace == workspace)
            s.add(ProfileVersionRow(workspace=workspace, version=version, data=data,
                                    note=note[:200], created_at=utcnow()))
            row.published_version = version
            return draft.published(workspace, version)

    def profile_versions(self, workspace: str) -> list[VersionRecord]:
        with self._db.session() as s:
            row = s.get(ProfileRow, workspace)
            live = row.published_version if row else None
            rows = s.scalars(select(ProfileVersionRow).where(ProfileVersionRow.workspace == workspace)
                             .order_by(ProfileVersionRow.version.desc()))
            return [VersionRecord(version=r.version, created_at=r.created_at, note=r.note, data=dict(r.data),
                                  live=r.version == live) for r in rows]

    def rollback_profile(self, workspace: str, version: int) -> AIProfile:
        """Publish an earlier version's content again, as a new version."""
        with self._db.session() as s:
            old = s.get(ProfileVersionRow, (workspace, version))
            if old is None:
                raise NotFound(f"the AI profile has no version {version}", version=version)
            row = self._profile_row(s, workspace)
            row.draft, row.updated_at = dict(old.data), utcnow()
        return self.publish_profile(workspace, note=f"rollback to version {version}")

    def profile_version(self, workspace: str, version: int) -> ProfileDraft:
        """The content of one published version of the profile.

        Raises:
            NotFound: no such version.
        """
        with self._db.session() as s:
            old = s.get(ProfileVersionRow, (workspace, version))
            if old is None:
                raise NotFound(f"the AI profile has no version {version}", version=version)
            return ProfileDraft.model_validate(old.data)

    def _profile_row(self, s: Session, workspace: str) -> ProfileRow:
        _ensure_workspace(s, workspace)
        insert_ignore(s, ProfileRow, workspace=workspace, draft=ProfileDraft().model_dump(mode="json"),
                      published_version=None, updated_at=utcnow())
        row = s.get(ProfileRow, workspace, with_for_update=True)
        assert row is not None
        return row

    # -- scenarios --------------------------------------------------------------------------------
    def scenarios(self, workspace: str, *, directory: str | None = None, kind: ScenarioKind | None = None,
             status: ScenarioStatus | None = None) -> list[ScenarioRecord]:
        """Scenarios with their drafts; ``directory`` includes its sub-directories."""
        with self._db.session() as s:
            rows = list(s.scalars(select(ScenarioRow).where(ScenarioRow.workspace == workspace)))
            latest = self._latest(s, workspace)
            records = [self._record(s, r, latest.get(r.id, 0)) for r in rows]
        prefix = (directory or "").strip("/")
        return sorted(
            (r for r in records
             if (not prefix or r.draft.directory == prefix or r.draft.directory.startswith(prefix + "/"))
             and (kind is None or r.draft.kind is kind) and (status is None or r.status is status)),
            key=lambda r: (r.draft.directory, r.draft.title, r.id))

    def get(self, workspace: str, scenario_id: str) -> ScenarioRecord:
        with self._db.session() as s:
            row = self._row(s, workspace, scenario_id)
            return self._record(s, row, self._latest(s, workspace, scenario_id).get(scenario_id, 0))

    def create(self, workspace: str, scenario_id: str, draft: ScenarioDraft) -> ScenarioRecord:
        check_id(scenario_id)
        draft = draft.checked()
        with self._db.session() as s:
            if s.get(ScenarioRow, (workspace, scenario_id)) is not None:
                raise Conflict(f"scenario {scenario_id!r} already exists; update it or choose another id",
                               id=scenario_id)
            _ensure_workspace(s, workspace)
            now = utcnow()
            s.add(ScenarioRow(workspace=workspace, id=scenario_id, data=draft.model_dump(mode="json"),
                              published_version=None, created_at=now, updated_at=now))
        return self.get(workspace, scenario_id)

    def update(self, workspace: str, scenario_id: str, draft: ScenarioDraft) -> ScenarioRecord:
        """Replace the draft (the live version is untouched until the next publish)."""
        draft = draft.checked()
        with self._db.session() as s:
            row = self._row(s, workspace, scenario_id)
            data = draft.model_dump(mode="json")
            if row.data != data:
                row.data, row.updated_at = data, utcnow()
        return self.get(workspace, scenario_id)

    def publish(self, workspace: str, scenario_id: str, note: str = "") -> Scenario:
        """Freeze the draft as version N+1 and make it live (none when it equals the live version)."""
        draft, _, _ = self.publish_step(workspace, scenario_id)
        return self.publish_content(workspace, scenario_id, draft, note=note)

    def publish_step(self, workspace: str, scenario_id: str,
                     content: ScenarioDraft | None = None) -> tuple[ScenarioDraft, int | None, int | None]:
        """(the checked draft or ``content``, the live version, the version publishing it makes: None
        when it equals the live one).

        Raises:
            NotFound: no such scenario. InvalidInput: the draft does not pass its checks.
        """
        with self._db.session() as s:
            row = self._row(s, workspace, scenario_id)
            draft = (content or ScenarioDraft.model_validate(row.data)).checked()
            if row.published_version is not None:
                live = s.get(ScenarioVersionRow, (workspace, scenario_id, row.published_version))
                if live is not None and live.data == draft.model_dump(mode="json"):
                    return draft, live.version, None
            return draft, row.published_version, self._next(
                s, ScenarioVersionRow.version, ScenarioVersionRow.workspace == workspace,
                ScenarioVersionRow.scenario_id == scenario_id)

    def publish_content(self, workspace: str, scenario_id: str, draft: ScenarioDraft, *, note: str = "",
                        expect: int | None = None, check: bool = False,
                        as_draft: bool = False) -> Scenario:
        """Publish ``draft`` as the scenario's next version (none when it equals the live one).

        ``expect``: with ``check``, the live version it must still be; ``as_draft``: make it the draft too.

        Raises:
            NotFound: no such scenario. Conflict: the live version is no longer ``expect``.
        """
        draft = draft.checked()
        data = draft.model_dump(mode="json")
        with self._db.session() as s:
            row = self._row(s, workspace, scenario_id)
            _expect(row.published_version, expect, check, scenario_id)
            if as_draft:
                row.data, row.updated_at = data, utcnow()
            if row.published_version is not None:
                live = s.get(ScenarioVersionRow, (workspace, scenario_id, row.published_version))
                if live is not None and live.data == data:
                    return draft.published(workspace, scenario_id, live.version)
            version = self._next(s, ScenarioVersionRow.version, ScenarioVersionRow.workspace == workspace,
                                 ScenarioVersionRow.scenario_id == scenario_id)
            s.add(ScenarioVersionRow(workspace=workspace, scenario_id=scenario_id, version=version, data=data,
                                     note=note[:200], created_at=utcnow()))
            row.published_version = version
            return draft.published(workspace, scenario_id, version)

    def unpublish(self, workspace: str, scenario_id: str, *, expect: int | None = None,
                  check: bool = False) -> ScenarioRecord:
        """Take the scenario off the air (its history is kept); ``expect`` as in ``publish_content``."""
        with self._db.session() as s:
            row = self._row(s, workspace, scenario_id)
            _expect(row.published_version, expect, check, scenario_id)
            row.published_version = None
        return self.get(workspace, scenario_id)

    def delete(self, workspace: str, scenario_id: str) -> None:
        with self._db.session() as s:
            self._row(s, workspace, scenario_id)
            s.execute(delete(ScenarioVersionRow).where(ScenarioVersionRow.workspace == workspace,
                                                       ScenarioVersionRow.scenario_id == scenario_id))
            s.execute(delete(ScenarioRow).where(ScenarioRow.workspace == workspace, ScenarioRow.id == scenario_id))

    def versions(self, workspace: str, scenario_id: str) -> list[VersionRecord]:
        with self._db.session() as s:
            live = self._row(s, workspace, scenario_id).published_version
            rows = s.scalars(select(ScenarioVersionRow).where(
                ScenarioVersionRow.workspace == workspace, ScenarioVersionRow.scenario_id == scenario_id)
                .order_by(ScenarioVersionRow.version.desc()))
            return [VersionRecord(version=r.version, created_at=r.created_at, note=r.note, data=dict(r.data),
                                  live=r.version == live) for r in rows]

    def rollback(self, workspace: str, scenario_id: str, version: int) -> Scenario:
        """Publish version ``version``'s content again, as a new version; the draft becomes it too."""
        with self._db.session() as s:
            row = self._row(s, workspace, scenario_id)
            old = s.get(ScenarioVersionRow, (workspace, scenario_id, version))
            if old is None:
                raise NotFound(f"scenario {scenario_id!r} has no version {version}", id=scenario_id, version=version)
            row.data, row.updated_at = dict(old.data), utcnow()
        return self.publish(workspace, scenario_id, note=f"rollback to version {version}")

    def version(self, workspace: str, scenario_id: str, version: int) -> ScenarioDraft:
        """The content of one published version.

        Raises:
            NotFound: no such scenario or version.
        """
        with self._db.session() as s:
            self._row(s, workspace, scenario_id)
            old = s.get(ScenarioVersionRow, (workspace, scenario_id, version))
            if old is None:
                raise NotFound(f"scenario {scenario_id!r} has no version {version}", id=scenario_id, version=version)
            return ScenarioDraft.model_validate(old.data)

    def directories(self, workspace: str) -> list[dict[str, object]]:
        """Every directory (and its parents) with the number of scenarios directly in it."""
        counts: dict[str, int] = {}
        for r in self.scenarios(workspace):
            parts = r.draft.directory.split("/") if r.draft.directory else []
            for depth in range(1, len(parts)):
                counts.setdefault("/".join(parts[:depth]), 0)
            counts[r.draft.directory] = counts.get(r.draft.directory, 0) + 1
        return [{"directory": d, "scenarios": n} for d, n in sorted(counts.items())]

    # ------------------------------------------------------------------------------------------
    def _row(self, s: Session, workspace: str, scenario_id: str) -> ScenarioRow:
        row = s.get(ScenarioRow, (workspace, scenario_id))
        if row is None:
            raise NotFound(f"no scenario {scenario_id!r} in workspace {workspace!r}", id=scenario_id)
        return row

    @staticmethod
    def _latest(s: Session, workspace: str, scenario_id: str | None = None) -> dict[str, int]:
        q = select(ScenarioVersionRow.scenario_id, func.max(ScenarioVersionRow.version)).where(
            ScenarioVersionRow.workspace == workspace)
        if scenario_id is not None:
            q = q.where(ScenarioVersionRow.scenario_id == scenario_id)
        return {sid: int(v) for sid, v in s.execute(q.group_by(ScenarioVersionRow.scenario_id))}

    @staticmethod
    def _next(s: Session, column: Any, *where: Any) -> int:
        current = s.scalar(select(func.max(column)).where(*where))
        return int(current or 0) + 1

    @staticmethod
    def _record(s: Session, row: ScenarioRow, latest: int) -> ScenarioRecord:
        status = ScenarioStatus.DRAFT
        if row.published_version is not None:
            live = s.get(ScenarioVersionRow, (row.workspace, row.id, row.published_version))
            status = ScenarioStatus.PUBLISHED if live is not None and live.data == row.data else ScenarioStatus.CHANGED
        return ScenarioRecord(id=row.id, workspace=row.workspace, draft=ScenarioDraft.model_validate(row.data),
                              status=status, published_version=row.published_version, latest_version=latest,
                              updated_at=row.updated_at)


def _expect(live: int | None, expect: int | None, check: bool, scenario_id: str) -> None:
    if check and live != expect:
        raise Conflict(f"scenario {scenario_id!r} was published or unpublished since this change was held (live "
                       f"version {live}); reject it and publish again", id=scenario_id, version=live)


def _ensure_workspace(s: Session, workspace: str) -> None:
    if not workspace:
        raise InvalidInput("a workspace is required")
    insert_ignore(s, WorkspaceRow, id=workspace, name=workspace, created_at=utcnow())
