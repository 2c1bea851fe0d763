"""Responses of /v1/training: the AI profile, scenarios, their versions and the match preview."""

from __future__ import annotations

from pydantic import Field

from service.schemas.common import Public, Timestamp
from training.drafts import ProfileDraft, VersionRecord
from training.models import AIProfile, Scenario, ScenarioContent

PENDING = ("knowledge CI holds this publish under this id: the version shown goes live once the change is "
           "accepted (`knowdesk knowledge-ci show ID`); null when it is live")


class AIProfilePublic(AIProfile):
    """A published version of the AI profile."""

    pending_change: str | None = Field(default=None, description=PENDING)


class ProfilePublic(Public):
    """The editable draft, the live version number and the published profile (what the agent uses)."""

    draft: ProfileDraft
    published_version: int | None
    published: AIProfile | None
    pending_change: str | None = Field(default=None, description=PENDING)


class ScenarioDeleteHeld(Public):
    """A scenario delete that knowledge CI held: nothing is deleted until the change is accepted."""

    deleted: None = Field(default=None, description="null: the scenario stays until the change is accepted")
    pending_change: str = Field(description="the held change's id (`knowdesk knowledge-ci show ID`)")


class VersionPublic(VersionRecord):
    """One immutable published version."""


class VersionsPublic(Public):
    versions: list[VersionPublic]


class ScenarioPublic(ScenarioContent):
    """A published scenario version (what the agent applies)."""

    id: str
    workspace: str
    version: int
    pending_change: str | None = Field(default=None, description=PENDING)


class ScenarioRecordPublic(ScenarioContent):
    """A scenario as authors see it: the draft's content, its status and versions."""

    id: str
    status: str
    published_version: int | None
    latest_version: int
    updated_at: Timestamp
    pending_change: str | None = Field(default=None, description=PENDING)


class ScenarioDetailPublic(ScenarioRecordPublic):
    published: Scenario | None


class ScenariosPublic(Public):
    scenarios: list[ScenarioRecordPublic]


class DirectoryPublic(Public):
    directory: str
    scenarios: int


class DirectoriesPublic(Public):
    directories: list[DirectoryPublic]


class ScenarioMatchPublic(Public):
    """A published scenario whose trigger question matched, with the matched trigger."""

    scenario_id: str
    title: str
    trigger: str
    score: float
    dense_score: float | None
    scenario: Scenario


class ScenarioSearchPublic(Public):
    query: str
    matches: list[ScenarioMatchPublic]


class TrainingReindexPublic(Public):
    written: int
    deleted: int
