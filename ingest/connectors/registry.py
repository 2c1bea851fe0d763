"""Lazy registry: source kind -> "module:Class", so importing ingest imports no SaaS SDK."""

from __future__ import annotations

import importlib
from typing import Any, cast

from pydantic import ValidationError

from core.errors import ConfigError
from core.models import Source, SourceKind
from ingest.connectors.base import Connector, ConnectorContext

CONNECTORS: dict[SourceKind, str] = {
    SourceKind.FOLDER: "ingest.connectors.folder.connector:FolderConnector",
    SourceKind.HELPCENTER_EXPORT: "ingest.connectors.helpcenter.connector:HelpCenterExportConnector",
    SourceKind.WEBSITE: "ingest.connectors.website.connector:WebsiteConnector",
    SourceKind.ZENDESK: "ingest.connectors.zendesk.connector:ZendeskConnector",
    SourceKind.CONFLUENCE: "ingest.connectors.confluence.connector:ConfluenceConnector",
    SourceKind.NOTION: "ingest.connectors.notion.connector:NotionConnector",
    SourceKind.GDRIVE: "ingest.connectors.gdrive.connector:GDriveConnector",
    SourceKind.DROPBOX: "ingest.connectors.dropbox.connector:DropboxConnector",
}


def connector_class(kind: SourceKind | str) -> type[Any]:
    """The connector class of ``kind``; ``ConfigError`` naming the known kinds otherwise."""
    try:
        target = CONNECTORS[SourceKind(kind)]
    except (ValueError, KeyError):
        known = ", ".join(sorted(k.value for k in CONNECTORS))
        raise ConfigError(f"unknown source kind {kind!r}; known kinds: {known}") from None
    module, _, name = target.partition(":")
    return cast(type[Any], getattr(importlib.import_module(module), name))


def validate_options(kind: SourceKind | str, options: dict[str, Any]) -> dict[str, Any]:
    """Options checked against the connector's ``Options`` model, normalized for storage."""
    cls = connector_class(kind)
    try:
        parsed = cls.Options(**options)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        allowed = ", ".join(cls.Options.model_fields)
        raise ConfigError(
            f"invalid options for a {SourceKind(kind).value} source: {problems} (options: {allowed})"
        ) from None
    return cast(dict[str, Any], parsed.model_dump(mode="json", exclude_defaults=True))


def build_connector(source: Source, context: ConnectorContext | None = None) -> Connector:
    """A connector for ``source``, its options validated."""
    cls = connector_class(source.kind)
    validate_options(source.kind, source.options)
    return cast(
        Connector, cls(source=source, options=cls.Options(**source.options), context=context or ConnectorContext())
    )


def _problem(error: Any) -> str:
    name = ".".join(str(p) for p in error["loc"]) or "options"
    if error["type"] == "extra_forbidden":
        return f"unknown option {name!r}"
    if error["type"] == "missing":
        return f"missing required option {name!r}"
    return f"{name}: {error['msg']}"
