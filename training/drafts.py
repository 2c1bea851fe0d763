"""Editable training content (drafts), version records, and the checks every input goes through."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.errors import InvalidInput
from core.models import Frozen
from training.models import AIProfile, ProfileContent, Scenario, ScenarioContent, ScenarioKind

ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$")
MAX_TRIGGERS = 25
MAX_TRIGGER = 500
MAX_TEXT = 20_000
MAX_TITLE = 200


class ScenarioStatus(StrEnum):
    DRAFT = "draft"  # never published, or unpublished
    PUBLISHED = "published"  # the draft equals the live version
    CHANGED = "changed"  # published, and the draft has unpublished edits


class ScenarioDraft(ScenarioContent):
    """What an author edits; publishing freezes it into an immutable version."""

    def checked(self) -> ScenarioDraft:
        """This draft, trimmed, or ``InvalidInput`` naming what is wrong."""
        title = self.title.strip()
        if not title:
            raise InvalidInput("the scenario's title is empty; give it a short title", field="title")
        if len(title) > MAX_TITLE:
            raise InvalidInput(f"the title has {len(title)} characters; at most {MAX_TITLE}", field="title")
        triggers = tuple(dict.fromkeys(t.strip() for t in self.triggers))
        if any(not t for t in triggers):
            raise InvalidInput("a trigger question is empty; remove it or write the question", field="triggers")
        if any(len(t) > MAX_TRIGGER for t in triggers) or len(triggers) > MAX_TRIGGERS:
            raise InvalidInput(f"at most {MAX_TRIGGERS} trigger questions of {MAX_TRIGGER} characters each",
                               field="triggers")
        if self.kind is ScenarioKind.SPECIFIC and not triggers:
            raise InvalidInput("a scenario-specific scenario needs at least one trigger question", field="triggers")
        if self.kind is ScenarioKind.BEHAVIORAL and triggers:
            raise InvalidInput("a behavioral scenario applies always and takes no trigger questions; "
                               "make it kind=specific or remove the triggers", field="triggers")
        answer = self.answer.strip()
        if not answer:
            raise InvalidInput("the answer (or instruction) is empty; say what the agent should do", field="answer")
        if len(answer) > MAX_TEXT:
            raise InvalidInput(f"the answer has {len(answer)} characters; at most {MAX_TEXT}", field="answer")
        bad = [s for s in self.segments if not SEGMENT.match(s)]
        if bad:
            raise InvalidInput(f"invalid segment {bad[0]!r}: letters, digits and _.:- only", field="segments")
        directory = "/".join(p.strip() for p in self.directory.split("/") if p.strip())
        if len(directory) > 200:
            raise InvalidInput("the directory path is longer than 200 characters", field="directory")
        return self.model_copy(update={
            "title": title, "triggers": triggers, "answer": answer, "directory": directory,
            "channels": tuple(dict.fromkeys(self.channels)), "segments": tuple(dict.fromkeys(self.segments))})

    def published(self, workspace: str, scenario_id: str, version: int) -> Scenario:
        return Scenario(id=scenario_id, workspace=workspace, version=version, **self.model_dump())


class ProfileDraft(ProfileContent):
    """The editable AI profile."""

    def checked(self) -> ProfileDraft:
        name = self.name.strip()
        if not name:
            raise InvalidInput("the profile's name is empty; give the assistant a name", field="name")
        if len(name) > MAX_TITLE:
            raise InvalidInput(f"the name has {len(name)} characters; at most {MAX_TITLE}", field="name")
        for what in ("persona", "ground_rules"):
            if len(getattr(self, what)) > MAX_TEXT:
                raise InvalidInput(f"the {what} text is longer than {MAX_TEXT} characters", field=what)
        return self.model_copy(update={"name": name, "persona": self.persona.strip(),
                                       "ground_rules": self.ground_rules.strip()})

    def published(self, workspace: str, version: int) -> AIProfile:
        return AIProfile(workspace=workspace, version=version, **self.model_dump())


class ScenarioRecord(Frozen):
    """A scenario as authors see it: the draft, its status and the live version."""

    id: str
    workspace: str
    draft: ScenarioDraft
    status: ScenarioStatus
    published_version: int | None = None
    latest_version: int = 0
    updated_at: datetime
    #: Knowledge CI holds a publish of this scenario under this id (set by the call that was held).
    pending_change: str | None = None


class VersionRecord(Frozen):
    """One immutable published version."""

    version: int
    created_at: datetime
    note: str = ""
    data: dict[str, Any]
    live: bool = False


def check_id(value: str) -> str:
    if not ID.match(value or ""):
        raise InvalidInput(f"scenario id {value!r} is invalid: 1-63 lowercase letters, digits, '-' or '_'",
                           field="id")
    return value


def slugify(title: str) -> str:
    """An id from a title: ``"Where is my order?"`` -> ``"where-is-my-order"``."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:63].strip("-")
    return slug or "scenario"
