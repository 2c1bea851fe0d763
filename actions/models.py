"""Value objects of actions: an imported operation, its parameters, auth schemes, import reports."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from core.models import Channel, Frozen

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class Location(StrEnum):
    """Where a parameter goes in the request."""

    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    BODY = "body"  # one JSON body property (or the whole body when ``name`` is ``body``)
    FORM = "form"


class Parameter(Frozen):
    """One input of an action, with its JSON Schema (local ``$ref`` kept; see ``ActionDef.defs``).

    ``source`` names a contact attribute it comes from (``x-knowdesk-contact``: email, phone,
    external_id, name) when the spec says so.
    """

    name: str
    location: Location
    required: bool = False
    description: str = ""
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    source: str | None = None

    model_config = Frozen.model_config | {"populate_by_name": True}


class SchemeKind(StrEnum):
    API_KEY = "apiKey"
    BEARER = "bearer"
    BASIC = "basic"
    OAUTH2 = "oauth2"


class AuthScheme(Frozen):
    """A security scheme of the spec: where its secret goes (the secret itself is stored apart)."""

    name: str
    kind: SchemeKind
    location: str | None = None  # apiKey: header | query | cookie
    param: str | None = None  # apiKey: the header or query parameter name
    token_url: str | None = None  # oauth2 client credentials
    scopes: tuple[str, ...] = ()


class ActionDef(Frozen):
    """One operation of an imported spec, as the registry keeps it.

    ``id`` is the operationId (or ``method_path`` when missing), unique per workspace.
    ``defs`` holds the spec's fragments that parameter schemas reference (``#/components/...``
    or ``#/definitions/...``), so each action validates on its own, circular references included.
    ``security``: alternatives, each a list of scheme names that apply together.
    """

    workspace: str
    id: str = Field(min_length=1, max_length=200)
    spec: str
    method: str
    path: str
    summary: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    body_media_type: str | None = None
    body_whole: bool = False
    defs: dict[str, Any] = Field(default_factory=dict)
    dialect: str = "3.1"
    security: tuple[tuple[str, ...], ...] = ()
    confirm: bool = False
    channels: tuple[Channel, ...] = ()
    segments: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    server: str | None = None
    #: ``x-knowdesk-reply``: sentence templates for the reply (actions/templates.py)
    reply: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.summary or humanize(self.id)

    @property
    def safe(self) -> bool:
        return self.method in SAFE_METHODS

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def public(self) -> dict[str, Any]:
        """The action as the API and CLI show it (no ``defs``)."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"defs"})
        data["title"] = self.title
        return data


class Skipped(Frozen):
    """An operation that was not imported, and why."""

    operation: str
    method: str | None = None
    path: str | None = None
    reason: str


class ImportReport(Frozen):
    """What an import did: the actions written and every operation skipped, with its reason."""

    spec: str
    version: str
    title: str = ""
    imported: list[str] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    seconds: float = 0.0


class SpecInfo(Frozen):
    """An imported spec: its base URL and auth schemes."""

    workspace: str
    name: str
    title: str = ""
    version: str
    base_url: str | None = None
    schemes: tuple[AuthScheme, ...] = ()


def humanize(identifier: str) -> str:
    """``getOrderById`` / ``get_order-by_id`` -> ``get order by id``."""
    import re

    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", identifier)
    return " ".join(re.sub(r"[^A-Za-z0-9]+", " ", spaced).lower().split())
