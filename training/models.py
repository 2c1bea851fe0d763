"""Training value objects and the read contract the answering agent consumes.

Issue 7 (authoring: drafts, versions, publishing, indexing) writes them; the answering agent
reads only published versions through ``TrainingReader``. Scenario-specific scenarios are also
indexed (kind=scenario, one point per trigger question, payload ``meta.scenario_id``,
``meta.channels``, ``meta.segments``) so a paraphrase of the trigger retrieves them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import Field

from core.models import Channel, Frozen


class ScenarioKind(StrEnum):
    BEHAVIORAL = "behavioral"  # always applied, e.g. "never promise delivery dates"
    SPECIFIC = "specific"  # applied when a customer's question matches the trigger


class ScenarioContent(Frozen):
    """What a scenario says, shared by the editable draft and the published version.

    ``triggers``: the trigger question and its variants (specific scenarios only).
    ``answer``: the reply to give, or an instruction for how to answer (``is_instruction``).
    ``channels``/``segments``: restrictions; empty means every channel / every contact.
    ``threshold``: minimum match similarity for a specific scenario (None: the agent's default).
    """

    kind: ScenarioKind
    title: str
    triggers: tuple[str, ...] = ()
    answer: str = ""
    is_instruction: bool = False
    channels: tuple[Channel, ...] = ()
    segments: tuple[str, ...] = ()
    directory: str = ""
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class Scenario(ScenarioContent):
    """One published training scenario."""

    id: str
    workspace: str
    version: int = Field(default=1, ge=1)

    def applies_to(self, channel: Channel | str, segments: tuple[str, ...] | list[str] = ()) -> bool:
        if self.channels and Channel(channel) not in self.channels:
            return False
        return not self.segments or bool(set(self.segments) & set(segments))


class ProfileContent(Frozen):
    """The persona and ground rules, shared by the editable draft and the published version."""

    name: str = "Assistant"
    persona: str = ""
    ground_rules: str = ""


class AIProfile(ProfileContent):
    """The published persona and ground rules of a workspace's agent."""

    workspace: str
    version: int = Field(default=1, ge=1)


class TrainingReader(Protocol):
    """What the agent reads: published content only."""

    def behavioral(self, workspace: str, *, channel: Channel | str, segments: tuple[str, ...] = ()) -> list[Scenario]:
        """Published behavioral scenarios that apply to this channel and these segments."""
        ...

    def scenario(self, workspace: str, scenario_id: str) -> Scenario | None:
        """The published version of one scenario, or None."""
        ...

    def profile(self, workspace: str) -> AIProfile | None:
        """The published AI profile, or None when none was published."""
        ...
