"""Responses of /v1/actions: imported specs, actions, secrets' names and the network allowlist."""

from __future__ import annotations

from pydantic import Field

from actions.models import ImportReport, Parameter, SpecInfo
from core.models import Channel
from service.schemas.common import Public


class ActionPublic(Public):
    """One action (an operation of an imported spec) with its channels, segments and confirmation flag.
    ``security``: alternatives, each a list of scheme names that apply together."""

    workspace: str
    id: str
    spec: str
    method: str
    path: str
    summary: str
    description: str
    tags: list[str]
    parameters: list[Parameter]
    body_media_type: str | None
    body_whole: bool
    dialect: str
    security: list[list[str]]
    confirm: bool
    channels: list[Channel]
    segments: list[str]
    examples: list[str]
    reply: list[str] = Field(description="x-knowdesk-reply: sentence templates for the reply.")
    server: str | None
    title: str


class ActionsPublic(Public):
    actions: list[ActionPublic]


class ImportReportPublic(ImportReport):
    """What an import did: the actions written and every operation skipped, with its reason."""


class SpecPublic(SpecInfo):
    """An imported spec: its base URL and security schemes."""


class SecretNamePublic(Public):
    spec: str
    scheme: str


class SpecsPublic(Public):
    specs: list[SpecPublic]
    secrets: list[SecretNamePublic] = Field(description="Which secrets are set; never their values.")


class SpecRemovedPublic(Public):
    removed: list[str] = Field(description="The ids of the actions removed with the spec.")


class ActionRemovedPublic(Public):
    removed: str = Field(description="The id of the action removed.")


class AllowlistPublic(Public):
    allow: list[str] = Field(description="Private IPs, networks or host names actions may reach.")
